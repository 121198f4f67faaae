//! `loadgrid`: the command-line front end. Thin on purpose: flags and
//! configuration are resolved here, the work happens in the library crates
//! named after each step of a run (plan, k6, store, agent, grid, metrics,
//! thresholds, report).

mod cli;
mod commands;
mod files;
mod output;
mod settings;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Agent(args) => commands::agent::run(args, cli.global),
        Command::Target(args) => commands::target::run(args),
        Command::Completions { shell } => commands::completions(shell),
        command => runtime().block_on(commands::dispatch(command, cli.global)),
    };
    let code = code.unwrap_or_else(|error| output::report_error(&error));
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("the async runtime starts")
}
