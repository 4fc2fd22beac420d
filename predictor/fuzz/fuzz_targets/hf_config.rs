//! Fuzzes the config.json interpreter.

#![no_main]

use libfuzzer_sys::fuzz_target;
use predictor::hf_config::HfConfig;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = HfConfig::parse(Path::new("config.json"), data);
});
