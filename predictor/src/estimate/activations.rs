//! Peak activation and workspace bytes of one step (the last prefill chunk, which attends
//! to the whole context, is the worst case; a decode step is the same with one token).
//!
//! The structure follows the reference runtime: within a layer the attention block and the
//! feed-forward block are not live at the same time, the residual stream is; logits are
//! computed for the last position of each sequence only.

use crate::backend::BackendModel;
use crate::config::RunConfig;
use crate::profile::ModelProfile;

const F32: u64 = 4;

/// The terms of the activation peak, in bytes, for reports and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActivationTerms {
    /// Residual stream and other hidden-width vectors of the chunk.
    pub hidden: u64,
    /// Attention block: new q/k/v, scores, f32 K/V views, attention output.
    pub attention: u64,
    /// Feed-forward block: gate/up/product vectors and the int8 activation buffer.
    pub ffn: u64,
    /// Logits of the last position of each sequence.
    pub logits: u64,
}

impl ActivationTerms {
    /// The peak: hidden + the larger block + logits.
    pub fn peak(&self) -> u64 {
        self.hidden
            .saturating_add(self.attention.max(self.ffn))
            .saturating_add(self.logits)
    }
}

/// Activation terms for a configuration (kv length = the full context).
pub fn terms(
    profile: &ModelProfile,
    config: &RunConfig,
    backend: &BackendModel,
) -> ActivationTerms {
    let b = config.batch as u64;
    let u = config.effective_ubatch() as u64;
    let t = b.saturating_mul(u);
    let kv_len = config.ctx as u64;
    let h = profile.hidden;
    let nh = profile.n_heads as u64;
    let nkv = profile.max_kv_heads() as u64;
    let dk = profile.head_dim_k as u64;
    let dv = profile.head_dim_v as u64;
    let active = profile.experts.map(|e| e.active.max(1) as u64).unwrap_or(1);
    let ffn = profile.ffn.saturating_mul(active);

    let mul = |xs: &[u64]| xs.iter().fold(1u64, |a, &x| a.saturating_mul(x));
    let hidden = mul(&[backend.hidden_vectors as u64, t, h, F32]);
    let qkv_new = mul(&[t, nh * dk + nkv * (dk + dv), F32]);
    let scores = mul(&[backend.score_copies as u64, b, nh, u, kv_len, F32]);
    let kv_views = mul(&[
        backend.kv_f32_copies_per_head as u64,
        b,
        nh,
        kv_len,
        dk.max(dv),
        F32,
    ]);
    let attn_out = mul(&[t, nh * dv, F32]);
    let attention = qkv_new
        .saturating_add(scores)
        .saturating_add(kv_views)
        .saturating_add(attn_out);
    // int8 activations with an f32 scale and an i32 sum per row (bitnet.cpp's I8_S layout).
    let quant = t.saturating_mul(h.max(ffn)).saturating_add(8 * t);
    let ffn_bytes = mul(&[backend.ffn_vectors as u64, t, ffn, F32]).saturating_add(quant);
    let logits = mul(&[b, profile.vocab, F32]);
    ActivationTerms {
        hidden,
        attention,
        ffn: ffn_bytes,
        logits,
    }
}
