#![allow(dead_code)]
use loadgrid_metrics::ingest::{CsvIngest, IngestConfig};
use loadgrid_metrics::{decode_shard_result, encode_shard_result, MetricSet, ShardResult, TagSet};
use std::time::Instant;
include!("/tmp/gen_part.rs");
fn main() {
    let encoded = encoded_shards();
    if std::env::var("MERGE_ONLY").is_ok() {
        let decoded: Vec<ShardResult> = encoded.iter().map(|b| decode_shard_result(b).unwrap()).collect();
        let t = Instant::now();
        for _ in 0..20 {
            let mut m = MetricSet::new();
            for r in &decoded {
                m.merge(&r.metrics);
            }
            std::hint::black_box(&m);
        }
        eprintln!("20x merge {:?}", t.elapsed());
        return;
    }
    if std::env::var("DECODE_ONLY").is_ok() {
        let t = Instant::now();
        for _ in 0..20 {
            for b in &encoded {
                let r = decode_shard_result(b).unwrap();
                std::hint::black_box(&r);
            }
        }
        eprintln!("20x decode {:?}", t.elapsed());
        return;
    }
    for _ in 0..5 {
        let t = Instant::now();
        for b in &encoded {
            let r = decode_shard_result(b).unwrap();
            std::hint::black_box(&r);
        }
        let t_decode = t.elapsed();
        let t = Instant::now();
        let mut merged = MetricSet::new();
        for b in &encoded {
            let r = decode_shard_result(b).unwrap();
            merged.merge(&r.metrics);
        }
        let t_all = t.elapsed();
        let t = Instant::now();
        drop(merged);
        eprintln!("decode only {:?}; decode+merge {:?}; drop merged {:?}", t_decode, t_all, t.elapsed());
    }
}
