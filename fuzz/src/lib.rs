//! What several fuzz targets share: feeding k6 output to the ingest the way
//! the agent does, and the checks that hold for every shard result.

use loadgrid_metrics::ingest::{Ingest, IngestConfig, TestWindow};
use loadgrid_metrics::{decode_shard_result, encode_shard_result, MetricSet, ShardResult, TagSet};

/// Feeds `data` to a fresh ingest in one piece and again in chunks whose
/// sizes come from `control`, taking the live views the agent takes while
/// k6 runs, and checks that both give the same result, which then goes
/// through the shard-result format unchanged.
pub fn ingest_in_chunks(control: u8, data: &[u8]) {
    let config = IngestConfig {
        // A tiny cap reaches the overflow path with few lines.
        max_series_per_metric: if control & 0x80 == 0 { 200 } else { 2 },
        selectors: vec![
            ("http_req_duration".to_owned(), TagSet::from_pairs([("name", "login")])),
            ("checks".to_owned(), TagSet::from_pairs([("check", "home is 200")])),
        ],
        ..IngestConfig::default()
    };
    let window = (control & 0x40 != 0)
        .then_some(TestWindow { start_us: Some(1_795_312_265_000_000), end_us: Some(1_795_312_275_000_000) });

    let mut whole = Ingest::new(config.clone());
    whole.feed(data);
    whole.finish_input();

    let mut chunked = Ingest::new(config);
    let chunk = usize::from(control & 0x3f) + 1;
    // A few live views per input, as the agent takes one every few seconds.
    let live_every = data.len().div_ceil(chunk).div_ceil(3).max(1);
    for (i, piece) in data.chunks(chunk).enumerate() {
        chunked.feed(piece);
        if i % live_every == 0 {
            chunked.snapshot(2);
            still_encodes(&chunked.live_result());
        }
    }
    chunked.finish_input();

    if let Some(window) = window {
        whole.set_test_window(window);
        chunked.set_test_window(window);
    }
    assert_eq!(whole.overflowed_metrics(), chunked.overflowed_metrics());
    assert_eq!(whole.snapshot(5), chunked.snapshot(5));
    let result = whole.into_result();
    assert!(result == chunked.into_result(), "feeding in chunks of {chunk} bytes changed the result");
    still_encodes(&result);
    // What the grid does with the shards' results; the values k6 output
    // can produce are far from overflowing when added up.
    MetricSet::merge_shards([&result.metrics, &result.metrics]);
}

/// `decode(encode(result)) == result`.
pub fn still_encodes(result: &ShardResult) {
    let decoded = decode_shard_result(&encode_shard_result(result)).expect("an encoded result decodes");
    assert!(&decoded == result, "the shard-result format changed the result");
}
