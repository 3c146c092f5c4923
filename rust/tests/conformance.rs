//! The canonicalizer against the RFC 8785 reference files and the JavaScript-made vectors.

use std::fs;
use std::path::PathBuf;

use phoenix_upsert_native::example::{parse_line, LineKeys};
use phoenix_upsert_native::tape::Tape;
use phoenix_upsert_native::{canonicalize_text, hash_hex, Canonicalizer, ErrorKind};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden_vectors")
}

#[test]
fn rfc8785_reference_files_reproduce_exactly() {
    let dir = root().join("jcs");
    let mut count = 0;
    for entry in fs::read_dir(dir.join("input")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let input = fs::read_to_string(&path).unwrap();
        let expected = fs::read(dir.join("output").join(&name)).unwrap();
        let got = canonicalize_text(&input).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "{name:?}"
        );
        count += 1;
    }
    assert_eq!(count, 6);
}

fn vectors() -> Value {
    let text = fs::read_to_string(root().join("vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn javascript_vectors_reproduce_exactly() {
    let v = vectors();
    let values = v["values"].as_array().unwrap();
    assert!(values.len() > 200);
    let mut doubles = 0;
    for vector in values {
        let name = vector["name"].as_str().unwrap();
        let json = vector["json"].as_str().unwrap();
        let expected = vector["canonical"].as_str().unwrap();
        let got = canonicalize_text(json).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(String::from_utf8(got).unwrap(), expected, "{name}");
        if name.starts_with("random doubles") {
            doubles += vector["json"].as_str().unwrap().matches(',').count() + 1;
        }
    }
    assert!(doubles >= 2000, "{doubles}");
}

#[test]
fn javascript_example_hashes_reproduce_exactly() {
    let v = vectors();
    let keys = LineKeys::default();
    for vector in v["examples"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let mut tape = Tape::new();
        let fields = parse_line(vector["json"].as_str().unwrap(), &keys, &mut tape).unwrap();
        let mut canon = Canonicalizer::new();
        let mut buf = Vec::new();
        let hash = canon.example_hash(
            &tape,
            fields.input.unwrap(),
            fields.output.unwrap(),
            fields.metadata,
            &mut buf,
        );
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            vector["canonical"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            hash_hex(&hash),
            vector["content_hash"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn invalid_inputs_are_rejected_with_their_kind() {
    let v = vectors();
    for vector in v["invalid"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let err = canonicalize_text(vector["json"].as_str().unwrap()).unwrap_err();
        let expected = match vector["error"].as_str().unwrap() {
            "lone_surrogate" => ErrorKind::LoneSurrogate,
            "number_out_of_range" => ErrorKind::NumberOutOfRange,
            _ => ErrorKind::JsonSyntax,
        };
        assert_eq!(err.kind, expected, "{name}: {err}");
    }
}
