//! The integration-test harness: the real `loadgrid` binary, real k6 and
//! the built-in target on loopback, in a scratch directory per test.
//!
//! ```ignore
//! let grid = Grid::new();
//! let script = grid.script("t.js", "...");
//! let outcome = grid.run(&["run", script_str, "--shards", "4", "--json"]);
//! outcome.exit(0);
//! ```

#![allow(dead_code)]

pub mod aws;
pub mod browser;
pub mod docker;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub struct Grid {
    pub dir: tempfile::TempDir,
    pub target_url: String,
    target: Option<loadgrid_target::RunningTarget>,
    runtime: tokio::runtime::Runtime,
}

/// The k6 binary: `LOADGRID_K6`, else the one `scripts/test` installs.
pub fn k6_path() -> PathBuf {
    if let Some(path) = std::env::var_os("LOADGRID_K6").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/k6");
    assert!(local.is_file(), "k6 not found: run `scripts/test` (it installs k6 into .venv) or set LOADGRID_K6");
    local
}

impl Grid {
    pub fn new() -> Grid {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let target = runtime.block_on(loadgrid_target::start("127.0.0.1:0".parse().unwrap())).unwrap();
        let target_url = format!("http://{}", target.local_addr());
        Grid { dir: tempfile::tempdir().unwrap(), target_url, target: Some(target), runtime }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn script(&self, name: &str, body: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, body).unwrap();
        path.display().to_string()
    }

    pub fn store(&self) -> PathBuf {
        self.path(".loadgrid")
    }

    /// `loadgrid` in the scratch directory, with k6 found through LOADGRID_K6
    /// and the target's URL in BASE_URL for scripts that read it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_loadgrid"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("LOADGRID_K6", k6_path())
            .env("NO_COLOR", "1")
            .env_remove("LOADGRID_STORE")
            .env_remove("LOADGRID_CONFIG")
            .env_remove("LOADGRID_SHARDS")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        Outcome::from(self.command(args).output().unwrap())
    }

    /// Starts `loadgrid` with its output captured, for a test that acts on
    /// the run while it goes; `wait_with_output` ends it.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// The newest run, once its grid has started (its `go` is stored).
    pub fn started_run(&self) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            assert!(std::time::Instant::now() < deadline, "the run never started");
            if let Some(run_id) = self.run_ids().pop() {
                if self.run_file(&run_id, "go").exists() {
                    return run_id;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn target_stats(&self) -> loadgrid_target::Stats {
        self.target.as_ref().unwrap().stats()
    }

    /// Run ids in the store.
    /// The one run stored since `known` was listed. Runs started in the same
    /// second sort by their random suffix, so the last id is not always the newest.
    pub fn new_run(&self, known: &[String]) -> String {
        let new: Vec<String> = self.run_ids().into_iter().filter(|id| !known.contains(id)).collect();
        assert_eq!(new.len(), 1, "one new run: {new:?}");
        new.into_iter().next().unwrap()
    }

    pub fn run_ids(&self) -> Vec<String> {
        match std::fs::read_dir(self.store().join("runs")) {
            Ok(entries) => {
                let mut ids: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
                ids.sort();
                ids
            }
            Err(_) => Vec::new(),
        }
    }

    pub fn run_file(&self, run_id: &str, key: &str) -> PathBuf {
        self.store().join("runs").join(run_id).join(key)
    }

    pub fn shard_result(&self, run_id: &str, shard: u32) -> loadgrid_metrics::ShardResult {
        let bytes = std::fs::read(self.run_file(run_id, &format!("shards/{shard}/result"))).unwrap();
        loadgrid_metrics::decode_shard_result(&bytes).unwrap()
    }

    /// The run's stored `summary.json`.
    pub fn stored_summary(&self, run_id: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.run_file(run_id, "summary.json")).unwrap()).unwrap()
    }

    pub fn shard_status(&self, run_id: &str, shard: u32) -> Value {
        serde_json::from_slice(&std::fs::read(self.run_file(run_id, &format!("shards/{shard}/status"))).unwrap())
            .unwrap()
    }
}

impl Drop for Grid {
    fn drop(&mut self) {
        if let Some(target) = self.target.take() {
            self.runtime.block_on(target.shutdown());
        }
    }
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Outcome {
    fn from(output: Output) -> Outcome {
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Outcome {
    pub fn exit(&self, code: i32) -> &Outcome {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    pub fn stderr_contains(&self, text: &str) -> &Outcome {
        assert!(self.stderr.contains(text), "stderr lacks `{text}`:\n{}", self.stderr);
        self
    }

    /// Standard output has `text` (the summary, in text or JSON).
    pub fn json_or_text_contains(&self, text: &str) -> &Outcome {
        assert!(self.stdout.contains(text), "stdout lacks `{text}`:\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n--- stderr\n{}", self.stdout, self.stderr))
    }
}

/// A summary's metric value, e.g. `value(&s, "http_reqs", "count")`.
pub fn value(summary: &Value, metric: &str, key: &str) -> f64 {
    summary["metrics"][metric]["values"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("summary has no {metric}.{key}: {}", summary["metrics"][metric]))
}

/// Ctrl-C to a `loadgrid` started with [`Grid::spawn`].
pub fn interrupt(child: &std::process::Child) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
}

/// Processes whose command line mentions `needle` (e.g. a run id).
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    processes().into_iter().filter(|(_, cmdline)| cmdline.contains(needle)).map(|(_, cmdline)| cmdline).collect()
}

/// The one process whose command line holds every part, e.g. the agent
/// of a run's shard 1: `["agent", run_id, "--shard 1 "]`.
pub fn pid_of(parts: &[&str]) -> nix::unistd::Pid {
    let found: Vec<(i32, String)> =
        processes().into_iter().filter(|(_, cmdline)| parts.iter().all(|part| cmdline.contains(part))).collect();
    assert_eq!(found.len(), 1, "processes with {parts:?}: {found:?}");
    nix::unistd::Pid::from_raw(found[0].0)
}

/// Every process (pid, command line with spaces between arguments).
fn processes() -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}
