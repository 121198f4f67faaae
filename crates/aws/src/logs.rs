//! The agents' log lines in CloudWatch Logs (the runner container logs
//! through the awslogs driver, one stream per task).
//!
//! Each agent prints a snapshot line every live interval (also CloudWatch
//! EMF): [`LiveReader`] merges the latest line of every shard into live
//! grid-wide numbers, the p95 included, from the lines' latency buckets
//! rather than from an average of p95s.

use std::collections::{BTreeMap, BTreeSet};

use loadgrid_grid::backend::LiveNumbers;
use loadgrid_metrics::{Histogram, VALUE_SCALE};
use serde::Deserialize;

use crate::error::sdk_message;

/// `FilterLogEvents` takes at most 100 stream names.
const STREAMS_PER_CALL: usize = 100;
/// Pages read per call chain, so that a chatty script cannot stall the watch.
const MAX_PAGES: usize = 20;
/// Events are read again from this far back: CloudWatch may ingest a line
/// after later ones are visible. Lines read twice are harmless.
const OVERLAP_MS: i64 = 10_000;

/// One agent snapshot line (see the agent's `snapshot.rs`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SnapshotLine {
    pub run_id: String,
    pub shard: u32,
    #[serde(default)]
    pub rps: f64,
    pub error_rate: Option<f64>,
    #[serde(default)]
    pub vus: u64,
    #[serde(default)]
    pub requests: u64,
    pub latency_bits: Option<u8>,
    pub latency: Option<Vec<[u64; 2]>>,
}

impl SnapshotLine {
    /// The line's snapshot, if it is one (and of this run).
    pub fn parse(message: &str, run_id: &str) -> Option<SnapshotLine> {
        if !message.starts_with("{\"_aws\"") {
            return None;
        }
        serde_json::from_str::<SnapshotLine>(message).ok().filter(|line| line.run_id == run_id)
    }
}

/// Grid-wide numbers from the latest snapshot line of each shard.
pub fn merge_snapshots<'a>(lines: impl IntoIterator<Item = &'a SnapshotLine>) -> LiveNumbers {
    let mut numbers = LiveNumbers::default();
    let mut failed_rps = 0.0;
    let mut latency: Option<Histogram> = None;
    for line in lines {
        numbers.requests += line.requests;
        numbers.rps += line.rps;
        numbers.vus += line.vus;
        failed_rps += line.error_rate.unwrap_or(0.0) * line.rps;
        if let (Some(bits), Some(buckets)) = (line.latency_bits, &line.latency) {
            let histogram = latency.get_or_insert_with(|| Histogram::new(bits));
            for [value, count] in buckets {
                histogram.record_n(*value, *count);
            }
        }
    }
    numbers.error_rate = (numbers.rps > 0.0).then(|| failed_rps / numbers.rps);
    numbers.p95_ms = latency.and_then(|h| h.value_at_quantile(0.95)).map(|value| value as f64 / VALUE_SCALE as f64);
    numbers
}

pub struct LiveReader {
    logs: aws_sdk_cloudwatchlogs::Client,
    group: String,
    since_ms: Option<i64>,
    latest: BTreeMap<u32, (i64, SnapshotLine)>,
}

impl LiveReader {
    pub fn new(logs: aws_sdk_cloudwatchlogs::Client, group: String) -> LiveReader {
        LiveReader { logs, group, since_ms: None, latest: BTreeMap::new() }
    }

    /// Reads new snapshot lines from `streams`; `None` if nothing could be read.
    pub async fn read(&mut self, run_id: &str, streams: &[String]) -> Option<LiveNumbers> {
        if streams.is_empty() {
            return None;
        }
        let mut newest = self.since_ms.unwrap_or(0);
        for chunk in streams.chunks(STREAMS_PER_CALL) {
            let events = match filter_events(&self.logs, &self.group, chunk, self.since_ms).await {
                Ok(events) => events,
                Err(error) => {
                    eprintln!("warning: cannot read live numbers from CloudWatch Logs: {error}");
                    return None;
                }
            };
            for event in events {
                newest = newest.max(event.timestamp);
                let Some(line) = SnapshotLine::parse(&event.message, run_id) else { continue };
                let replace = self.latest.get(&line.shard).is_none_or(|(at, _)| *at <= event.timestamp);
                if replace {
                    self.latest.insert(line.shard, (event.timestamp, line));
                }
            }
        }
        self.since_ms = Some(newest - OVERLAP_MS);
        Some(merge_snapshots(self.latest.values().map(|(_, line)| line)))
    }
}

