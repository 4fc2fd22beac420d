//! Any bytes, read as a Hugging Face config.json: a config or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memcal_formats::hf_config::HfConfig;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = HfConfig::parse(Path::new("config.json"), data);
});
