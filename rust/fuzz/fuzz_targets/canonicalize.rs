//! Any bytes as JSON text: never a panic; canonical output is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phoenix_upsert_native::canonicalize_text;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(out) = canonicalize_text(text) {
        let again =
            canonicalize_text(std::str::from_utf8(&out).expect("canonical output is UTF-8"))
                .expect("canonical output parses");
        assert_eq!(out, again, "canonical output is a fixed point");
    }
});
