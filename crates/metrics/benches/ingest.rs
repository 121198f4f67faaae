//! Throughput of [`Ingest`] on recorded real k6 JSON output,
//! `benches/data/k6-output.json.gz`, made by `benches/data/record.sh`.
//! Criterion reports lines/s and bytes/s; the file's line count and size
//! are printed.
//!
//! Run: `cargo bench -p loadgrid-metrics --bench ingest`

use std::io::Read;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loadgrid_metrics::ingest::{Ingest, IngestConfig};
use loadgrid_metrics::TagSet;

fn recorded_output(file: &str) -> Vec<u8> {
    let path = format!("{}/benches/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let compressed = std::fs::read(path).expect("recorded k6 output is committed");
    let mut output = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice()).read_to_end(&mut output).expect("valid gzip");
    output
}

/// What the agent configures: thresholds name a couple of sub-metrics.
fn agent_config() -> IngestConfig {
    IngestConfig {
        selectors: vec![
            ("http_req_duration".into(), TagSet::from_pairs([("name", "login")])),
            ("http_req_failed".into(), TagSet::new()),
        ],
        ..IngestConfig::default()
    }
}

fn ingest(output: &[u8], chunk: usize) -> (u64, u64) {
    let mut ingest = Ingest::new(agent_config());
    for piece in output.chunks(chunk) {
        ingest.feed(piece);
    }
    ingest.finish_input();
    (ingest.samples(), ingest.rejected_lines())
}

fn bench_ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    group.sample_size(20);
    let file = "k6-output.json.gz";
    let name = "k6_json_64KiB_chunks";
    let output = recorded_output(file);
    let lines = memchr::memchr_iter(b'\n', &output).count() as u64;
    // The data must be what it claims: every line is read, none rejected
    // (`Metric` lines are not samples).
    let (samples, rejected) = ingest(&output, 64 * 1024);
    assert_eq!(rejected, 0, "{file}");
    assert!(lines - samples < 40, "{file}: {samples} samples of {lines} lines");
    println!("{file}: {lines} lines, {} bytes, {:.0} bytes/line", output.len(), output.len() as f64 / lines as f64);
    group.throughput(Throughput::Elements(lines));
    // The agent reads a pipe: 64 KiB is Linux's default pipe buffer.
    group.bench_function(name, |b| b.iter(|| ingest(&output, 64 * 1024)));
    group.throughput(Throughput::Bytes(output.len() as u64));
    group.bench_function(format!("{name}_bytes"), |b| b.iter(|| ingest(&output, 64 * 1024)));
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
