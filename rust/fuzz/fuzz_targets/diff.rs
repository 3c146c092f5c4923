//! Arbitrary previous/incoming examples: never a panic; every incoming example is either
//! added or matched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phoenix_upsert_native::diff::{diff, Incoming, Previous};

const IDS: [&str; 6] = [
    "a",
    "b",
    "RGF0YXNldEV4YW1wbGU6MQ==",
    "RGF0YXNldEV4YW1wbGU6Mg==",
    "RGF0YXNldEV4YW1wbGU6 Mw==",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = (split as usize).min(rest.len());
    let (prev_bytes, inc_bytes) = rest.split_at(cut);
    let previous: Vec<Previous> = prev_bytes
        .chunks(2)
        .map(|c| Previous {
            node_id: IDS[2 + (c[0] as usize % 3)],
            external_id: (c[0] & 8 != 0).then(|| IDS[c[0] as usize % 2]),
            hash: [*c.get(1).unwrap_or(&0) % 4; 16],
        })
        .collect();
    let incoming: Vec<Incoming> = inc_bytes
        .chunks(2)
        .map(|c| Incoming {
            id: (c[0] & 16 != 0).then(|| IDS[c[0] as usize % IDS.len()]),
            hash: [*c.get(1).unwrap_or(&0) % 4; 16],
        })
        .collect();
    if let Ok(d) = diff(&previous, &incoming, split & 1 == 1) {
        let matched = d.updated.len() + d.unchanged.len();
        assert_eq!(matched + d.added.len(), incoming.len());
    }
});
