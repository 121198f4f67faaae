//! Decoding and merging 100 shard results of a 10-minute run, as the CLI
//! does after a grid run; the encoded size of a shard result per hour; and
//! what an agent's live object (published every second) costs to build and
//! encode and weighs, 10 and 60 minutes into a test.
//!
//! Run: `cargo bench -p loadgrid-metrics --bench merge`
//!
//! The shard results are built once, by ingesting synthetic k6 CSV output
//! shaped like the real thing (the same metrics, tag columns and lines per
//! request as `benches/data/k6-output.csv.gz`): 10 endpoints with a few
//! statuses each, lognormal latencies between 1 and 500 ms, a VU gauge every
//! second.

use criterion::{criterion_group, criterion_main, Criterion};
use loadgrid_metrics::ingest::{Ingest, IngestConfig, OutputFormat};
use loadgrid_metrics::{decode_shard_result, encode_shard_result, MetricSet, ShardResult, TagSet};

const SHARDS: u32 = 100;
/// Distinct shard recordings; the 100 shards cycle through them with their
/// own shard ids. Decoding and merging cost the same whether or not two
/// shards saw the same numbers, and this keeps the setup to seconds.
const DISTINCT_SHARDS: u32 = 10;
const TEST_SECONDS: u32 = 600;
/// Requests per second of one shard (so 20k/s for the grid).
const SHARD_RPS: u32 = 200;
const START_US: u64 = 1_795_312_265_000_000;

/// splitmix64: deterministic and dependency-free.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Lognormal around `median_ms`, clamped to 1–500 ms.
    fn latency_ms(&mut self, median_ms: f64) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        let normal = (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        (median_ms * (normal * 0.7).exp()).clamp(1.0, 500.0)
    }
}

/// Writes lines the way k6's CSV output does (`%f` values, unix_micro times).
struct CsvWriter {
    out: Vec<u8>,
    shard: u32,
}

impl CsvWriter {
    fn number(&mut self, mut value: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&digits[at..]);
    }

    fn line(&mut self, metric: &str, time_us: u64, value: f64, tags: &str) {
        self.out.extend_from_slice(metric.as_bytes());
        self.out.push(b',');
        self.number(time_us);
        self.out.push(b',');
        let millionths = (value * 1e6).round() as u64;
        self.number(millionths / 1_000_000);
        self.out.push(b'.');
        let decimals = millionths % 1_000_000;
        for divisor in [100_000, 10_000, 1_000, 100, 10, 1] {
            self.out.push(b'0' + (decimals / divisor % 10) as u8);
        }
        self.out.push(b',');
        self.out.extend_from_slice(tags.as_bytes());
        self.out.extend_from_slice(b",shard=");
        self.number(u64::from(self.shard));
        self.out.extend_from_slice(b",\n");
    }
}

const HEADER: &str =
    "metric_name,timestamp,metric_value,check,expected_response,group,method,name,scenario,status,extra_tags,metadata\n";

/// Synthetic k6 CSV output of one shard.
fn synthetic_csv(shard: u32, seconds: u32, rps: u32, seed: u64) -> Vec<u8> {
    let mut random = Random(seed);
    let mut csv = CsvWriter { out: HEADER.as_bytes().to_vec(), shard };
    // Endpoint i: median latency, method, and its statuses' tag columns.
    let endpoints: Vec<(f64, Vec<String>)> = (0..10)
        .map(|i| {
            let method = if i % 3 == 0 { "POST" } else { "GET" };
            let statuses = [("200", "true"), ("404", "false"), ("500", "false")];
            let tags = statuses
                .iter()
                .map(|(status, expected)| format!(",{expected},,{method},endpoint-{i},default,{status}"))
                .collect();
            (5.0 * f64::from(i + 1), tags)
        })
        .collect();
    let vus = 50;
    for second in 0..u64::from(seconds) {
        let second_us = START_US + second * 1_000_000;
        csv.line("vus", second_us, f64::from(vus), ",,,,,,");
        csv.line("vus_max", second_us, f64::from(vus), ",,,,,,");
        for request in 0..u64::from(rps) {
            let time_us = second_us + request * 1_000_000 / u64::from(rps) + random.below(1000);
            let endpoint = random.below(10) as usize;
            let roll = random.below(100);
            let status = usize::from(roll >= 97) + usize::from(roll >= 99);
            let (median, tag_variants) = &endpoints[endpoint];
            let tags = &tag_variants[status];
            let duration = random.latency_ms(*median);
            let waiting = duration * 0.9;
            csv.line("http_reqs", time_us, 1.0, tags);
            csv.line("http_req_duration", time_us, duration, tags);
            csv.line("http_req_blocked", time_us, random.unit() * 0.01, tags);
            csv.line("http_req_connecting", time_us, 0.0, tags);
            csv.line("http_req_tls_handshaking", time_us, 0.0, tags);
            csv.line("http_req_sending", time_us, random.unit() * 0.05, tags);
            csv.line("http_req_waiting", time_us, waiting, tags);
            csv.line("http_req_receiving", time_us, duration - waiting, tags);
            csv.line("http_req_failed", time_us, if status == 0 { 0.0 } else { 1.0 }, tags);
            csv.line("checks", time_us, if status == 0 { 1.0 } else { 0.0 }, "status ok,,,,,default,");
            csv.line("data_sent", time_us, 80.0, ",,,,,default,");
            csv.line("data_received", time_us, 400.0 + random.below(2000) as f64, ",,,,,default,");
            csv.line("iteration_duration", time_us, duration + 0.3, ",,,,,default,");
            csv.line("iterations", time_us, 1.0, ",,,,,default,");
        }
    }
    csv.out
}

