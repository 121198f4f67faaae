//! What a judged run is published as, after its history record: the JUnit
//! report (`--junit`), GitHub Actions' annotations, step outputs and step
//! summary (when `GITHUB_ACTIONS=true`), and notifications (`--notify`).
//!
//! Nothing here changes the run's exit code: each failure is a warning.

use std::path::Path;

use loadgrid_history::HistoryRecord;
use loadgrid_notify::{actions, github, junit, markdown, message, Target};
use loadgrid_report::RunSummary;
use loadgrid_store::{layout, Store};

use crate::cli::PublishArgs;
use crate::settings::Settings;

/// Publishes a judged run; `json` says stdout carries only `summary.json`.
pub async fn publish(
    settings: &Settings,
    store: &Store,
    summary: &RunSummary,
    record: &HistoryRecord,
    args: &PublishArgs,
    json: bool,
) {
    let link = record.git.as_ref().and_then(|git| git.run_url.clone());
    if let Some(path) = &args.junit {
        if let Err(error) = crate::files::write_atomically(path, junit::render(summary, record).as_bytes()) {
            warn(format!("cannot write the JUnit report `{}`: {error:#}", path.display()));
        }
    }
    if env("GITHUB_ACTIONS").as_deref() == Some("true") {
        for line in actions::annotations(summary) {
            // The runner reads workflow commands on stderr too.
            if json {
                eprintln!("{line}");
            } else if let Err(error) = crate::output::write_out(format_args!("{line}\n")) {
                warn(format!("cannot print the annotations: {error:#}"));
                break;
            }
        }
        if let Some(path) = env("GITHUB_OUTPUT") {
            let report = format!("{}/{}", store.url().trim_end_matches('/'), layout::summary(&record.run_id));
            if let Err(error) = actions::append_outputs(Path::new(&path), &actions::step_outputs(record, &report)) {
                warn(format!("cannot write the step outputs to GITHUB_OUTPUT `{path}`: {error:#}"));
            }
        }
        if let Some(path) = env("GITHUB_STEP_SUMMARY") {
            let text = markdown::summary(summary, record, link.as_deref());
            if let Err(error) = actions::append_step_summary(Path::new(&path), &text) {
                warn(format!("cannot write the step summary to GITHUB_STEP_SUMMARY `{path}`: {error:#}"));
            }
        }
    }
    for target in &args.notify {
        let result = match target {
            Target::GitHub => notify_github(store, summary, record, link.as_deref()).await,
            Target::Sns { topic_arn } => notify_sns(settings, topic_arn, record).await,
        };
        if let Err(error) = result {
            warn(format!("notifying `{target}` failed (the exit code is the run's): {error:#}"));
        }
    }
}

async fn notify_github(
    store: &Store,
    summary: &RunSummary,
    record: &HistoryRecord,
    link: Option<&str>,
) -> anyhow::Result<()> {
    let context = github::GitHubContext::from_env(&|key| std::env::var(key).ok())?;
    let last_green = if record.passed() { None } else { last_green(store, record).await };
    let run = github::RunReport { summary, record, last_green: last_green.as_ref(), link };
    let done = github::notify_github(&context, &run).await?;
    if !done.is_empty() {
        eprintln!("github: {}", done.join(", "));
    }
    Ok(())
}

/// The test's latest passed run other than this one.
async fn last_green(store: &Store, record: &HistoryRecord) -> Option<HistoryRecord> {
    let (records, _) = loadgrid_grid::history::list(store, Some(&record.test_name)).await.ok()?;
    records.into_iter().rev().find(|r| r.passed() && r.run_id != record.run_id)
}

async fn notify_sns(settings: &Settings, topic_arn: &str, record: &HistoryRecord) -> anyhow::Result<()> {
    let aws = settings.aws().await?;
    let subject = message::sns_subject(record);
    loadgrid_aws::sns::publish(&aws, topic_arn, &subject, &message::sns_message(record)).await?;
    eprintln!("sns: published \"{subject}\" to {topic_arn}");
    Ok(())
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn warn(message: String) {
    eprintln!("warning: {message}");
}
