//! What goes to the terminal: summaries, errors, progress mode. Respects
//! `NO_COLOR` and non-terminals.

use std::io::{IsTerminal, Write};

use loadgrid_grid::gate::{EXIT_FAILED, EXIT_INPUT};
use loadgrid_grid::handle_summary::{Handled, SummaryHandling};
use loadgrid_grid::orchestrate::Judgement;
use loadgrid_grid::watch::ProgressMode;
use loadgrid_grid::InputError;
use loadgrid_k6::summary::SummaryStdout;
use loadgrid_report::k6_data::Terminals;
use loadgrid_report::{render_terminal, RunSummary, Style};

/// Colour on standard output: a terminal that is not `TERM=dumb`, and no
/// `NO_COLOR`.
pub fn color_stdout() -> bool {
    colors_wanted() && std::io::stdout().is_terminal()
}

fn color_stderr() -> bool {
    colors_wanted() && std::io::stderr().is_terminal()
}

fn colors_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && !dumb_terminal()
}

/// `TERM=dumb`: no colour, no cursor movement.
fn dumb_terminal() -> bool {
    std::env::var("TERM").is_ok_and(|term| term == "dumb")
}

/// `✓`/`✗` and other symbols, unless stdout is not a terminal or the locale is not UTF-8.
pub fn unicode_stdout() -> bool {
    let utf8 = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
        .is_none_or(|v| v.to_ascii_uppercase().contains("UTF-8") || v.to_ascii_uppercase().contains("UTF8"));
    utf8 && std::io::stdout().is_terminal() && !dumb_terminal()
}

pub fn progress_mode(quiet: bool) -> ProgressMode {
    if quiet {
        ProgressMode::Quiet
    } else if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() && !dumb_terminal() {
        ProgressMode::Live
    } else {
        ProgressMode::Plain
    }
}

/// Prints a summary (text or JSON) and returns the run's exit code.
pub fn print_summary(summary: &RunSummary, json: bool) -> anyhow::Result<i32> {
    if json {
        outln!("{}", serde_json::to_string_pretty(summary)?);
    } else {
        let width = console::Term::stdout().size_checked().map_or(120, |(_, w)| w as usize);
        out!("{}", render_terminal(summary, &Style { color: color_stdout(), width }));
    }
    Ok(summary.exit_code)
}

/// How the script's `handleSummary()` runs from this terminal: its
/// `stdout` on standard output, or on standard error when standard output
/// carries `summary.json`; file paths relative to the working directory.
pub fn summary_handling(k6: loadgrid_k6::K6, json: bool) -> anyhow::Result<SummaryHandling> {
    let (stdout, stdout_tty) = match json {
        false => (SummaryStdout::Stdout, std::io::stdout().is_terminal()),
        true => (SummaryStdout::Stderr, std::io::stderr().is_terminal()),
    };
    Ok(SummaryHandling {
        k6,
        stdout,
        terminals: Terminals { stdout: stdout_tty, stderr: std::io::stderr().is_terminal() },
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        working_dir: std::env::current_dir()?,
    })
}

/// Prints a judged run and returns its exit code. As in k6, what the
/// script's `handleSummary()` wrote to standard output replaces the default
/// summary there; loadgrid's own summary then goes to standard error, so
/// the verdict is never lost. When it threw or could not run, the default
/// summary stands and a warning says why.
pub fn print_judgement(judgement: &Judgement, json: bool) -> anyhow::Result<i32> {
    let summary = &judgement.summary;
    match &judgement.handled {
        Handled::Ran(record) if record.error.is_some() => eprintln!(
            "warning: handleSummary() threw, so the default summary stands: {}",
            record.error.as_deref().unwrap_or_default()
        ),
        Handled::Failed(reason) => eprintln!("warning: handleSummary() could not run: {reason}"),
        Handled::Ran(_) | Handled::NotDefined => {}
    }
    if let Handled::Ran(record) = &judgement.handled {
        let files: Vec<&str> = record
            .outputs
            .iter()
            .map(|output| output.target.as_str())
            .filter(|target| !["stdout", "stderr"].contains(target))
            .collect();
        if !files.is_empty() {
            eprintln!("handleSummary() wrote {} with the grid's merged data", files.join(", "));
        }
        if record.wrote_stdout() && !json {
            let width = console::Term::stderr().size_checked().map_or(120, |(_, w)| w as usize);
            eprint!("{}", render_terminal(summary, &Style { color: color_stderr(), width }));
            return Ok(summary.exit_code);
        }
    }
    print_summary(summary, json)
}

/// The error's causes joined with `: `, each once: a cause whose words an
/// outer one already printed (libraries often repeat their source in their
/// own message) is left out.
pub fn chain_text(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Prints the whole error chain once, ripgrep-style, and picks the exit
/// code: 2 for bad input (nothing was launched), 1 otherwise.
pub fn report_error(error: &anyhow::Error) -> i32 {
    if is_closed_stdout(error) {
        return 0;
    }
    eprintln!("error: {}", chain_text(error));
    if error.chain().any(|cause| cause.downcast_ref::<InputError>().is_some()) {
        EXIT_INPUT
    } else {
        EXIT_FAILED
    }
}

/// Standard output is closed (a pipe whose reader left, as `| head` does)
/// or cannot take more (a full device).
#[derive(Debug)]
pub struct StdoutError(pub std::io::Error);

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write to standard output: {}", self.0)
    }
}

impl std::error::Error for StdoutError {}

/// Writes to standard output; a failure is a [`StdoutError`], never a
/// panic (`println!` panics).
pub fn write_out(args: std::fmt::Arguments) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(args).and_then(|()| stdout.flush()).map_err(|e| anyhow::Error::new(StdoutError(e)))
}

/// Whether `error` is only that standard output's reader went away: a
/// clean end, as in ripgrep.
pub fn is_closed_stdout(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<StdoutError>().is_some_and(|e| e.0.kind() == std::io::ErrorKind::BrokenPipe))
}

/// `print!` that returns a [`StdoutError`] instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_out(format_args!($($arg)*))? };
}

/// `println!` that returns a [`StdoutError`] instead of panicking.
macro_rules! outln {
    () => { $crate::output::write_out(format_args!("\n"))? };
    ($($arg:tt)*) => { $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))? };
}

pub(crate) use {out, outln};

/// Prints a judged run, once its record is stored: a standard output that
/// went away or filled up is said on standard error and leaves the run's
/// exit code as it is (the run is stored, with its summary and record).
pub fn print_stored_run(run_id: &str, print: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    match print() {
        Err(error) if error.chain().any(|cause| cause.downcast_ref::<StdoutError>().is_some()) => {
            eprintln!("warning: {error:#}; run {run_id} is stored: `loadgrid results {run_id}` shows it again");
            Ok(())
        }
        other => other,
    }
}
