//! The periodic snapshot line: readable in a terminal, and CloudWatch
//! Embedded Metric Format, so that on ECS the log line is also a metric.

use loadgrid_metrics::ingest::Snapshot;
use loadgrid_plan::records::now_ms;
use serde_json::json;

pub fn emf_line(run_id: &str, shard: u32, snapshot: &Snapshot) -> String {
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": "loadgrid",
                "Dimensions": [["run_id"]],
                "Metrics": [
                    {"Name": "rps", "Unit": "Count/Second"},
                    {"Name": "p95_ms", "Unit": "Milliseconds"},
                    {"Name": "error_rate", "Unit": "None"},
                    {"Name": "vus", "Unit": "Count"}
                ]
            }]
        },
        "run_id": run_id,
        "shard": shard,
        "rps": snapshot.rps,
        "p95_ms": snapshot.p95_ms,
        "error_rate": snapshot.error_rate,
        "vus": snapshot.vus,
        "requests": snapshot.requests,
        "failed_requests": snapshot.failed_requests,
        "iterations": snapshot.iterations,
        // [[value, count], ...] in k6 units scaled by VALUE_SCALE, one pair per
        // non-empty bucket: lets a reader merge shards' windows exactly.
        "latency_bits": snapshot.latency.as_ref().map(|h| h.bits()),
        "latency": snapshot.latency.as_ref().map(|h| h.iter().map(|b| [b.representative(), b.count]).collect::<Vec<_>>()),
    })
    .to_string()
}
