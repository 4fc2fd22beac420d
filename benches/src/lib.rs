//! Fixtures for memcal's criterion benches: model headers shaped like real conversions,
//! tokenizer included, written sparse (the tensor data is a hole, so a 70B-shaped file
//! takes no disk).

use predictor::presets;
use std::path::{Path, PathBuf};

/// Writes the GGUF header of preset `spec` (e.g. `llama-3.1-8b:Q4_K`) with a realistic
/// tokenizer (`tokenizer.ggml.tokens`, `scores`, `token_type` and `merges` of the preset's
/// vocabulary size) into `dir`, sparse, and returns its path.
pub fn write_header_fixture(dir: &Path, spec: &str) -> Result<PathBuf, String> {
    let (preset, ty) = presets::find(spec).map_err(|e| e.to_string())?;
    let mut w = presets::header(&preset, ty).map_err(|e| e.to_string())?;
    let n = preset.vocab as usize;
    let tokens = (0..n).map(|i| format!("tok{i:06}\u{2581}x"));
    let put = |r: Result<&mut _, predictor::gguf::writer::WriteError>| {
        r.map(|_| ()).map_err(|e| e.to_string())
    };
    put(w.add_string("tokenizer.ggml.model", "gpt2"))?;
    put(w.add_string_array("tokenizer.ggml.tokens", tokens))?;
    put(w.add_f32_array("tokenizer.ggml.scores", &vec![0.0f32; n]))?;
    put(w.add_i32_array("tokenizer.ggml.token_type", &vec![1i32; n]))?;
    let merges = (0..n.saturating_sub(256)).map(|i| format!("m{} n{}", i % 997, i % 991));
    put(w.add_string_array("tokenizer.ggml.merges", merges))?;
    let path = dir.join(format!("{}.gguf", spec.replace([':', '/'], "_")));
    w.write_sparse_file(&path).map_err(|e| e.to_string())?;
    Ok(path)
}
