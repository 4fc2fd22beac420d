//! llama.cpp's KV cache (`llama-kv-cache.cpp`, `llama-kv-cache-iswa.cpp`): cells per
//! stream, streams per sequence or one unified buffer, the sliding-window cache, and the
//! bytes of K and V per block.

use super::build::Family;
use crate::config::{KvDtype, RunConfig};
use crate::profile::ModelProfile;

pub(crate) fn pad(x: u64, to: u32) -> u64 {
    x.div_ceil(to.max(1) as u64) * to.max(1) as u64
}

/// KV cache geometry: cells per stream for full and sliding-window layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvGeometry {
    /// KV streams (sequences with their own cells).
    pub streams: u64,
    /// Cells per stream of a full-attention layer.
    pub cells: u64,
    /// Cells per stream of a sliding-window layer.
    pub swa_cells: u64,
    /// Whether the cache keeps V rows of their own (not for a multi-head latent attention
    /// model on builds with [`Family::v_less_mla`]).
    pub v_cache: bool,
}

/// The engine's KV geometry for a configuration.
pub fn kv_geometry(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> KvGeometry {
    let fa = fam.flash_attn(config);
    let p = if fa { fam.ctx_pad.0 } else { fam.ctx_pad.1 };
    let n_seq = config.batch.max(1) as u64;
    let total = pad(config.ctx as u64 * n_seq, p);
    // A server with `--kv-unified` keeps one buffer for every slot.
    let unified = config.serve.as_ref().is_some_and(|s| s.kv_unified);
    let (streams, cells) = if fam.kv_streams_per_sequence && !unified {
        (n_seq, pad(total / n_seq, p))
    } else {
        (1, total)
    };
    let ub = config.effective_ubatch() as u64;
    // The sliding-window cache holds the window of every sequence in its stream, plus a
    // micro-batch.
    let seqs_per_stream = if unified { n_seq } else { 1 };
    let swa_cells = match profile.shape.sliding_window {
        Some(w) if fam.trims_swa => pad(
            cells.min(w.saturating_mul(seqs_per_stream).saturating_add(ub)),
            256,
        )
        .min(cells),
        _ => cells,
    };
    KvGeometry {
        streams,
        cells,
        swa_cells,
        v_cache: !(fam.v_less_mla && profile.shape.is_mla()),
    }
}

/// Bytes of one cell of block `l` in the cache type `dt`: its K row, and its V row (0 where
/// the cache keeps none, see [`KvGeometry::v_cache`]).
pub(crate) fn cell_bytes(
    profile: &ModelProfile,
    dt: KvDtype,
    v_cache: bool,
    l: usize,
) -> (u64, u64) {
    let k = dt.bytes_for(profile.shape.n_embd_k_gqa(l));
    let v = if v_cache {
        dt.bytes_for(profile.shape.n_embd_v_gqa(l))
    } else {
        0
    };
    (k, v)
}

/// KV cache bytes of blocks `layers` (K, V).
pub(crate) fn kv_bytes(
    profile: &ModelProfile,
    config: &RunConfig,
    geo: &KvGeometry,
    layers: impl IntoIterator<Item = usize>,
) -> (u64, u64) {
    let mut k = 0u64;
    let mut v = 0u64;
    for l in layers {
        let cells = geo.streams
            * if profile.shape.is_swa(l) {
                geo.swa_cells
            } else {
                geo.cells
            };
        let (ck, cv) = cell_bytes(profile, config.kv_dtype, geo.v_cache, l);
        k += ck.saturating_mul(cells);
        v += cv.saturating_mul(cells);
    }
    (k, v)
}

/// KV cache bytes (K and V) of the blocks `layers`.
pub fn kv_bytes_of(
    profile: &ModelProfile,
    config: &RunConfig,
    geo: &KvGeometry,
    layers: impl IntoIterator<Item = usize>,
) -> u64 {
    let (k, v) = kv_bytes(profile, config, geo, layers);
    k + v
}
