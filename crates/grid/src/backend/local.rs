//! The local backend: shards are `loadgrid agent` child processes, or
//! containers of the runner image ([`super::docker`]).
//!
//! Each agent gets its own k6 REST port and a log file. Agents run in their
//! own process group, so a Ctrl-C in the terminal reaches only the
//! orchestrator, which stops them in order: agents save what they measured
//! instead of dying mid-write.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::Context;
use loadgrid_plan::Manifest;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::docker::Containers;
use super::LaunchedShards;

#[derive(Clone)]
pub struct LocalBackend {
    /// The `loadgrid` binary to run agents with.
    pub exe: PathBuf,
    pub k6: PathBuf,
    pub store_url: String,
    /// Where agent logs go: `<dir>/shard-<i>.log`.
    pub log_dir: PathBuf,
    /// Agents work in `<work_dir>/<run-id>/shard-<i>`, removed after the run.
    pub work_dir: PathBuf,
    /// Run each agent in a container of the runner image instead.
    pub containers: Option<Containers>,
    /// The store's directory, when it is one on this machine (containers
    /// get it mounted).
    pub local_store: Option<PathBuf>,
}

pub struct LocalShards {
    children: Vec<(u32, Child)>,
    /// The shards' containers, for the docker backend.
    container_names: Vec<String>,
    /// Shards whose agent has exited, and how.
    ended: BTreeMap<u32, ExitStatus>,
    run_work_dir: PathBuf,
    log_dir: PathBuf,
}

impl LocalBackend {
    pub fn launch(&self, manifest: &Manifest) -> anyhow::Result<LocalShards> {
        std::fs::create_dir_all(&self.log_dir)
            .with_context(|| format!("cannot create log directory `{}`", self.log_dir.display()))?;
        let ports = free_ports(manifest.shards as usize)?;
        let run_work_dir = self.work_dir.join(&manifest.run_id);
        let container_names = match &self.containers {
            Some(_) => (0..manifest.shards).map(|shard| Containers::name(&manifest.run_id, shard)).collect(),
            None => Vec::new(),
        };
        let mut shards = LocalShards {
            children: Vec::new(),
            container_names,
            ended: BTreeMap::new(),
            run_work_dir,
            log_dir: self.log_dir.clone(),
        };
        for (shard, port) in (0..manifest.shards).zip(ports) {
            match self.spawn_agent(manifest, shard, port, &shards.run_work_dir) {
                Ok(child) => shards.children.push((shard, child)),
                Err(error) => {
                    shards.kill_now();
                    return Err(error);
                }
            }
        }
        Ok(shards)
    }

    fn spawn_agent(&self, manifest: &Manifest, shard: u32, port: u16, work_dir: &Path) -> anyhow::Result<Child> {
        let log_path = self.log_dir.join(format!("shard-{shard}.log"));
        let log = File::create(&log_path).with_context(|| format!("cannot create `{}`", log_path.display()))?;
        let mut command = match &self.containers {
            Some(containers) => {
                containers.run_command(manifest, shard, port, &self.store_url, self.local_store.as_deref())
            }
            None => {
                let mut command = Command::new(&self.exe);
                command
                    .arg("agent")
                    .args(["--store", &self.store_url, "--run-id", &manifest.run_id, "--shard", &shard.to_string()])
                    .arg("--k6")
                    .arg(&self.k6)
                    .args(["--k6-address", &format!("127.0.0.1:{port}")])
                    .arg("--work-dir")
                    .arg(work_dir.join(format!("shard-{shard}")));
                command
            }
        };
        command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).env("NO_COLOR", "1").process_group(0);
        let program = command.get_program().to_string_lossy().into_owned();
        command.spawn().with_context(|| format!("cannot start agent with `{program}`"))
    }
}

/// `count` distinct free loopback ports for the shards' k6 REST APIs.
///
/// They come from below the kernel's ephemeral range: a port the kernel
/// hands out (`bind` to port 0) may be taken again as the source port of
/// an outgoing connection (this run's own requests, or another run's)
/// before k6 listens on it, and k6 then fails to start. Every chosen port
/// is held until all are chosen, so none is handed out twice.
pub fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let (low, _) = ephemeral_range();
    let below = PORTS_BELOW_EPHEMERAL.start..low.min(PORTS_BELOW_EPHEMERAL.end);
    let mut listeners: Vec<TcpListener> = Vec::with_capacity(count);
    let mut tries = 0;
    while listeners.len() < count && tries < count * 50 && !below.is_empty() {
        tries += 1;
        let port = rand::random_range(below.clone());
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(listener);
        }
    }
    while listeners.len() < count {
        // A machine whose ephemeral range leaves nothing below it.
        listeners.push(TcpListener::bind("127.0.0.1:0").context("no free local port")?);
    }
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// Where the shards' ports are looked for when the ephemeral range allows.
const PORTS_BELOW_EPHEMERAL: std::ops::Range<u16> = 20_000..32_768;

/// The kernel's ephemeral port range (Linux's default when unreadable).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

