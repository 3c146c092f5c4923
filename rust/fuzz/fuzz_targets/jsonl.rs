//! Any bytes as a JSONL file, with tiny blocks and line limits, hashing or syncing: never a
//! panic, positions always inside the input, and syncing only ever refuses (never changes a
//! hash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phoenix_upsert_native::example::LineKeys;
use phoenix_upsert_native::jsonl::{scan_bytes, ScanOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, body)) = data.split_first() else {
        return;
    };
    let opts = ScanOptions {
        keys: LineKeys {
            id: Some("id".into()),
            splits: Some("splits".into()),
            span_id: Some("span_id".into()),
            node_id: Some("node_id".into()),
        },
        max_line_bytes: 1 + (knobs as usize) * 8,
        keep_positions: true,
        block_bytes: 1 + (knobs as usize % 16),
        storable: false,
    };
    let plain = scan_bytes(body, &opts);
    if let Ok(scan) = &plain {
        for (offset, length) in scan.offsets.iter().zip(&scan.lengths) {
            assert!((offset + length) as usize <= body.len());
        }
        assert_eq!(scan.hashes.len(), scan.ids.len());
    }
    let storable = scan_bytes(
        body,
        &ScanOptions {
            storable: true,
            ..opts
        },
    );
    if let (Ok(synced), Ok(plain)) = (&storable, &plain) {
        assert_eq!(synced.hashes, plain.hashes);
    }
});
