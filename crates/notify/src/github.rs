//! GitHub: one issue per failing test, a commit status, one PR comment.
//!
//! - A run that did not pass (regressed, thresholds crossed, failed) opens an
//!   issue labelled `loadgrid` and `loadgrid:<test>`, or updates the body of
//!   the open one: the Markdown summary and the differences from the last
//!   green run.
//! - A passed run comments "green again" on that issue and closes it.
//! - With a commit, a status `loadgrid/<test>`: `success` when the run's exit
//!   code is 0 (so `on_regression = "warn"` does not block a merge), else
//!   `failure`.
//! - On a pull request, one comment marked `<!-- loadgrid:<test> -->`,
//!   updated in place by every later run.
//!
//! Every part is tried even when another fails; the failures come back as
//! one [`GitHubError`] for the caller to print as a warning.

use std::time::Duration;

use loadgrid_history::HistoryRecord;
use loadgrid_report::RunSummary;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{headline_text, markdown, message, truncate};

pub const DEFAULT_API_URL: &str = "https://api.github.com";
const PER_PAGE: usize = 100;
const MAX_PAGES: usize = 20;
/// GitHub's limit on a label's name.
const LABEL_MAX: usize = 50;

/// Where and as whom to talk to GitHub, and what the run is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubContext {
    /// `https://api.github.com`, or GitHub Enterprise's API.
    pub api_url: String,
    pub token: String,
    /// `owner/name`.
    pub repository: String,
    /// The commit that gets the status.
    pub sha: Option<String>,
    /// The pull request that gets the comment.
    pub pull_request: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("{0}")]
    Setup(String),
    #[error("{}", .0.join("; "))]
    Requests(Vec<String>),
}

impl GitHubContext {
    /// From GitHub Actions' variables: `GITHUB_TOKEN`, `GITHUB_REPOSITORY`,
    /// `GITHUB_API_URL`, `GITHUB_SHA`, `GITHUB_EVENT_NAME`, `GITHUB_REF`; on a
    /// pull request the head commit from the event file (`GITHUB_EVENT_PATH`),
    /// since `GITHUB_SHA` is then a merge commit no one sees.
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<GitHubContext, GitHubError> {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let token = get("GITHUB_TOKEN").ok_or_else(|| {
            GitHubError::Setup(
                "GITHUB_TOKEN is not set. Next step: give the step `env: GITHUB_TOKEN: ${{ github.token }}` \
                 (the loadgrid action does)"
                    .into(),
            )
        })?;
        let repository = get("GITHUB_REPOSITORY").filter(|r| is_repository(r)).ok_or_else(|| {
            GitHubError::Setup("GITHUB_REPOSITORY is not set to `owner/name` (GitHub Actions sets it)".into())
        })?;
        let pull_request = pull_request_number(get("GITHUB_EVENT_NAME").as_deref(), get("GITHUB_REF").as_deref());
        let head = pull_request.and(get("GITHUB_EVENT_PATH")).and_then(|path| head_sha(&path));
        Ok(GitHubContext {
            api_url: get("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into()).trim_end_matches('/').to_owned(),
            token,
            repository,
            sha: head.or_else(|| get("GITHUB_SHA")),
            pull_request,
        })
    }
}

fn is_repository(text: &str) -> bool {
    let ok = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    text.split_once('/').is_some_and(|(owner, name)| ok(owner) && ok(name))
}

/// The pull request of a `pull_request` event: `refs/pull/<n>/merge`.
pub fn pull_request_number(event: Option<&str>, git_ref: Option<&str>) -> Option<u64> {
    if event != Some("pull_request") {
        return None;
    }
    git_ref?.strip_prefix("refs/pull/")?.strip_suffix("/merge")?.parse().ok()
}

/// `pull_request.head.sha` of an event payload file.
fn head_sha(path: &str) -> Option<String> {
    let event: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    event["pull_request"]["head"]["sha"].as_str().map(str::to_owned)
}

/// The labels of a test's issue: `loadgrid` and `loadgrid:<test>`.
pub fn labels(test_name: &str) -> [String; 2] {
    // A comma would split the `labels=` filter.
    let label = format!("loadgrid:{}", test_name.replace(',', "_"));
    ["loadgrid".to_owned(), truncate(&label, LABEL_MAX)]
}

/// The hidden marker of a test's PR comment.
pub fn marker(test_name: &str) -> String {
    format!("<!-- loadgrid:{} -->", test_name.replace("--", "-\u{200B}-").replace('>', "&gt;"))
}

/// What to tell GitHub about.
pub struct RunReport<'a> {
    pub summary: &'a RunSummary,
    pub record: &'a HistoryRecord,
    /// The test's latest passed run before this one, for the issue's diff.
    pub last_green: Option<&'a HistoryRecord>,
    /// The full report, e.g. the CI run's page.
    pub link: Option<&'a str>,
}