impl LocalShards {
    fn signal_all(&mut self, signal: Signal) {
        if !self.container_names.is_empty() {
            // `docker stop` is what ECS does: SIGTERM, SIGKILL after the stop timeout.
            Containers::stop(&self.running_containers());
            return;
        }
        for (_, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = kill(Pid::from_raw(child.id() as i32), signal);
            }
        }
    }

    fn kill_now(&mut self) {
        Containers::kill(&self.running_containers());
        for (_, child) in &mut self.children {
            let _ = child.kill();
        }
        self.wait_all();
    }

    fn running_containers(&mut self) -> Vec<String> {
        let names = &self.container_names;
        self.children
            .iter_mut()
            .filter_map(|(shard, child)| match child.try_wait() {
                Ok(None) => names.get(*shard as usize).cloned(),
                _ => None,
            })
            .collect()
    }

    /// Where an agent keeps what it could not store (see `loadgrid agent`).
    fn kept_dir(&self, shard: u32) -> PathBuf {
        self.run_work_dir.join(format!("shard-{shard}")).join("kept")
    }

    fn wait_all(&mut self) {
        for (shard, child) in &mut self.children {
            if let Ok(status) = child.wait() {
                self.ended.entry(*shard).or_insert(status);
            }
        }
    }
}

#[async_trait::async_trait]
impl LaunchedShards for LocalShards {
    async fn poll(&mut self) {
        for (shard, child) in &mut self.children {
            if self.ended.contains_key(shard) {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                self.ended.insert(*shard, status);
            }
        }
    }

    fn ended(&self) -> Vec<u32> {
        self.ended.keys().copied().collect()
    }

    fn end_notes(&self) -> BTreeMap<u32, String> {
        self.ended
            .iter()
            .filter(|(_, status)| !status.success())
            .map(|(shard, status)| {
                let how = match (status.code(), status.signal(), self.container_names.is_empty()) {
                    (Some(DOCKER_RUN_FAILED), _, false) => {
                        let log = std::fs::read_to_string(self.log_dir.join(format!("shard-{shard}.log")));
                        let why = log.ok().and_then(|log| {
                            log.lines()
                                .find(|l| l.starts_with("docker:"))
                                .map(|l| l.trim_start_matches("docker: ").to_owned())
                        });
                        format!(
                            "its container did not start ({})",
                            why.as_deref().unwrap_or("docker run exited with 125")
                        )
                    }
                    (Some(137), _, false) => "its container was killed (SIGKILL: out of its memory limit, or still \
                                              running at the end of `docker stop`'s timeout)"
                        .to_owned(),
                    (Some(code), _, false) => format!("its container exited with code {code}"),
                    (Some(code), _, true) => format!("its agent exited with code {code}"),
                    (None, Some(signal), _) => format!("its agent was killed by {}", signal_name(signal)),
                    (None, None, _) => "its agent ended abnormally".to_owned(),
                };
                let kept = self.kept_dir(*shard);
                match kept.exists() {
                    true => (*shard, format!("{how}; what it measured is kept in `{}`", kept.display())),
                    false => (*shard, how),
                }
            })
            .collect()
    }

    async fn terminate(&mut self) {
        self.signal_all(Signal::SIGTERM);
    }

    async fn kill(&mut self) {
        self.kill_now();
    }

    async fn finish(&mut self) {
        self.wait_all();
        // Results an agent could not store stay until someone copies them in.
        if (0..self.children.len() as u32).any(|shard| self.kept_dir(shard).exists()) {
            for shard in 0..self.children.len() as u32 {
                if !self.kept_dir(shard).exists() {
                    let _ = std::fs::remove_dir_all(self.run_work_dir.join(format!("shard-{shard}")));
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(&self.run_work_dir);
        }
    }
}

impl Drop for LocalShards {
    /// An orchestrator that unwinds never leaves agents behind.
    fn drop(&mut self) {
        if self.children.iter_mut().any(|(_, c)| matches!(c.try_wait(), Ok(None))) {
            self.kill_now();
        }
    }
}

/// `docker run`'s own exit code when the container could not be created
/// or started.
const DOCKER_RUN_FAILED: i32 = 125;

/// The most shards the local backend starts: each is a k6 process and an
/// agent on this machine.
pub const MAX_LOCAL_SHARDS: u32 = 256;

/// `SIGKILL`, or `signal 99` for one without a name.
fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(known) => known.as_str().to_owned(),
        Err(_) => format!("signal {signal}"),
    }
}

/// The per-run directory for local agent logs: next to the run in a local
/// store, else in the system's temporary directory.
pub fn log_dir(store_root: Option<&Path>, run_id: &str) -> PathBuf {
    match store_root {
        Some(root) => root.join("runs").join(run_id).join("logs"),
        None => std::env::temp_dir().join(format!("loadgrid-{run_id}")).join("logs"),
    }
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn shard_ports_are_distinct_and_never_ones_an_outgoing_connection_could_take() {
        let ports = free_ports(64).unwrap();
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), 64);
        let (low, _) = ephemeral_range();
        assert!(ports.iter().all(|port| *port < low), "below the ephemeral range ({low}): {ports:?}");
    }
}
