//! The REST API of a running k6 (`--address`), as the agent uses it.
//!
//! Status codes (k6's `ExecutionStatus`): 1 initialising, 4 paused and
//! ready, 7 running, 9 ended.

use std::time::Duration;

use serde_json::{json, Value};

pub const STATUS_PAUSED: u64 = 4;
pub const STATUS_RUNNING: u64 = 7;
pub const STATUS_ENDED: u64 = 9;

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("k6 REST API {method} {path}: {source}")]
    Transport {
        method: &'static str,
        path: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("k6 REST API {method} {path} answered {status}: {body}")]
    Status { method: &'static str, path: &'static str, status: u16, body: String },
    #[error("k6 REST API {path}: unexpected answer: {detail}")]
    Shape { path: &'static str, detail: String },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    pub status: u64,
    pub paused: bool,
    pub vus: u64,
    pub stopped: bool,
}

#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for k6 listening on `address` (`host:port`).
    pub fn new(address: &str) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        Client { base: format!("http://{address}"), http }
    }

    async fn call(&self, method: &'static str, path: &'static str, body: Option<Value>) -> Result<Value, RestError> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "PUT" => self.http.put(url),
            _ => self.http.patch(url),
        };
        let request = match body {
            Some(body) => request.header("content-type", "application/json").body(body.to_string()),
            None => request,
        };
        let response = request.send().await.map_err(|source| RestError::Transport { method, path, source })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|source| RestError::Transport { method, path, source })?;
        if !(200..300).contains(&status) {
            return Err(RestError::Status { method, path, status, body: error_detail(&text) });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| RestError::Shape { path, detail: e.to_string() })
    }

    pub async fn status(&self) -> Result<Status, RestError> {
        let body = self.call("GET", "/v1/status", None).await?;
        parse_status(&body).ok_or_else(|| RestError::Shape { path: "/v1/status", detail: body.to_string() })
    }

    /// Resumes a paused k6: the barrier's start signal.
    pub async fn resume(&self) -> Result<(), RestError> {
        self.call("PATCH", "/v1/status", Some(json!({"data": {"attributes": {"paused": false}}}))).await.map(|_| ())
    }

    /// Ends the test gracefully: samples so far still reach the output.
    pub async fn stop(&self) -> Result<(), RestError> {
        self.call("PATCH", "/v1/status", Some(json!({"data": {"attributes": {"stopped": true}}}))).await.map(|_| ())
    }

    /// Runs the script's `setup()` in this k6 and returns its data.
    pub async fn run_setup(&self) -> Result<Value, RestError> {
        let body = self.call("POST", "/v1/setup", None).await?;
        Ok(body.pointer("/data/attributes/data").cloned().unwrap_or(Value::Null))
    }

    /// Hands setup data from the leader to this k6.
    pub async fn set_setup_data(&self, data: &Value) -> Result<(), RestError> {
        self.call("PUT", "/v1/setup", Some(data.clone())).await.map(|_| ())
    }

    /// Runs the script's `teardown()` with the setup data this k6 holds.
    pub async fn run_teardown(&self) -> Result<(), RestError> {
        self.call("POST", "/v1/teardown", None).await.map(|_| ())
    }
}

/// k6 answers errors as `{"errors":[{"title":…,"detail":…}]}`: keep the words.
fn error_detail(body: &str) -> String {
    let Ok(parsed) = serde_json::from_str::<Value>(body) else { return body.trim().to_owned() };
    let Some(errors) = parsed.get("errors").and_then(Value::as_array) else { return body.trim().to_owned() };
    errors
        .iter()
        .map(|error| {
            let field = |name| error.get(name).and_then(Value::as_str).unwrap_or_default().trim();
            [field("title"), field("detail")].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(": ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn parse_status(body: &Value) -> Option<Status> {
    let attributes = body.pointer("/data/attributes")?;
    Some(Status {
        status: attributes.get("status")?.as_u64()?,
        paused: attributes.get("paused").and_then(Value::as_bool).unwrap_or(false),
        vus: attributes.get("vus").and_then(Value::as_u64).unwrap_or(0),
        stopped: attributes.get("stopped").and_then(Value::as_bool).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_words_of_k6_errors() {
        let body = r#"{"errors":[{"status":"500","title":"Error executing setup","detail":"Error: database is down\n\tat setup (file:///t.js:2:33(3))\n"}]}"#;
        assert_eq!(
            error_detail(body),
            "Error executing setup: Error: database is down\n\tat setup (file:///t.js:2:33(3))"
        );
        assert_eq!(error_detail("plain text"), "plain text");
    }

    #[test]
    fn reads_status() {
        let status = json!({"data":{"type":"status","id":"default","attributes":{"status":4,"paused":true,"vus":0,"vus-max":2,"stopped":false}}});
        assert_eq!(parse_status(&status).unwrap().status, STATUS_PAUSED);
    }
}