/// One log event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub stream: String,
    pub timestamp: i64,
    pub message: String,
    pub id: String,
}

/// Events of `streams` (at most 100) since `since_ms`, oldest first.
pub async fn filter_events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    streams: &[String],
    since_ms: Option<i64>,
) -> anyhow::Result<Vec<LogEvent>> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let output = logs
            .filter_log_events()
            .log_group_name(group)
            .set_log_stream_names(Some(streams.to_vec()))
            .set_start_time(since_ms)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("FilterLogEvents on `{group}`: {}", sdk_message(&e)))?;
        events.extend(output.events().iter().map(|e| LogEvent {
            stream: e.log_stream_name().unwrap_or_default().to_owned(),
            timestamp: e.timestamp().unwrap_or(0),
            message: e.message().unwrap_or_default().trim_end().to_owned(),
            id: e.event_id().unwrap_or_default().to_owned(),
        }));
        token = output.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    events.sort_by_key(|e| e.timestamp);
    Ok(events)
}

/// Hands the events of `streams` (label → stream name) to `emit` as
/// (label, message), oldest first; with `follow`, keeps going until `done`
/// says so. An error from `emit` (its output went away) ends it.
pub async fn print_logs(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    streams: &BTreeMap<String, String>,
    follow: bool,
    mut done: impl FnMut() -> futures::future::BoxFuture<'static, bool>,
    emit: &mut dyn FnMut(&str, &str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let label_of: BTreeMap<&String, &String> = streams.iter().map(|(label, stream)| (stream, label)).collect();
    let names: Vec<String> = streams.values().cloned().collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut since: Option<i64> = None;
    loop {
        let mut batch = Vec::new();
        for chunk in names.chunks(STREAMS_PER_CALL) {
            batch.extend(filter_events(logs, group, chunk, since).await?);
        }
        batch.sort_by_key(|e| e.timestamp);
        for event in &batch {
            if seen.insert(event.id.clone()) {
                let label = label_of.get(&event.stream).map_or("?", |l| l.as_str());
                emit(label, &event.message)?;
            }
        }
        if let Some(newest) = batch.iter().map(|e| e.timestamp).max() {
            since = Some(newest - OVERLAP_MS);
        }
        if !follow || (batch.iter().all(|e| seen.contains(&e.id)) && done().await) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(shard: u32, rps: f64, error_rate: f64, latency: Vec<[u64; 2]>) -> SnapshotLine {
        SnapshotLine {
            run_id: "r".into(),
            shard,
            rps,
            error_rate: Some(error_rate),
            vus: 5,
            requests: 100,
            latency_bits: Some(7),
            latency: Some(latency),
        }
    }

    #[test]
    fn shards_merge_by_histogram_not_by_averaging_p95() {
        let ms = |v: u64| v * VALUE_SCALE as u64;
        // Shard 0: 90 fast requests; shard 1: 10 slow ones. The average of
        // their p95s would be ~505 ms; the grid's p95 is a slow request.
        let fast = line(0, 90.0, 0.0, vec![[ms(10), 90]]);
        let slow = line(1, 10.0, 1.0, vec![[ms(1000), 10]]);
        let numbers = merge_snapshots([&fast, &slow]);
        assert_eq!(numbers.requests, 200);
        assert_eq!(numbers.vus, 10);
        assert!((numbers.rps - 100.0).abs() < 1e-9);
        assert!((numbers.error_rate.unwrap() - 0.1).abs() < 1e-9, "10 failed of 100 per second");
        let p95 = numbers.p95_ms.unwrap();
        assert!((p95 - 1000.0).abs() / 1000.0 < 0.01, "p95 {p95}");
    }

    #[test]
    fn only_snapshot_lines_of_the_run_are_read() {
        let text = r#"{"_aws":{},"run_id":"r","shard":2,"rps":3.0,"error_rate":null,"vus":1,"requests":9,"latency_bits":null,"latency":null}"#;
        assert_eq!(SnapshotLine::parse(text, "r").unwrap().shard, 2);
        assert!(SnapshotLine::parse(text, "other").is_none());
        assert!(SnapshotLine::parse("loadgrid agent: shard 2 resumed", "r").is_none());
    }
}
