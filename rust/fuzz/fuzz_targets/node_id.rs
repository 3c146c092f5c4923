//! Any text as an incoming example id: never a panic; a canonical node id decodes to its row.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phoenix_upsert_native::node_id::{example_node_id, python_b64decode, python_int, NodeId};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = example_node_id(text);
    let _ = python_b64decode(data);
    if let Some(NodeId::Row(row)) = python_int(text) {
        // What the server would write for that row decodes back to it.
        let id = base64_encode(format!("DatasetExample:{row}").as_bytes());
        assert_eq!(example_node_id(&id), Some(NodeId::Row(row)));
    }
});

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
