//! Causal multi-head attention with grouped KV heads over the KV cache.

use crate::kv_cache::{KvElem, KvStore};
use crate::threads::pool;

/// Where one row (token) of a step sits: its sequence and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPos {
    /// Sequence index in the batch (cache slot).
    pub seq: usize,
    /// Position in the sequence.
    pub pos: usize,
}

/// Shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (divides `heads`).
    pub kv_heads: usize,
    /// Width of each head.
    pub head_dim: usize,
    /// Positions per sequence in the cache.
    pub ctx: usize,
}

/// Attention of every row of `q` (`rows x heads x head_dim`, already rotated) against the
/// cached keys/values of its sequence at positions `0..=pos` (the rows' own K/V must be in
/// the cache already). Returns `rows x heads x head_dim`.
///
/// The score buffer holds `rows x heads x kv_len` f32 where `kv_len` is the longest
/// `pos + 1` among the rows: for a prefill chunk of `batch x ubatch` rows that is
/// `batch x heads x ubatch x kv_len`, live until the outputs are written.
pub fn attention(q: &[f32], rows: &[RowPos], k: &KvStore, v: &KvStore, s: AttnShape) -> Vec<f32> {
    match (k, v) {
        (KvStore::F32(k), KvStore::F32(v)) => attention_typed(q, rows, k, v, s),
        (KvStore::F16(k), KvStore::F16(v)) => attention_typed(q, rows, k, v, s),
        // The cache always allocates K and V with one dtype.
        _ => unreachable!("K and V of one layer share a dtype"),
    }
}

fn attention_typed<T: KvElem>(
    q: &[f32],
    rows: &[RowPos],
    k: &[T],
    v: &[T],
    s: AttnShape,
) -> Vec<f32> {
    use rayon::prelude::*;
    let hd = s.head_dim;
    let group = s.heads / s.kv_heads.max(1);
    let kv_dim = s.kv_heads * hd;
    let kv_len = rows.iter().map(|r| r.pos + 1).max().unwrap_or(0);
    let mut out = vec![0f32; q.len()];
    let mut scores = vec![0f32; rows.len() * s.heads * kv_len];
    let scale = 1.0 / (hd as f32).sqrt();
    pool().install(|| {
        scores
            .par_chunks_mut(kv_len.max(1))
            .zip(out.par_chunks_mut(hd))
            .enumerate()
            .for_each(|(i, (sc, o))| {
                let (row, head) = (i / s.heads, i % s.heads);
                let rp = rows[row];
                let qh = &q[(row * s.heads + head) * hd..(row * s.heads + head + 1) * hd];
                let kvh = head / group;
                let n = rp.pos + 1;
                let base = rp.seq * s.ctx * kv_dim + kvh * hd;
                let mut max = f32::NEG_INFINITY;
                for (j, slot) in sc[..n].iter_mut().enumerate() {
                    let kr = &k[base + j * kv_dim..base + j * kv_dim + hd];
                    let d: f32 = qh.iter().zip(kr).map(|(a, b)| a * b.get()).sum();
                    *slot = d * scale;
                    max = max.max(*slot);
                }
                let mut sum = 0f32;
                for slot in sc[..n].iter_mut() {
                    *slot = (*slot - max).exp();
                    sum += *slot;
                }
                let inv = 1.0 / sum;
                for (j, &p) in sc[..n].iter().enumerate() {
                    let vr = &v[base + j * kv_dim..base + j * kv_dim + hd];
                    let w = p * inv;
                    for (acc, x) in o.iter_mut().zip(vr) {
                        *acc += w * x.get();
                    }
                }
            });
    });
    out
}
