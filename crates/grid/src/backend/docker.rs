//! The docker backend: each shard is a container of the runner image, run
//! as the ECS task definition runs it (read-only root filesystem, `/tmp`
//! scratch, uid 10001, the nofile limit, no capabilities, the stop timeout)
//! with the task size's CPU and memory as limits. It is the Fargate task on
//! this machine: to size tasks and to try an image before paying for AWS.
//!
//! Containers use the host's network, so they reach what the machine's own
//! processes reach on loopback (the built-in target, a local store, moto).
//! Everything else is the local backend's: the containers are started by
//! `docker run` child processes, whose exit code is the container's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use loadgrid_plan::Manifest;

/// How the runner image is run. The task definition's settings come from
/// `loadgrid-infra`, so that the two cannot drift.
#[derive(Debug, Clone)]
pub struct Containers {
    pub image: String,
    /// CPU units (1024 = 1 vCPU) and MiB, as a Fargate task size.
    pub cpu: u32,
    pub memory: u32,
    /// `--user`: the task definition's user, or (for a store that is a
    /// directory here) the caller's, so that what the agents write is theirs.
    pub user: String,
    /// The writable scratch directory (a tmpfs, like a task's ephemeral
    /// storage) and the only writable path besides a local store.
    pub scratch: String,
    pub nofile: u32,
    /// Seconds between `docker stop`'s SIGTERM and its SIGKILL, as ECS's
    /// container stop timeout.
    pub stop_timeout: u32,
}

impl Containers {
    /// The name of a run's shard container: `docker ps` shows which run it is.
    pub fn name(run_id: &str, shard: u32) -> String {
        format!("loadgrid-{run_id}-{shard}")
    }

    /// `docker run` for one shard. The agent's arguments follow the image,
    /// whose entrypoint is `tini -- loadgrid agent`.
    pub fn run_command(
        &self,
        manifest: &Manifest,
        shard: u32,
        k6_port: u16,
        store_url: &str,
        local_store: Option<&Path>,
    ) -> Command {
        let mut command = Command::new("docker");
        command
            .args(["run", "--rm", "--name", &Containers::name(&manifest.run_id, shard)])
            .args(["--network", "host", "--read-only"])
            .args(["--tmpfs", &format!("{}:rw,exec,mode=1777", self.scratch)])
            .args(["--user", &self.user, "--cap-drop", "ALL", "--security-opt", "no-new-privileges"])
            .args(["--ulimit", &format!("nofile={0}:{0}", nofile_here(self.nofile))])
            .args(["--cpus", &format!("{}", f64::from(self.cpu) / 1024.0)])
            .args(["--memory", &format!("{}m", self.memory), "--memory-swap", &format!("{}m", self.memory)])
            .args(["--stop-timeout", &self.stop_timeout.to_string()])
            .args(["--label", &format!("loadgrid.run={}", manifest.run_id)])
            .args(["--label", &format!("loadgrid.shard={shard}")]);
        if let Some(root) = local_store {
            command.arg("--volume").arg(format!("{0}:{0}", root.display()));
        }
        // Named only: docker copies the values from this process's
        // environment, so no secret is on a command line.
        for name in FORWARDED_ENV.iter().filter(|name| std::env::var_os(name).is_some()) {
            command.args(["--env", name]);
        }
        command
            .arg(&self.image)
            .args(["--store", store_url, "--run-id", &manifest.run_id, "--shard", &shard.to_string()])
            .args(["--k6-address", &format!("127.0.0.1:{k6_port}")])
            .arg("--work-dir")
            .arg(PathBuf::from(&self.scratch).join(format!("shard-{shard}")));
        command
    }

    /// Checks that an engine answers and holds the image, before anything
    /// is stored.
    pub fn validate(&self) -> Result<(), String> {
        check_engine("the docker backend")?;
        let image = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", &self.image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match image {
            Ok(status) if status.success() => Ok(()),
            _ => Err(format!(
                "the docker backend runs the image `{}`, which this Docker engine does not have. Next step: \
                 `loadgrid image build --tag {}`, or `docker pull {}`, or name another with `[docker] image`",
                self.image, self.image, self.image
            )),
        }
    }

    /// `docker stop` of the given containers, without waiting: SIGTERM,
    /// then SIGKILL after the stop timeout, as ECS stops a task.
    pub fn stop(names: &[String]) {
        docker_on("stop", names, false);
    }

    /// `docker kill` of the given containers (killing `docker run` would
    /// leave its container running).
    pub fn kill(names: &[String]) {
        docker_on("kill", names, true);
    }
}

/// Checks that the docker CLI runs and that an engine answers it: the CLI
/// alone can neither build nor run. `needs` names what needs it.
pub fn check_engine(needs: &str) -> Result<(), String> {
    match Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "{needs} needs a Docker engine, and none answers ({}). Next step: start Docker, or set DOCKER_HOST",
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("no answer").trim()
        )),
        Err(error) => {
            Err(format!("{needs} runs the docker CLI, which cannot start ({error}). Next step: install Docker"))
        }
    }
}

/// `docker <verb> <names>`, quietly; waits for it only when asked.
fn docker_on(verb: &str, names: &[String], wait: bool) {
    if names.is_empty() {
        return;
    }
    let mut command = Command::new("docker");
    command.arg(verb).args(names).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let _ = if wait { command.status().map(drop) } else { command.spawn().map(drop) };
}

/// The task's open-file limit, or this machine's if lower: a container
/// cannot be given more than the engine has (docker run fails with
/// "error setting rlimit").
fn nofile_here(wanted: u32) -> u64 {
    use nix::sys::resource::{getrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) => u64::from(wanted).min(hard),
        Err(_) => u64::from(wanted),
    }
}

/// What the agent in a container needs of this process's environment: AWS
/// credentials, region and endpoints (an S3 store, Secrets Manager).
const FORWARDED_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_EC2_METADATA_DISABLED",
];
