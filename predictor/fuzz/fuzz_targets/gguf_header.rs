//! Fuzzes the GGUF header reader and the profile built from it. The first 8 bytes choose
//! how much longer than the input the "file" claims to be (a header prefix of a big file).

#![no_main]

use libfuzzer_sys::fuzz_target;
use predictor::gguf::{GgufFile, Value};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let (extra, bytes) = match data.split_first_chunk::<8>() {
        Some((head, rest)) if head[0] & 1 == 1 => (u64::from_le_bytes(*head) >> 8, rest),
        _ => (0, data),
    };
    let len = (bytes.len() as u64).saturating_add(extra);
    if let Ok(g) = GgufFile::parse(Path::new("fuzz.gguf"), bytes, len) {
        let _ = predictor::read::profile_from_gguf(&g);
        for (_, v) in g.metadata() {
            if let Value::Array(a) = v {
                let _ = a.to_owned_array();
                let _ = a.get(a.len().saturating_sub(1));
            }
        }
    }
});