fn shard_ingest(shard: u32, seconds: u32, seed: u64) -> Ingest {
    let config = IngestConfig {
        shard,
        format: OutputFormat::Csv,
        selectors: vec![("http_req_duration".into(), TagSet::from_pairs([("name", "endpoint-1")]))],
        ..IngestConfig::default()
    };
    let mut ingest = Ingest::new(config);
    ingest.feed(&synthetic_csv(shard, seconds, SHARD_RPS, seed));
    ingest
}

fn shard_result(shard: u32, seconds: u32, seed: u64) -> ShardResult {
    let mut ingest = shard_ingest(shard, seconds, seed);
    ingest.finish_input();
    let result = ingest.into_result();
    assert_eq!(result.rejected_lines, 0);
    result
}

fn encoded_shards() -> Vec<Vec<u8>> {
    let distinct: Vec<ShardResult> =
        (0..DISTINCT_SHARDS).map(|i| shard_result(i, TEST_SECONDS, u64::from(i))).collect();
    let encoded: Vec<Vec<u8>> = (0..SHARDS)
        .map(|shard| {
            let mut result = distinct[(shard % DISTINCT_SHARDS) as usize].clone();
            result.shard = shard;
            encode_shard_result(&result)
        })
        .collect();
    let total: usize = encoded.iter().map(Vec::len).sum();
    eprintln!(
        "shard result, {TEST_SECONDS} s at {SHARD_RPS} requests/s: {} bytes encoded ({} samples); {SHARDS} shards: {} bytes",
        encoded[0].len(),
        distinct[0].samples,
        total
    );
    let hour = encode_shard_result(&shard_result(0, 3600, 99));
    eprintln!("shard result, 3600 s at {SHARD_RPS} requests/s: {} bytes encoded (bytes per hour of test)", hour.len());
    encoded
}

fn decode_and_merge(encoded: &[Vec<u8>]) -> MetricSet {
    let mut merged = MetricSet::new();
    for bytes in encoded {
        let result = decode_shard_result(bytes).expect("valid shard result");
        merged.merge(&result.metrics);
    }
    merged
}

fn bench_merge(c: &mut Criterion) {
    let encoded = encoded_shards();
    let merged = decode_and_merge(&encoded);
    let requests = merged.metric("http_reqs").expect("requests were recorded").total().count();
    assert_eq!(requests, u64::from(SHARDS * TEST_SECONDS * SHARD_RPS));

    let mut group = c.benchmark_group("merge");
    group.sample_size(10);
    group.bench_function("decode_and_merge_100_shards_10_minutes", |b| b.iter(|| decode_and_merge(&encoded)));
    group.finish();

    let mut group = c.benchmark_group("live");
    group.sample_size(10);
    for minutes in [10, 60] {
        let ingest = shard_ingest(0, minutes * 60, 7);
        eprintln!(
            "live object {minutes} minutes in, at {SHARD_RPS} requests/s: {} bytes encoded",
            encode_shard_result(&ingest.live_result()).len()
        );
        group.bench_function(format!("build_and_encode_at_{minutes}_minutes"), |b| {
            b.iter(|| encode_shard_result(&ingest.live_result()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_merge);
criterion_main!(benches);
