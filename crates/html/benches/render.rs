//! What rendering an 8-hour run costs: the report (`report --html`, and the
//! dashboard's last event) and one live dashboard update, which the
//! dashboard renders once a second for every frame of a long run.
//!
//! `cargo bench -p loadgrid-html --bench render`

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use loadgrid_html::{live_body, run_report, LivePhase, LiveShard, LiveStatus};
use loadgrid_plan::records::ShardPhase;
use loadgrid_report::{RunSummary, TimelinePoint};

const SECONDS: i64 = 8 * 3600;
const SHARDS: u32 = 20;

/// The fixture run stretched to 8 hours of per-second points.
fn eight_hours() -> RunSummary {
    let mut summary = common::summary("eight hours");
    let minute = summary.timeline.clone();
    summary.timeline = (0..SECONDS)
        .map(|i| TimelinePoint { t: common::START_S + i, ..minute[(i % minute.len() as i64) as usize].clone() })
        .collect();
    summary
}

fn live() -> LiveStatus {
    LiveStatus {
        phase: LivePhase::Running,
        elapsed_ms: Some(SECONDS as u64 * 1000),
        planned_ms: SECONDS as u64 * 1000 + 30_000,
        cost_usd: Some(12.5),
        shards: (0..SHARDS)
            .map(|shard| LiveShard {
                shard,
                phase: ShardPhase::Running,
                backend: Some("task RUNNING".to_owned()),
                requests: Some(1_000_000),
                rps: Some(350.0),
                findings: Vec::new(),
            })
            .collect(),
    }
}

fn bench_render(c: &mut Criterion) {
    let summary = eight_hours();
    let live = live();
    let report = run_report(&summary, &common::extras()).unwrap();
    let update = live_body(&summary, &live).unwrap();
    eprintln!("8 hours: report {} bytes, live update {} bytes", report.len(), update.len());
    let mut group = c.benchmark_group("eight_hours");
    group.sample_size(20);
    group.bench_function("report", |b| b.iter(|| run_report(&summary, &common::extras()).unwrap()));
    group.bench_function("live_update", |b| b.iter(|| live_body(&summary, &live).unwrap()));
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
