//! One module per subcommand.

pub mod agent;
pub mod attach;
pub mod cost;
pub mod dashboard;
pub mod demo;
pub mod history;
pub mod image;
pub mod infra;
pub mod logs;
pub mod ps;
pub mod publish;
pub mod report;
pub mod results;
pub mod run;
pub mod runs;
pub mod target;

use clap::CommandFactory;
use tokio::sync::watch;

use std::io::IsTerminal;

use loadgrid_aws::ecs::{Approval, EcsBackend, LaunchGuard};
use loadgrid_grid::backend::docker::Containers;
use loadgrid_grid::backend::local::LocalBackend;
use loadgrid_grid::input_error;
use loadgrid_store::Store;

use crate::cli::{Cli, Command, EcsArgs, GlobalArgs, RunArgs};
use crate::settings::Settings;

pub async fn dispatch(command: Command, global: GlobalArgs) -> anyhow::Result<i32> {
    let settings = Settings::load(global)?;
    let outcome = run_command(command, &settings).await;
    settings.remove_unused_stores();
    outcome
}

async fn run_command(command: Command, settings: &Settings) -> anyhow::Result<i32> {
    match command {
        Command::Run(args) => run::run(settings, &args).await,
        Command::Demo(args) => demo::run(settings, &args).await,
        Command::Runs(args) => runs::run(settings, &args).await,
        Command::Results(args) => results::run(settings, &args).await,
        Command::Report(args) => report::run(settings, &args).await,
        Command::History(args) => history::list(settings, &args).await,
        Command::Cost(args) => cost::monthly(settings, &args),
        Command::Plan(args) => cost::plan(settings, &args).await,
        Command::Compare(args) => history::compare(settings, &args).await,
        Command::Attach(args) => attach::run(settings, &args).await,
        Command::Dashboard(args) => dashboard::run(settings, &args).await,
        Command::Ps(args) => ps::run(settings, &args).await,
        Command::Stop(args) => ps::stop(settings, &args).await,
        Command::Logs(args) => logs::run(settings, &args).await,
        Command::Image(command) => image::run(settings, command).await,
        Command::Infra(command) => infra::run(settings, command).await,
        Command::Agent(_) | Command::Target(_) | Command::Completions { .. } => {
            unreachable!("handled before the runtime starts")
        }
    }
}

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "loadgrid", &mut script);
    crate::output::write_out(format_args!("{}", String::from_utf8_lossy(&script)))?;
    Ok(0)
}

/// Counts SIGINT and SIGTERM (what a cancelled CI job sends).
pub fn signal_counter() -> anyhow::Result<watch::Receiver<u32>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (sender, receiver) = watch::channel(0u32);
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            sender.send_modify(|count| *count += 1);
        }
    });
    Ok(receiver)
}

/// The docker backend: the local backend's agents in containers of the
/// runner image, run as the task definition runs them, with the task size
/// (`--cpu`/`--memory`, else `[ecs]`, else `[infra]`, else 1 vCPU and 2 GiB)
/// as limits.
pub fn docker_backend(
    settings: &Settings,
    args: &RunArgs,
    k6: &loadgrid_k6::K6,
    store: &Store,
) -> anyhow::Result<LocalBackend> {
    use loadgrid_infra::runner;
    let config = &settings.config;
    use loadgrid_infra::spec::{DEFAULT_TASK_CPU, DEFAULT_TASK_MEMORY};
    let cpu = args.cpu.or(config.ecs.cpu).or(config.infra.task_cpu).unwrap_or(DEFAULT_TASK_CPU);
    let memory = args.memory.or(config.ecs.memory).or(config.infra.task_memory).unwrap_or(DEFAULT_TASK_MEMORY);
    loadgrid_plan::fargate::check_task_size(cpu, memory)
        .map_err(|e| input_error(format!("the docker backend sizes containers as Fargate tasks: {e}")))?;
    let image = args
        .image
        .clone()
        .or_else(|| config.docker.image.clone())
        .unwrap_or_else(|| format!("{}:{}", image::LOCAL_REPOSITORY, env!("CARGO_PKG_VERSION")));
    // What the agents write into a store on this machine belongs to the
    // store's owner; elsewhere they are the task definition's unprivileged user.
    let user = match store.local_root() {
        Some(root) => {
            use std::os::unix::fs::MetadataExt;
            let owner = std::fs::metadata(root)
                .map_err(|e| input_error(format!("cannot read the store `{}`: {e}", root.display())))?;
            format!("{}:{}", owner.uid(), owner.gid())
        }
        None => format!("{0}:{0}", runner::USER),
    };
    let mut backend = loadgrid_grid::orchestrate::local_backend(std::env::current_exe()?, k6, store);
    backend.containers = Some(Containers {
        image,
        cpu,
        memory,
        user,
        scratch: runner::SCRATCH.to_owned(),
        nofile: runner::NOFILE,
        stop_timeout: runner::STOP_TIMEOUT_SECONDS,
    });
    Ok(backend)
}

/// The ECS backend from flags, config and stack outputs, with checked credentials.
pub async fn ecs_backend(
    settings: &Settings,
    flags: &EcsArgs,
    run: Option<&RunArgs>,
    store: &Store,
) -> anyhow::Result<EcsBackend> {
    let aws = settings.aws().await?;
    let ecs = settings.ecs_settings(&aws, flags, run).await?;
    let approval = if run.is_some_and(|run| run.yes) {
        Approval::Given
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Approval::Ask(Box::new(|question: &str| {
            eprint!("{question} [y/N] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
        }))
    } else {
        Approval::Unavailable
    };
    let guard = LaunchGuard {
        max_tasks: settings.config.ecs.max_tasks.unwrap_or(loadgrid_aws::ecs::DEFAULT_MAX_TASKS),
        approval,
        prices: settings.prices()?,
    };
    Ok(EcsBackend::new(aws, ecs, store.url().to_owned(), guard))
}
