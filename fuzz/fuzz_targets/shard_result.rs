//! The shard-result binary format (`LGSR`, version, CRC-32, postcard) as
//! the grid reads `shards/<i>/result` and `live`. Input without the magic
//! gets a valid header and checksum, so that the fuzzer reaches the
//! payload. Whatever decodes encodes and decodes to the same result, and
//! merges as the grid merges shards (alone: see FUZZING.md for why not with
//! itself).

#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgrid_metrics::{decode_shard_result, MetricSet, FORMAT_VERSION};

fuzz_target!(|data: &[u8]| {
    let framed;
    let bytes = if data.starts_with(b"LGSR") {
        data
    } else {
        framed = [&b"LGSR"[..], &FORMAT_VERSION.to_le_bytes(), &crc32fast::hash(data).to_le_bytes(), data].concat();
        &framed
    };
    if let Ok(result) = decode_shard_result(bytes) {
        loadgrid_fuzz::still_encodes(&result);
        MetricSet::merge_shards([&result.metrics]);
    }
});
