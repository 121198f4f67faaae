//! Publishing a judged run: real short runs (real k6 on loopback) with
//! `--notify github` against a local stand-in for GitHub's REST API that
//! keeps issues and comments like GitHub, the Actions files and annotations,
//! `--junit`, and `--notify sns:` against moto with an SQS queue subscribed.

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::Grid;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const SCRIPT: &str = r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 1, iterations: 5 } } };
export default function () { http.get(`${__ENV.BASE_URL}/ok`); }
"#;
const CROSSES: &str = "http_reqs: count<1";
const PASSES: &str = "http_reqs: count>0";
const REPO: &str = "/repos/acme/shop";

#[derive(Clone, Debug)]
struct Call {
    method: String,
    path: String,
    query: String,
    body: Value,
    authorization: String,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    issues: Vec<Value>,
    comments: Vec<Value>,
    fail: bool,
}

/// GitHub's REST API as far as loadgrid uses it, keeping state between runs.
struct FakeGitHub {
    url: String,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeGitHub {
    fn start() -> FakeGitHub {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, hyper::Error>(handle(request, &state).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeGitHub { url, state, _runtime: runtime }
    }

    /// Calls since the previous `take_calls`.
    fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.state.lock().unwrap().calls)
    }

    fn fail_everything(&self) {
        self.state.lock().unwrap().fail = true;
    }
}

async fn handle(request: Request<Incoming>, state: &Mutex<State>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let call = Call {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: percent_decode(parts.uri.query().unwrap_or_default()),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        authorization: parts.headers.get("authorization").map_or(String::new(), |v| v.to_str().unwrap().to_owned()),
    };
    let mut state = state.lock().unwrap();
    state.calls.push(call.clone());
    let (status, answer) =
        if state.fail { (500, json!({ "message": "Server Error" })) } else { route(&mut state, &call) };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer.to_string())))
        .unwrap()
}

fn route(state: &mut State, call: &Call) -> (u16, Value) {
    let Some(rest) = call.path.strip_prefix(REPO) else { return (404, json!({ "message": "Not Found" })) };
    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match (call.method.as_str(), segments.as_slice()) {
        ("GET", ["issues"]) => {
            let wanted: Vec<&str> = query_value(&call.query, "labels").split(',').collect();
            let open = state.issues.iter().filter(|issue| {
                let names: Vec<&str> =
                    issue["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
                issue["state"] == "open" && wanted.iter().all(|w| names.contains(w))
            });
            (200, Value::Array(open.cloned().collect()))
        }
        ("POST", ["issues"]) => {
            // Issues and pull requests share numbers: #7 is the pull request.
            let number = 12 + state.issues.len() as u64;
            let mut issue = call.body.clone();
            issue["number"] = json!(number);
            issue["state"] = json!("open");
            state.issues.push(issue.clone());
            (201, issue)
        }
        ("PATCH", ["issues", number]) => {
            let Some(issue) = state.issues.iter_mut().find(|i| i["number"].as_u64() == number.parse().ok()) else {
                return (404, json!({ "message": "Not Found" }));
            };
            for (key, value) in call.body.as_object().unwrap() {
                issue[key] = value.clone();
            }
            (200, issue.clone())
        }
        ("GET", ["issues", number, "comments"]) => {
            let on: Vec<Value> =
                state.comments.iter().filter(|c| c["issue"].as_u64() == number.parse().ok()).cloned().collect();
            (200, Value::Array(on))
        }
        ("POST", ["issues", number, "comments"]) => {
            let comment = json!({ "id": 1001 + state.comments.len() as u64, "issue": number.parse::<u64>().unwrap(),
                                  "body": call.body["body"] });
            state.comments.push(comment.clone());
            (201, comment)
        }
        ("PATCH", ["issues", "comments", id]) => {
            let Some(comment) = state.comments.iter_mut().find(|c| c["id"].as_u64() == id.parse().ok()) else {
                return (404, json!({ "message": "Not Found" }));
            };
            comment["body"] = call.body["body"].clone();
            (200, comment.clone())
        }
        ("POST", ["statuses", _sha]) => (201, call.body.clone()),
        _ => (404, json!({ "message": "Not Found" })),
    }
}

fn query_value<'a>(query: &'a str, key: &str) -> &'a str {
    query.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('=')).unwrap_or_default()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

struct Actions {
    output: std::path::PathBuf,
    step_summary: std::path::PathBuf,
}

