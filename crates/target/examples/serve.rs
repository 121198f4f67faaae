//! Runs the target server standalone (used by `bench/target-throughput.sh`).
//!
//! ```text
//! cargo run --release -p loadgrid-target --example serve -- --listen 127.0.0.1:8080 --threads 0
//! ```
//!
//! `--threads 0` (the default) uses a current-thread runtime. Prints
//! `listening on ADDR` once bound, then serves until ctrl-c / SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut threads = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--listen" | "--threads" => args.next(),
            "-h" | "--help" => {
                println!("usage: serve [--listen ADDR] [--threads N]");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("serve: unknown argument {other:?} (try --help)");
                return ExitCode::from(2);
            }
        };
        let Some(value) = value else {
            eprintln!("serve: {arg} needs a value");
            return ExitCode::from(2);
        };
        let ok = if arg == "--listen" {
            value.parse().map(|v| listen = v).is_ok()
        } else {
            value.parse().map(|v| threads = v).is_ok()
        };
        if !ok {
            eprintln!("serve: invalid value {value:?} for {arg}");
            return ExitCode::from(2);
        }
    }
    let config = loadgrid_target::TargetConfig { listen, threads };
    let result = loadgrid_target::serve_blocking(config, |addr| {
        println!("listening on {addr}");
        let _ = std::io::stdout().flush();
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::FAILURE
        }
    }
}