/// Issue, status and PR comment for one run; returns what was done, for
/// people (`opened issue #12`).
pub async fn notify_github(context: &GitHubContext, run: &RunReport<'_>) -> Result<Vec<String>, GitHubError> {
    let github = Client::new(context)?;
    let mut done = Vec::new();
    let mut failures = Vec::new();
    let mut note = |result: Result<Option<String>, String>| match result {
        Ok(Some(what)) => done.push(what),
        Ok(None) => {}
        Err(error) => failures.push(error),
    };
    note(github.issue(run).await);
    if let Some(sha) = &context.sha {
        note(github.status(sha, run).await.map(Some));
    }
    if let Some(number) = context.pull_request {
        note(github.pull_request_comment(number, run).await.map(Some));
    }
    if failures.is_empty() {
        Ok(done)
    } else {
        Err(GitHubError::Requests(failures))
    }
}

struct Client<'a> {
    http: reqwest::Client,
    context: &'a GitHubContext,
    repo: String,
}

impl<'a> Client<'a> {
    fn new(context: &'a GitHubContext) -> Result<Client<'a>, GitHubError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("loadgrid/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| GitHubError::Setup(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client { http, context, repo: format!("/repos/{}", context.repository) })
    }

    /// One REST call; an error names the call, GitHub's message and a next step.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, String> {
        let what = format!("{method} {path}");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.context.api_url))
            .bearer_auth(&self.context.token)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{what}: {}", error_chain(&e)))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| truncate(text.trim(), 200));
            let hint = match status.as_u16() {
                401 => " (the token was refused: check GITHUB_TOKEN)",
                403 | 404 => {
                    " (the token may lack a permission: give the job `permissions:` \
                     issues: write, statuses: write, pull-requests: write)"
                }
                _ => "",
            };
            return Err(format!("{what}: HTTP {} {message}{hint}", status.as_u16()));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| format!("{what}: the answer is not JSON: {e}"))
    }

    async fn issue(&self, run: &RunReport<'_>) -> Result<Option<String>, String> {
        let record = run.record;
        let labels = labels(&record.test_name);
        let query = [("labels", labels.join(",")), ("state", "open".into()), ("per_page", PER_PAGE.to_string())];
        let open = self.call(Method::GET, &format!("{}/issues", self.repo), &query, None).await?;
        // The issues API lists pull requests too.
        let existing = open
            .as_array()
            .into_iter()
            .flatten()
            .filter(|issue| issue.get("pull_request").is_none())
            .find_map(|issue| issue["number"].as_u64());
        if record.passed() {
            let Some(number) = existing else { return Ok(None) };
            let mut body = format!("✅ green again: run {} passed ({}).", record.run_id, headline_text(record));
            if let Some(link) = run.link {
                body.push_str(&format!(" [Report]({link})"));
            }
            let path = format!("{}/issues/{number}", self.repo);
            self.call(Method::POST, &format!("{path}/comments"), &[], Some(json!({ "body": body }))).await?;
            let close = json!({ "state": "closed", "state_reason": "completed" });
            self.call(Method::PATCH, &path, &[], Some(close)).await?;
            return Ok(Some(format!("closed issue #{number}")));
        }
        let body = issue_body(run);
        match existing {
            Some(number) => {
                let path = format!("{}/issues/{number}", self.repo);
                self.call(Method::PATCH, &path, &[], Some(json!({ "body": body }))).await?;
                Ok(Some(format!("updated issue #{number}")))
            }
            None => {
                let issue = json!({
                    "title": format!("loadgrid: {} is failing", record.test_name),
                    "body": body,
                    "labels": labels,
                });
                let created = self.call(Method::POST, &format!("{}/issues", self.repo), &[], Some(issue)).await?;
                let number = created["number"].as_u64().map_or("?".to_owned(), |n| n.to_string());
                Ok(Some(format!("opened issue #{number}")))
            }
        }
    }

    async fn status(&self, sha: &str, run: &RunReport<'_>) -> Result<String, String> {
        let state = if run.record.exit_code == 0 { "success" } else { "failure" };
        let mut status = json!({
            "state": state,
            "context": format!("loadgrid/{}", run.record.test_name),
            "description": message::status_description(run.record),
        });
        if let Some(link) = run.link.filter(|l| l.starts_with("https://") || l.starts_with("http://")) {
            status["target_url"] = json!(link);
        }
        self.call(Method::POST, &format!("{}/statuses/{sha}", self.repo), &[], Some(status)).await?;
        Ok(format!("status {state} on {}", truncate(sha, 12)))
    }

    async fn pull_request_comment(&self, number: u64, run: &RunReport<'_>) -> Result<String, String> {
        let marker = marker(&run.record.test_name);
        let body = format!("{marker}\n{}", markdown::summary(run.summary, run.record, run.link));
        let path = format!("{}/issues/{number}/comments", self.repo);
        let mut existing = None;
        for page in 1..=MAX_PAGES {
            let query = [("per_page", PER_PAGE.to_string()), ("page", page.to_string())];
            let answer = self.call(Method::GET, &path, &query, None).await?;
            let comments = answer.as_array().cloned().unwrap_or_default();
            existing = comments
                .iter()
                .find(|c| c["body"].as_str().is_some_and(|b| b.contains(&marker)))
                .and_then(|c| c["id"].as_u64());
            if existing.is_some() || comments.len() < PER_PAGE {
                break;
            }
        }
        match existing {
            Some(id) => {
                let path = format!("{}/issues/comments/{id}", self.repo);
                self.call(Method::PATCH, &path, &[], Some(json!({ "body": body }))).await?;
                Ok(format!("updated the comment on PR #{number}"))
            }
            None => {
                self.call(Method::POST, &path, &[], Some(json!({ "body": body }))).await?;
                Ok(format!("commented on PR #{number}"))
            }
        }
    }
}