/// `loadgrid run` of `shop.js` as a pull request's workflow step would run it.
fn run(grid: &Grid, github: &FakeGitHub, actions: &Actions, threshold: &str) -> common::Outcome {
    let script = grid.script("shop.js", SCRIPT);
    let base = format!("BASE_URL={}", grid.target_url);
    let args = ["run", script.as_str(), "-e", &base, "-q", "--threshold", threshold, "--notify", "github"];
    let mut command = grid.command(&args);
    command
        .args(["--junit", "reports/junit.xml"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", &github.url)
        .env("GITHUB_TOKEN", "t")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_SHA", "abc")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_REF", "refs/pull/7/merge")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "42")
        .env("GITHUB_OUTPUT", &actions.output)
        .env("GITHUB_STEP_SUMMARY", &actions.step_summary)
        .env_remove("GITHUB_EVENT_PATH")
        .env_remove("GITHUB_HEAD_REF");
    common::Outcome::from(command.output().unwrap())
}

fn actions(grid: &Grid) -> Actions {
    Actions { output: grid.path("github_output"), step_summary: grid.path("step_summary.md") }
}

fn requests(calls: &[Call]) -> Vec<(String, String)> {
    calls.iter().map(|c| (c.method.clone(), c.path.clone())).collect()
}

fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(m, p)| ((*m).to_owned(), format!("{REPO}{p}"))).collect()
}

#[test]
fn a_failing_test_opens_one_issue_and_one_pr_comment_that_later_runs_update_and_a_green_run_closes() {
    let grid = Grid::new();
    let github = FakeGitHub::start();
    let files = actions(&grid);

    let first = run(&grid, &github, &files, CROSSES);
    first.exit(99);
    let first_id = grid.run_ids().pop().unwrap();
    let calls = github.take_calls();
    assert_eq!(
        requests(&calls),
        expect(&[
            ("GET", "/issues"),
            ("POST", "/issues"),
            ("POST", "/statuses/abc"),
            ("GET", "/issues/7/comments"),
            ("POST", "/issues/7/comments"),
        ]),
        "{}",
        first.stderr
    );
    assert!(calls.iter().all(|c| c.authorization == "Bearer t"));
    assert!(calls[0].query.contains("labels=loadgrid,loadgrid:shop") && calls[0].query.contains("state=open"));
    let issue = &calls[1].body;
    assert_eq!(issue["title"], "loadgrid: shop is failing");
    assert_eq!(issue["labels"], json!(["loadgrid", "loadgrid:shop"]));
    let body = issue["body"].as_str().unwrap();
    assert!(body.contains("### ❌ loadgrid: shop thresholds crossed"), "{body}");
    assert!(body.contains("No earlier green run"), "{body}");
    assert_eq!(calls[2].body["state"], "failure");
    assert_eq!(calls[2].body["context"], "loadgrid/shop");
    assert_eq!(calls[2].body["target_url"], "https://github.com/acme/shop/actions/runs/42");
    assert!(calls[2].body["description"].as_str().unwrap().len() <= 140);
    assert!(calls[4].body["body"].as_str().unwrap().starts_with("<!-- loadgrid:shop -->"));
    first.stderr_contains("github: opened issue #12");

    // The Actions side: an annotation, the step outputs, the step summary, JUnit.
    assert!(
        first.stdout.contains("::error title=loadgrid shop%3A threshold crossed::http_reqs: count<1"),
        "{}",
        first.stdout
    );
    let outputs = std::fs::read_to_string(&files.output).unwrap();
    assert!(outputs.starts_with(&format!("verdict=thresholds_crossed\nrun_id={first_id}\np95_ms=")), "{outputs}");
    for key in ["error_rate=", "rps=", "report_path="] {
        assert!(outputs.contains(key), "{key}: {outputs}");
    }
    assert!(outputs.contains(&format!("/runs/{first_id}/summary.json\n")), "{outputs}");
    let summary = std::fs::read_to_string(&files.step_summary).unwrap();
    assert!(summary.contains("### ❌ loadgrid: shop thresholds crossed") && summary.contains("**Thresholds**"));
    let junit = std::fs::read_to_string(grid.path("reports/junit.xml")).unwrap();
    assert!(junit.contains("<testcase name=\"http_reqs: count&lt;1\" classname=\"thresholds\">"), "{junit}");
    assert!(junit.contains("<failure message=\"http_reqs: count&lt;1 crossed: observed 5\""), "{junit}");

    let known = grid.run_ids();
    let second = run(&grid, &github, &files, CROSSES);
    second.exit(99);
    let calls = github.take_calls();
    assert_eq!(
        requests(&calls),
        expect(&[
            ("GET", "/issues"),
            ("PATCH", "/issues/12"),
            ("POST", "/statuses/abc"),
            ("GET", "/issues/7/comments"),
            ("PATCH", "/issues/comments/1001"),
        ]),
        "{}",
        second.stderr
    );
    let second_id = grid.new_run(&known);
    assert!(calls[1].body["body"].as_str().unwrap().contains(&second_id));

    let known = grid.run_ids();
    let third = run(&grid, &github, &files, PASSES);
    third.exit(0);
    let third_id = grid.new_run(&known);
    let calls = github.take_calls();
    assert_eq!(
        requests(&calls),
        expect(&[
            ("GET", "/issues"),
            ("POST", "/issues/12/comments"),
            ("PATCH", "/issues/12"),
            ("POST", "/statuses/abc"),
            ("GET", "/issues/7/comments"),
            ("PATCH", "/issues/comments/1001"),
        ]),
        "{}",
        third.stderr
    );
    let green = calls[1].body["body"].as_str().unwrap();
    assert!(green.contains("green again") && green.contains(&third_id), "{green}");
    assert_eq!(calls[2].body["state"], "closed");
    assert_eq!(calls[3].body["state"], "success");
    assert!(calls[5].body["body"].as_str().unwrap().contains("### ✅ loadgrid: shop passed"));
    assert!(!third.stdout.contains("::error"), "{}", third.stdout);
    let state = github.state.lock().unwrap();
    assert_eq!((state.issues.len(), state.comments.iter().filter(|c| c["issue"] == 7).count()), (1, 1));
    let outputs = std::fs::read_to_string(&files.output).unwrap();
    assert!(outputs.contains(&format!("verdict=passed\nrun_id={third_id}\n")), "{outputs}");
}

