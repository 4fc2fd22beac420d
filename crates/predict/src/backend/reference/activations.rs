//! Peak activation and workspace bytes of one step (the last prefill chunk, which attends
//! to the whole context, is the worst case; a decode step is the same with one row per
//! sequence).
//!
//! The structure follows the reference runtime (profiler/src/runtime/mod.rs documents the
//! live buffers): the residual stream lives through the step; the attention block, the
//! feed-forward block and the logits are not live at the same time; at the attention peak
//! q, the attention output and the scores are live (the output projection runs after q and
//! the scores are freed); logits are computed for the last position of each sequence only;
//! quantized matmuls keep a growing per-thread buffer of the quantized input.

use super::constants::Constants;
use crate::config::RunConfig;
use crate::profile::ModelProfile;
use crate::weight_type::WeightType;

const F32: u64 = 4;

/// The terms of the activation peak, in bytes, for reports and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActivationTerms {
    /// Residual stream of the step's rows.
    pub residual: u64,
    /// Attention block at its peak: q, attention output, scores, output projection.
    pub attention: u64,
    /// Feed-forward block at its peak: normalised input, gate and up, int8 copies.
    pub ffn: u64,
    /// Logits of the last position of each sequence.
    pub logits: u64,
    /// Quantized-input buffer kept by quantized matmuls.
    pub vec_dot: u64,
}

impl ActivationTerms {
    /// The peak: residual + the largest of the attention block, the feed-forward block and
    /// the logits (which come after the last block, when the blocks' buffers are freed) +
    /// the kept matmul buffer.
    pub fn peak(&self) -> u64 {
        self.residual
            .saturating_add(self.attention.max(self.ffn).max(self.logits))
            .saturating_add(self.vec_dot)
    }
}

/// Bytes per element of the quantized input a matmul against `weight_type` builds
/// (ggml's vec-dot type): Q8_0 blocks for the 32-element types, Q8_K for k-quants; none
/// for F32/F16/BF16 (the runtime's dense kernel reads f32 activations directly) and for the
/// ternary types (their int8 copies are counted in the blocks).
fn vec_dot_bytes_per_elem(weight_type: Option<WeightType>) -> f64 {
    match weight_type.as_ref().map_or("", WeightType::name) {
        "F32" | "F16" | "BF16" | "I2_S" | "TL1" | "TL2" | "" => 0.0,
        t if t.ends_with("_K") => 292.0 / 256.0,
        _ => 34.0 / 32.0,
    }
}

/// The steps of a run that can hold its activation peak, as (rows per sequence, KV length
/// attended): prefill runs in micro-batches of `ubatch` tokens after a cached prefix of
/// `ctx - prompt - decode` positions (the profiler's runs reach the full context that
/// way; in the planning case the prompt fills the context and there is no prefix), so a
/// context that is not a multiple of the micro-batch ends with a shorter chunk. The first
/// chunk, the last full chunk, the last partial chunk and a decode step at the end of the
/// context bound every other step.
pub fn schedule(config: &RunConfig) -> Vec<(u64, u64)> {
    let ctx = config.ctx as u64;
    let ub = config.effective_ubatch() as u64;
    let decode = config.decode as u64;
    let prompt = config.prompt_tokens() as u64;
    let prefix = ctx.saturating_sub(prompt + decode);
    let full = prompt / ub;
    let rest = prompt % ub;
    let mut steps = Vec::new();
    if full > 0 {
        steps.push((ub, prefix + ub));
        steps.push((ub, prefix + full * ub));
    }
    if rest > 0 {
        steps.push((rest, prefix + prompt));
    }
    steps.push((1, ctx));
    steps
}

/// Activation terms of the step of a configuration's schedule ([`schedule`]) with the
/// largest peak.
pub fn terms(profile: &ModelProfile, config: &RunConfig, backend: &Constants) -> ActivationTerms {
    worst_step(config, |rows, kv_len| {
        terms_at(profile, config, backend, rows, kv_len)
    })
}

/// The terms of the step of `config`'s schedule with the largest peak, `at(rows per
/// sequence, KV length)` giving each step's terms.
fn worst_step(config: &RunConfig, at: impl Fn(u64, u64) -> ActivationTerms) -> ActivationTerms {
    schedule(config)
        .into_iter()
        .map(|(rows, kv_len)| at(rows, kv_len))
        .max_by_key(|t| t.peak())
        .unwrap_or_default()
}

