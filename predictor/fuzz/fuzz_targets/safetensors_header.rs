//! Fuzzes the SafeTensors header reader.

#![no_main]

use libfuzzer_sys::fuzz_target;
use predictor::safetensors::SafeTensorsFile;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = SafeTensorsFile::parse(Path::new("fuzz.safetensors"), data, data.len() as u64);
});
