//! Throughput of [`CsvIngest`] on recorded real k6 output
//! (`benches/data/k6-output.csv.gz`, made by `benches/data/record.sh`).
//!
//! Run: `cargo bench -p loadgrid-metrics --bench ingest`

use std::io::Read;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loadgrid_metrics::ingest::{CsvIngest, IngestConfig};
use loadgrid_metrics::TagSet;

fn recorded_output() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data/k6-output.csv.gz");
    let compressed = std::fs::read(path).expect("recorded k6 output is committed");
    let mut csv = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice()).read_to_end(&mut csv).expect("valid gzip");
    csv
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

fn ingest(csv: &[u8], chunk: usize) -> u64 {
    let mut ingest = CsvIngest::new(agent_config());
    for piece in csv.chunks(chunk) {
        ingest.feed(piece);
    }
    ingest.finish_input();
    ingest.samples()
}

fn bench_ingest(c: &mut Criterion) {
    let csv = recorded_output();
    let lines = memchr::memchr_iter(b'\n', &csv).count() as u64;
    // The data must be what it claims: every line but the header is a sample.
    let samples = ingest(&csv, 64 * 1024);
    assert_eq!(samples + 1, lines, "every recorded line is read");

    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(lines));
    group.sample_size(20);
    // The agent reads a pipe: 64 KiB is Linux's default pipe buffer.
    group.bench_function("k6_csv_64KiB_chunks", |b| b.iter(|| ingest(&csv, 64 * 1024)));
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
