#![allow(dead_code)]
use loadgrid_metrics::ingest::{CsvIngest, IngestConfig};
use loadgrid_metrics::{decode_shard_result, encode_shard_result, MetricSet, ShardResult, TagSet};
use std::time::Instant;
include!("/tmp/gen_part.rs");
fn main() {
    let encoded = encoded_shards();
    for _ in 0..3 {
        let t = Instant::now();
        let decoded: Vec<ShardResult> = encoded.iter().map(|b| decode_shard_result(b).unwrap()).collect();
        let t_decode = t.elapsed();
        let t = Instant::now();
        let mut merged = MetricSet::new();
        for r in &decoded {
            merged.merge(&r.metrics);
        }
        let t_merge = t.elapsed();
        // timeline only
        let t = Instant::now();
        let mut tl = loadgrid_metrics::Timeline::new();
        for r in &decoded {
            tl.merge(&r.metrics.timeline);
        }
        let t_tl = t.elapsed();
        let t = Instant::now();
        drop(decoded);
        eprintln!("decode {:?} merge {:?} (timeline part {:?}) drop {:?}", t_decode, t_merge, t_tl, t.elapsed());
    }
}