/// Activation terms of one step: `rows_per_seq` rows of every sequence attending over
/// `kv_len` positions.
pub fn terms_at(
    profile: &ModelProfile,
    config: &RunConfig,
    backend: &Constants,
    rows_per_seq: u64,
    kv_len: u64,
) -> ActivationTerms {
    let b = config.batch as u64;
    let rows = b.saturating_mul(rows_per_seq);
    let h = profile.shape.hidden;
    let nh = profile.shape.n_heads as u64;
    let q = nh * profile.shape.head_dim_k.max(profile.shape.head_dim_v) as u64;
    let active = profile
        .shape
        .experts
        .map(|e| e.active.max(1) as u64)
        .unwrap_or(1);
    let ffn = profile.shape.ffn.saturating_mul(active);
    let mul = |xs: &[u64]| xs.iter().fold(1u64, |a, &x| a.saturating_mul(x));
    // The weight type by the current rule (stored profiles may predate it).
    let weight_type = crate::profile::weight_type(&profile.by_type);
    let ternary = weight_type.is_some_and(|t| matches!(t.name(), "I2_S" | "TL1" | "TL2"));

    let residual = mul(&[backend.residual_vectors as u64, rows, h, F32]);
    let attention = mul(&[backend.attn_hidden_vectors as u64, rows, h, F32])
        .saturating_add(mul(&[backend.attn_q_vectors as u64, rows, q, F32]))
        .saturating_add(mul(&[backend.score_copies as u64, rows, nh, kv_len, F32]))
        .saturating_add(mul(&[
            backend.kv_f32_copies_per_head as u64,
            b,
            q,
            kv_len,
            F32,
        ]));
    // int8 copy of the FFN input for ternary matmuls.
    let int8 = if ternary { rows.saturating_mul(h) } else { 0 };
    let ffn_bytes = mul(&[backend.ffn_hidden_vectors as u64, rows, h, F32])
        .saturating_add(mul(&[backend.ffn_vectors as u64, rows, ffn, F32]))
        .saturating_add(int8);
    let logits = mul(&[backend.logit_copies as u64, b, profile.shape.vocab, F32])
        .saturating_add(mul(&[b, h, F32]));
    let vec_dot = if backend.keeps_vec_dot_buffer {
        let per = vec_dot_bytes_per_elem(weight_type);
        (rows.saturating_mul(h.max(ffn)) as f64 * per).ceil() as u64
    } else {
        0
    };
    ActivationTerms {
        residual,
        attention,
        ffn: ffn_bytes,
        logits,
        vec_dot,
    }
}

/// Activation terms of the reference runtime's device (tensor) forward pass for the step
/// of a configuration's schedule with the largest peak: the GPU side of a CUDA run. See
/// [`device_terms_at`].
pub fn device_terms(profile: &ModelProfile, config: &RunConfig) -> ActivationTerms {
    worst_step(config, |rows, kv_len| {
        device_terms_at(profile, config, rows, kv_len)
    })
}

/// Activation terms of one step of the device forward pass (profiler
/// `runtime::device`): `rows_per_seq` rows of every sequence attending over `kv_len`.
///
/// - residual: the hidden state of the step's rows, `R x H` f32;
/// - attention: q, k, v of the step (`R x (Q + 2 D)`), then per sequence the cached K and V
///   copied out as f32 (`2 x L x D`), the scores and probabilities (`2 x nh x n x L`) and the
///   outputs of the step (`2 x R x Q`: per sequence, then concatenated), with an I2_S
///   projection's unpacked matrix while it runs;
/// - feed-forward: the normed input, gate and up (`R x H + 2 R x F`), or the activation's
///   three `R x F` buffers, plus an I2_S projection's int8 input (as f32) and its unpacked
///   matrix (`F x H x 4`);
/// - logits: the last row of each sequence, normed, and its `vocab` logits;
/// - vec_dot: candle's quantized-input workspace (`R x max(H, F)` Q8_1 blocks), kept.
pub fn device_terms_at(
    profile: &ModelProfile,
    config: &RunConfig,
    rows_per_seq: u64,
    kv_len: u64,
) -> ActivationTerms {
    let b = config.batch as u64;
    let n = rows_per_seq;
    let rows = b.saturating_mul(n);
    let h = profile.shape.hidden;
    let nh = profile.shape.n_heads as u64;
    let q = nh * profile.shape.head_dim_k.max(profile.shape.head_dim_v) as u64;
    let d = profile.shape.n_kv_heads.iter().copied().max().unwrap_or(0) as u64
        * profile.shape.head_dim_k.max(profile.shape.head_dim_v) as u64;
    let ffn = profile.shape.ffn;
    let mul = |xs: &[u64]| xs.iter().fold(1u64, |a, &x| a.saturating_mul(x));
    let weight_type = crate::profile::weight_type(&profile.by_type);
    let ternary = weight_type.is_some_and(|t| matches!(t.name(), "I2_S" | "TL1" | "TL2"));
    // The unpacked f32 matrix of the largest ternary projection (FFN or attention), and the
    // int8-as-f32 input of one.
    let unpacked = if ternary {
        mul(&[h, ffn.max(q), F32])
    } else {
        0
    };
    let int8_input = |width: u64| if ternary { mul(&[rows, width, F32]) } else { 0 };

    let residual = mul(&[rows, h, F32]);
    let attention = mul(&[rows, q + 2 * d, F32])
        .saturating_add(mul(&[2, kv_len, d, F32]))
        .saturating_add(mul(&[2, nh, n, kv_len, F32]))
        .saturating_add(mul(&[2, rows, q, F32]))
        .saturating_add(unpacked.min(mul(&[h, q, F32])));
    let gate_up = mul(&[rows, h, F32])
        .saturating_add(mul(&[2, rows, ffn, F32]))
        .saturating_add(int8_input(h))
        .saturating_add(unpacked);
    let activation = mul(&[3, rows, ffn, F32]);
    let down = mul(&[rows, ffn, F32])
        .saturating_add(int8_input(ffn))
        .saturating_add(unpacked)
        .saturating_add(mul(&[rows, h, F32]));
    let ffn_bytes = gate_up.max(activation).max(down);
    let logits = mul(&[b, profile.shape.vocab, F32]).saturating_add(mul(&[2, b, h, F32]));
    let vec_dot =
        if ternary || weight_type.is_some_and(|t| matches!(t.name(), "F32" | "F16" | "BF16")) {
            0
        } else {
            (rows.saturating_mul(h.max(ffn)) as f64 * 36.0 / 32.0).ceil() as u64
        };
    ActivationTerms {
        residual,
        attention,
        ffn: ffn_bytes,
        logits,
        vec_dot,
    }
}
