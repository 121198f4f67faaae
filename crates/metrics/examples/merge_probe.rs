#![allow(dead_code)]
use loadgrid_metrics::ingest::{CsvIngest, IngestConfig};
use loadgrid_metrics::{decode_shard_result, encode_shard_result, MetricSet, ShardResult, TagSet};
use std::time::Instant;
include!("/tmp/gen_part.rs");
fn main() {
    let encoded = encoded_shards();
    let r = decode_shard_result(&encoded[0]).unwrap();
    let mut hist_bytes = 0usize;
    let mut hist_buckets = 0usize;
    let mut n_hist = 0;
    for (name, e) in &r.metrics.metrics {
        for (t, a) in e.series.iter().chain(e.selectors.iter()) {
            if a.has_histogram() {
                n_hist += 1;
            }
            let _ = (name, t);
        }
    }
    let mut sec_buckets = 0usize;
    for (_, s) in r.metrics.timeline.iter() {
        if let Some(h) = &s.latency {
            sec_buckets += h.iter().count();
        }
    }
    eprintln!("aggregate histograms {n_hist} nonzero buckets {hist_buckets}; timeline nonzero buckets {sec_buckets}");
    let _ = hist_bytes;
    for _ in 0..3 {
        let (mut td, mut tm, mut tt) =
            (std::time::Duration::ZERO, std::time::Duration::ZERO, std::time::Duration::ZERO);
        let mut merged = MetricSet::new();
        for b in &encoded {
            let t = Instant::now();
            let r = decode_shard_result(b).unwrap();
            td += t.elapsed();
            let t = Instant::now();
            merged.timeline.merge(&r.metrics.timeline);
            tt += t.elapsed();
            let t = Instant::now();
            let mut m = r.metrics.clone();
            m.timeline = Default::default();
            let t2 = Instant::now();
            let clone_t = t2 - t;
            let mut acc = std::mem::take(&mut merged.metrics);
            let mut ms = MetricSet::new();
            ms.metrics = acc;
            ms.merge(&m);
            acc = ms.metrics;
            merged.metrics = acc;
            tm += t.elapsed() - clone_t;
            drop(r);
        }
        eprintln!("decode {:?} merge aggregates {:?} merge timeline {:?}", td, tm, tt);
    }
}
