//! The local backend: shards are `loadgrid agent` child processes.
//!
//! Each agent gets its own k6 REST port and a log file. Agents run in their
//! own process group, so a Ctrl-C in the terminal reaches only the
//! orchestrator, which stops them in order: agents save what they measured
//! instead of dying mid-write.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use loadgrid_plan::Manifest;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

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
}

pub struct LocalShards {
    children: Vec<(u32, Child)>,
    ended: Vec<u32>,
    run_work_dir: PathBuf,
}

impl LocalBackend {
    pub fn launch(&self, manifest: &Manifest) -> anyhow::Result<LocalShards> {
        std::fs::create_dir_all(&self.log_dir)
            .with_context(|| format!("cannot create log directory `{}`", self.log_dir.display()))?;
        let ports = free_ports(manifest.shards as usize)?;
        let run_work_dir = self.work_dir.join(&manifest.run_id);
        let mut children = Vec::new();
        for (shard, port) in (0..manifest.shards).zip(ports) {
            let child = self.spawn_agent(manifest, shard, port, &run_work_dir);
            match child {
                Ok(child) => children.push((shard, child)),
                Err(error) => {
                    let mut started = LocalShards { children, ended: Vec::new(), run_work_dir };
                    started.kill_now();
                    return Err(error);
                }
            }
        }
        Ok(LocalShards { children, ended: Vec::new(), run_work_dir })
    }

    fn spawn_agent(&self, manifest: &Manifest, shard: u32, port: u16, work_dir: &Path) -> anyhow::Result<Child> {
        let log_path = self.log_dir.join(format!("shard-{shard}.log"));
        let log = File::create(&log_path).with_context(|| format!("cannot create `{}`", log_path.display()))?;
        let mut command = Command::new(&self.exe);
        command
            .arg("agent")
            .args(["--store", &self.store_url, "--run-id", &manifest.run_id, "--shard", &shard.to_string()])
            .arg("--k6")
            .arg(&self.k6)
            .args(["--k6-address", &format!("127.0.0.1:{port}")])
            .arg("--work-dir")
            .arg(work_dir.join(format!("shard-{shard}")))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .env("NO_COLOR", "1")
            .process_group(0);
        command.spawn().with_context(|| format!("cannot start agent `{} agent`", self.exe.display()))
    }
}

/// Asks the kernel for `count` distinct free loopback ports.
fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    // Hold every listener until all are chosen, so no port is handed out twice.
    let listeners: Vec<TcpListener> =
        (0..count).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>().context("no free local port")?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

impl LocalShards {
    fn signal_all(&mut self, signal: Signal) {
        for (_, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = kill(Pid::from_raw(child.id() as i32), signal);
            }
        }
    }

    fn kill_now(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
        }
        self.wait_all();
    }

    pub fn wait_all(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.wait();
        }
    }
}

#[async_trait::async_trait]
impl LaunchedShards for LocalShards {
    async fn poll(&mut self) {
        for (shard, child) in &mut self.children {
            if !self.ended.contains(shard) && matches!(child.try_wait(), Ok(Some(_))) {
                self.ended.push(*shard);
            }
        }
    }

    fn ended(&self) -> Vec<u32> {
        self.ended.clone()
    }

    async fn terminate(&mut self) {
        self.signal_all(Signal::SIGTERM);
    }

    async fn kill(&mut self) {
        self.kill_now();
    }

    async fn finish(&mut self) {
        self.wait_all();
        let _ = std::fs::remove_dir_all(&self.run_work_dir);
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

/// The per-run directory for local agent logs: next to the run in a local
/// The most shards the local backend starts: each is a k6 process and an
/// agent on this machine.
pub const MAX_LOCAL_SHARDS: u32 = 256;

/// store, else in the system's temporary directory.
pub fn log_dir(store_root: Option<&Path>, run_id: &str) -> PathBuf {
    match store_root {
        Some(root) => root.join("runs").join(run_id).join("logs"),
        None => std::env::temp_dir().join(format!("loadgrid-{run_id}")).join("logs"),
    }
}
