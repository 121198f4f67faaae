//! k6's `--out json` stream as the agent feeds it to `Ingest`: the first byte picks the chunk size and options, the rest is
//! the stream. Chunking never changes the result, and the result survives
//! the shard-result format.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&control, stream)) = data.split_first() {
        loadgrid_fuzz::ingest_in_chunks(control, stream);
    }
});
