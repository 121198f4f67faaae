//! One k6 process: started paused, its metric output on a pipe, its stderr
//! echoed and remembered, and never outliving the agent.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use loadgrid_metrics::ingest::Ingest;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The file descriptor k6 writes its JSON metric output to. JSON, not CSV:
/// it costs k6 less CPU (see BENCHMARKS.md) and carries metric types.
const METRICS_FD: i32 = 3;
const STDERR_TAIL_LINES: usize = 20;
const PIPE_READ_CHUNK: usize = 1024 * 1024;
/// See [`enlarge_pipe`].
#[cfg(any(target_os = "linux", target_os = "android"))]
const PIPE_CAPACITY: i32 = 1024 * 1024;
/// How long the log lines k6 wrote before it exited may take to be read.
const LOG_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub struct K6Process {
    child: Child,
    log: Arc<Mutex<K6Log>>,
    /// Reads k6's stderr into `log` until k6 closes it.
    log_reader: Option<tokio::task::JoinHandle<()>>,
    /// Ends when k6 closes its output: at exit.
    pub ingest_thread: std::thread::JoinHandle<()>,
}

/// What k6's log (its stderr) says, as far as the grid cares.
#[derive(Default)]
struct K6Log {
    tail: VecDeque<String>,
    /// `exec.test.fail()`: its reason, or empty when it gave none.
    marked_failed: Option<String>,
    /// `test.abort()`: its reason, or empty when it gave none.
    aborted: Option<String>,
    /// Whether k6 said it could not keep up.
    signals: loadgrid_health::LogSignals,
}

impl K6Log {
    fn read(&mut self, line: String) {
        self.signals.read(&line);
        if let Some(message) = loadgrid_k6::logfmt_value(&line, "msg") {
            if let Some(reason) = script_reason(&message, "test marked as failed") {
                self.marked_failed.get_or_insert(reason);
            }
            if let Some(reason) = script_reason(&message, "test aborted") {
                self.aborted.get_or_insert(reason);
            }
        }
        if self.tail.len() == STDERR_TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// The reason a script gave to `exec.test.fail(reason)` or
/// `test.abort(reason)`, from k6's message (`test aborted: no db at setup
/// (file:///t.js:3:42(6))`), without the JavaScript location k6 appends.
/// `None` when the message is not `event`'s; empty when no reason was given.
pub fn script_reason(message: &str, event: &str) -> Option<String> {
    let rest = message.strip_prefix(event)?;
    if !(rest.is_empty() || rest.starts_with(": ") || rest.starts_with(" at ")) {
        return None;
    }
    let rest = rest.strip_prefix(": ").unwrap_or(rest);
    let reason = match rest.rfind(" at ") {
        Some(at) if rest.ends_with(')') && rest[at..].contains(" (") => &rest[..at],
        _ if rest.starts_with(" at ") => "",
        _ => rest,
    };
    Some(reason.trim().to_owned())
}

pub struct K6RunArgs<'a> {
    pub k6: &'a Path,
    pub archive: &'a Path,
    pub address: &'a str,
    pub segment: &'a str,
    pub segment_sequence: &'a str,
    pub shard: u32,
    pub system_tags: &'a [String],
    /// The run's `--tag`s. k6 replaces the archive's tags with any given on
    /// its command line, so they are passed again next to `shard`.
    pub tags: &'a std::collections::BTreeMap<String, String>,
    /// Extra environment for k6 only (secret values): never on a command
    /// line, where `ps` would show them.
    pub env: &'a [(String, String)],
}

impl K6Process {
    /// Starts k6 paused, with setup and teardown left to the grid,
    /// thresholds to the grid's merged data, and the end-of-test summary
    /// (and so `handleSummary()`) to the grid once the shards are merged:
    /// `--no-summary` also keeps k6 from holding every trend sample.
    pub fn spawn(args: K6RunArgs<'_>, ingest: Arc<Mutex<Ingest>>) -> std::io::Result<K6Process> {
        let (reader, writer) = std::io::pipe()?;
        enlarge_pipe(&writer);
        let mut command = Command::new(args.k6);
        command
            .arg("run")
            .args(["--paused", "--no-setup", "--no-teardown", "--linger", "--no-thresholds"])
            .args(["--no-usage-report", "--quiet", "--address", args.address])
            .args(["--out", &format!("json=/dev/fd/{METRICS_FD}")])
            .args(["--execution-segment", args.segment])
            .args(["--execution-segment-sequence", args.segment_sequence])
            .args(["--tag", &format!("shard={}", args.shard)])
            .args(args.tags.iter().flat_map(|(key, value)| ["--tag".to_owned(), format!("{key}={value}")]))
            .args(["--system-tags", &args.system_tags.join(",")])
            .arg("--no-summary")
            .arg(args.archive)
            .env("K6_NO_COLOR", "true")
            .envs(args.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        attach_metrics_pipe_and_parent_death_signal(&mut command, writer);
        let mut child = command.spawn()?;
        // The write end now lives only in k6 (it was moved into the closure
        // and the closure was dropped with the command), so EOF means k6 exited.
        drop(command);

        let log = Arc::new(Mutex::new(K6Log::default()));
        let log_reader = child.stderr.take().map(|stderr| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("k6: {line}");
                    log.lock().expect("k6 log lock").read(line);
                }
            })
        });
        let ingest_thread = std::thread::Builder::new().name("ingest".into()).spawn(move || {
            pump_metrics(reader, &ingest);
        })?;
        Ok(K6Process { child, log, log_reader, ingest_thread })
    }

    pub fn pid(&self) -> Option<Pid> {
        self.child.id().map(|id| Pid::from_raw(id as i32))
    }

    /// SIGINT: k6 ends the test gracefully, or leaves `--linger`.
    pub fn interrupt(&self) {
        if let Some(pid) = self.pid() {
            let _ = kill(pid, Signal::SIGINT);
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
    }

    /// The exit code once k6 has exited, without waiting.
    pub fn try_exit_code(&mut self) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(exit_code(status)),
            _ => None,
        }
    }

    /// Waits for k6 to exit and for its last log lines to be read: they
    /// may hold the reason of a `test.abort()` it exited for.
    pub async fn wait(&mut self) -> i32 {
        let code = match self.child.wait().await {
            Ok(status) => exit_code(status),
            Err(_) => -1,
        };
        if let Some(reader) = self.log_reader.take() {
            // Bounded: a process k6 started could hold its stderr open.
            let _ = tokio::time::timeout(LOG_DRAIN_TIMEOUT, reader).await;
        }
        code
    }

    pub fn stderr_tail(&self) -> Vec<String> {
        self.log.lock().expect("k6 log lock").tail.iter().cloned().collect()
    }

    /// The reason k6 logged for `exec.test.fail()`, if the script called it.
    pub fn marked_failed(&self) -> Option<String> {
        self.log.lock().expect("k6 log lock").marked_failed.clone()
    }

    /// What k6's log said about keeping up, so far.
    pub fn log_signals(&self) -> loadgrid_health::LogSignals {
        self.log.lock().expect("k6 log lock").signals.clone()
    }

    /// The reason k6 logged for `test.abort()`, if the script called it.
    pub fn aborted(&self) -> Option<String> {
        self.log.lock().expect("k6 log lock").aborted.clone()
    }
}