#[test]
fn a_github_that_fails_is_a_warning_and_keeps_the_exit_code() {
    let grid = Grid::new();
    let github = FakeGitHub::start();
    github.fail_everything();
    let files = actions(&grid);
    let failing = run(&grid, &github, &files, CROSSES);
    failing.exit(99).stderr_contains("warning: notifying `github` failed").stderr_contains("HTTP 500");
    assert_eq!(
        requests(&github.take_calls()),
        expect(&[("GET", "/issues"), ("POST", "/statuses/abc"), ("GET", "/issues/7/comments")]),
        "every part is tried"
    );
    run(&grid, &github, &files, PASSES).exit(0).stderr_contains("warning: notifying `github` failed");
}

#[test]
fn bad_notify_targets_stop_before_the_run() {
    let grid = Grid::new();
    let script = grid.script("shop.js", SCRIPT);
    let base = format!("BASE_URL={}", grid.target_url);
    for (target, message) in [("slack", "unknown notification target"), ("sns:my-topic", "not an SNS topic ARN")] {
        grid.run(&["run", script.as_str(), "-e", &base, "--notify", target]).exit(2).stderr_contains(message);
    }
    assert!(grid.run_ids().is_empty());
    assert_eq!(grid.target_stats().paths.values().sum::<u64>(), 0, "nothing ran");
}

#[test]
fn sns_notifications_reach_a_subscribed_queue() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let world = common::aws::AwsWorld::new();
    let sns = aws_sdk_sns::Client::new(&world.config);
    let sqs = aws_sdk_sqs::Client::new(&world.config);
    let (topic, queue) = world.runtime.block_on(async {
        let topic = sns.create_topic().name("loadgrid-alerts").send().await.unwrap().topic_arn().unwrap().to_owned();
        let queue = sqs.create_queue().queue_name("alerts").send().await.unwrap().queue_url().unwrap().to_owned();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes.attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
        sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(queue_arn).send().await.unwrap();
        (topic, queue)
    });

    let grid = Grid::new();
    let script = grid.script("shop.js", SCRIPT);
    let base = format!("BASE_URL={}", grid.target_url);
    let target = format!("sns:{topic}");
    let mut command =
        grid.command(&["run", script.as_str(), "-e", &base, "-q", "--threshold", CROSSES, "--notify", &target]);
    command.envs(world.env()).env_remove("GITHUB_ACTIONS");
    let outcome = common::Outcome::from(command.output().unwrap());
    outcome.exit(99).stderr_contains("sns: published");
    let run_id = grid.run_ids().pop().unwrap();

    let received = world
        .runtime
        .block_on(sqs.receive_message().queue_url(&queue).wait_time_seconds(5).max_number_of_messages(1).send());
    let received = received.unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1);
    let envelope: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Subject"], "loadgrid: shop thresholds crossed");
    let message = envelope["Message"].as_str().unwrap();
    assert!(message.contains(&format!("loadgrid run {run_id} of `shop`: THRESHOLDS CROSSED")), "{message}");
    assert!(message.contains("p95:") && message.contains("RPS:"), "{message}");
}
