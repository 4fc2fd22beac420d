//! The device forward against the host forward on one model: what `profiler cuda-check`
//! runs on a GPU box (and the tests on candle's CPU device).

use crate::error::Result;
use crate::model::Model;
use predictor::KvDtype;
use std::path::Path;

/// Relative L2 difference `|a - b| / |b|`.
pub fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    if den > 0.0 {
        (num / den).sqrt()
    } else {
        num.sqrt()
    }
}

/// Logits of a fixed workload: two prompts of different lengths (the second after a cached
/// prefix of 2) prefilled in micro-batches of 3, then two greedy decode steps; one row per
/// sequence per step.
pub fn workload_logits(model: &Model, kv: KvDtype) -> Result<Vec<Vec<f32>>> {
    let v = model.hp.vocab as u32;
    let prompts = vec![
        [5u32, 77, 300, 12, 9, 41, 200].map(|t| t % v).to_vec(),
        [3u32, 150, 8, 260].map(|t| t % v).to_vec(),
    ];
    let mut cache = model.alloc_cache(2, 24, kv)?;
    cache.lens[1] = 2;
    let mut out = model.prefill(&mut cache, &prompts, 3)?.to_vec2::<f32>()?;
    let mut next = vec![17 % v, 4 % v];
    for _ in 0..2 {
        let rows = model.decode_step(&mut cache, &next)?.to_vec2::<f32>()?;
        next = rows.iter().map(|r| crate::argmax(r) as u32).collect();
        out.extend(rows);
    }
    Ok(out)
}

/// Loads `path` on the host and with its last `gpu_layers` blocks on `dev`, runs
/// [`workload_logits`] on both and returns the largest relative L2 difference of a row.
pub fn max_rel_diff(
    path: &Path,
    dev: &candle_core::Device,
    gpu_layers: Option<u32>,
    kv: KvDtype,
) -> Result<f64> {
    let want = workload_logits(&Model::load_on(path, None, None)?, kv)?;
    let got = workload_logits(&Model::load_on(path, Some(dev), gpu_layers)?, kv)?;
    Ok(got
        .iter()
        .zip(&want)
        .map(|(a, b)| rel_l2(a, b))
        .fold(0.0, f64::max))
}