/// k6 flushes its JSON output in bursts of many KiB; through Linux's default
/// 64 KiB pipe each burst is many sleeps and wake-ups of k6 and the reader,
/// which share a core on a small task. A larger pipe takes a burst at once
/// (1 MiB is what an unprivileged process may ask for by default; if the
/// kernel refuses, the default stays).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn enlarge_pipe(writer: &std::io::PipeWriter) {
    let _ = nix::fcntl::fcntl(writer, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_CAPACITY));
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn enlarge_pipe(_writer: &std::io::PipeWriter) {}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn pump_metrics(mut reader: std::io::PipeReader, ingest: &Mutex<Ingest>) {
    let mut buffer = vec![0u8; PIPE_READ_CHUNK];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => ingest.lock().expect("ingest lock").feed(&buffer[..read]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    ingest.lock().expect("ingest lock").finish_input();
}

/// Gives k6 the pipe's write end as fd 3 and asks the kernel to kill k6
/// if the agent dies, so that no k6 outlives its agent whatever happens.
#[allow(unsafe_code)]
fn attach_metrics_pipe_and_parent_death_signal(command: &mut Command, writer: std::io::PipeWriter) {
    use std::os::fd::AsRawFd;
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions (dup2, prctl). `writer` is kept alive
    // by the closure until the command is dropped, after spawn.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(writer.as_raw_fd(), METRICS_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_of_test_fail_and_test_abort_come_from_k6_messages() {
        let fail = "test marked as failed";
        assert_eq!(script_reason("test marked as failed: bad thing", fail).as_deref(), Some("bad thing"));
        assert_eq!(script_reason("test marked as failed", fail).as_deref(), Some(""));
        assert_eq!(script_reason("test run was marked as failed", fail), None);
        let abort = "test aborted";
        assert_eq!(
            script_reason("test aborted: no db at setup (file:///tmp/f3.js:3:42(6))", abort).as_deref(),
            Some("no db")
        );
        assert_eq!(script_reason("test aborted at default (file:///tmp/f10.js:3:43(5))", abort).as_deref(), Some(""));
        assert_eq!(script_reason("test aborted: meet at noon", abort).as_deref(), Some("meet at noon"));
        assert_eq!(script_reason("test aborted because k6 received a signal", abort), None);
    }
}