/// The issue's body: the summary, then what changed since the last green run.
fn issue_body(run: &RunReport<'_>) -> String {
    format!(
        "{}\n{}\n{}\n<sub>Updated by every failing run of this test; closed by the next passed one.</sub>\n",
        marker(&run.record.test_name),
        markdown::summary(run.summary, run.record, run.link),
        markdown::diff_table(run.record, run.last_green),
    )
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_comes_from_actions_variables() {
        let env = |key: &str| {
            let value = match key {
                "GITHUB_TOKEN" => "t",
                "GITHUB_REPOSITORY" => "acme/shop",
                "GITHUB_API_URL" => "http://127.0.0.1:1/",
                "GITHUB_SHA" => "abc",
                "GITHUB_EVENT_NAME" => "pull_request",
                "GITHUB_REF" => "refs/pull/7/merge",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let context = GitHubContext::from_env(&env).unwrap();
        assert_eq!(context.api_url, "http://127.0.0.1:1");
        assert_eq!((context.sha.as_deref(), context.pull_request), (Some("abc"), Some(7)));
        let message = GitHubContext::from_env(&|_| None).unwrap_err().to_string();
        assert!(message.contains("GITHUB_TOKEN is not set"), "{message}");
    }

    #[test]
    fn only_pull_request_merge_refs_name_a_pull_request() {
        assert_eq!(pull_request_number(Some("pull_request"), Some("refs/pull/42/merge")), Some(42));
        assert_eq!(pull_request_number(Some("push"), Some("refs/pull/42/merge")), None);
        assert_eq!(pull_request_number(Some("pull_request"), Some("refs/heads/main")), None);
    }

    #[test]
    fn labels_and_markers_are_safe() {
        assert_eq!(labels("shop"), ["loadgrid".to_owned(), "loadgrid:shop".to_owned()]);
        assert_eq!(labels("a,b")[1], "loadgrid:a_b");
        assert_eq!(labels(&"x".repeat(80))[1].chars().count(), LABEL_MAX);
        assert_eq!(marker("shop"), "<!-- loadgrid:shop -->");
        assert!(!marker("a-->b").contains("-->b"));
    }
}
