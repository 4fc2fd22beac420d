//! KV cache bytes: `batch x positions x (K + V widths)` per layer, in the cache dtype.

use crate::config::RunConfig;
use crate::profile::ModelProfile;
use std::ops::Range;

/// Cache positions a layer reserves: the context, or for a sliding-window layer when the
/// runtime trims those caches, the window plus one micro-batch.
fn positions(profile: &ModelProfile, config: &RunConfig, layer: usize, trim_swa: bool) -> u64 {
    let ctx = config.ctx as u64;
    match profile.shape.sliding_window {
        Some(w)
            if trim_swa
                && profile
                    .shape
                    .sliding_layers
                    .get(layer)
                    .copied()
                    .unwrap_or(false) =>
        {
            ctx.min(w.saturating_add(config.effective_ubatch() as u64))
        }
        _ => ctx,
    }
}

/// Bytes of the K and V caches of `layers`, preallocated for the whole batch and context.
pub fn bytes(
    profile: &ModelProfile,
    config: &RunConfig,
    layers: Range<usize>,
    trim_swa: bool,
) -> u64 {
    let width = profile.shape.head_dim_k as u64 + profile.shape.head_dim_v as u64;
    layers
        .filter_map(|l| profile.shape.n_kv_heads.get(l).map(|&h| (l, h as u64)))
        .map(|(l, heads)| {
            let elements = (config.batch as u64)
                .saturating_mul(positions(profile, config, l, trim_swa))
                .saturating_mul(heads.saturating_mul(width));
            config.kv_dtype.bytes_for(elements)
        })
        .fold(0u64, u64::saturating_add)
}
