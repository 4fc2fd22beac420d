//! Any bytes, read as a GGUF header (with the declared file length varied by the input):
//! the reader must return a model or an error, never panic, and never allocate beyond the
//! header's own bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memcal_formats::gguf::GgufFile;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how long the file claims to be around the bytes given.
    let (extra, bytes) = match data.split_first() {
        Some((&b, rest)) => (b as u64 * 4096, rest),
        None => (0, data),
    };
    if let Ok(f) = GgufFile::parse(Path::new("fuzz.gguf"), bytes, bytes.len() as u64 + extra) {
        // Everything a profile reads from a parsed header must be safe to ask for.
        for t in &f.tensors {
            let _ = (t.n_elements(), t.nbytes, &t.name);
        }
        let _ = f.tensor("token_embd.weight");
    }
});
