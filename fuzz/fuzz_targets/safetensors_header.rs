//! Any bytes, read as a SafeTensors file header: a model or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memcal_formats::safetensors::SafeTensorsFile;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = SafeTensorsFile::parse(Path::new("fuzz.safetensors"), data, data.len() as u64)
    {
        let _ = f.tensor_data_bytes();
        for t in &f.tensors {
            let _ = (t.nbytes(), t.n_elements());
        }
    }
});
