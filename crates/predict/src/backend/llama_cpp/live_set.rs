//! A graph's compute buffer estimated from its live set at its widest point (the residual
//! stream plus the larger of the attention block, the feed-forward block and the output
//! head) and the work buffer its matmuls convert their inputs into: the model where ggml's
//! allocator is not replayed (mixture-of-experts blocks, the fork, GPU offload).

use super::cparams::Cparams;
use super::graph::Graph;
use super::kv_cache::pad;
use crate::config::KvDtype;
use crate::profile::{BlockNorms, ModelProfile};
use crate::weight_type::WeightType;

const F32: u64 = 4;

/// Bytes per element of the matmul input conversion for a weight type (ggml's vec-dot
/// types: Q8_0 for 32-blocks, Q8_K for k-quants, F16 for F16, int8 for the I2_S kernels,
/// none for F32).
fn vec_dot_bytes_per_elem(weight_type: Option<WeightType>) -> f64 {
    match weight_type.as_ref().map_or("", WeightType::name) {
        "F32" | "" => 0.0,
        "F16" | "BF16" => 2.0,
        "I2_S" | "TL1" | "TL2" => 1.0,
        t if t.ends_with("_K") || t.starts_with("IQ") && t != "IQ4_NL" => 292.0 / 256.0,
        _ => 34.0 / 32.0,
    }
}

/// Bytes of the compute buffer a graph needs (the live set at its widest point: the
/// residual stream plus the larger of the attention block, the feed-forward block and
/// the output head) and of the work buffer its matmuls convert their input into.
pub fn graph_bytes(cp: &Cparams, g: Graph) -> u64 {
    let t = graph_terms(cp, g);
    GraphParts::from_terms(t, false).touched(true, true)
}

/// Bytes a run's graph touches in the compute buffer, which is laid out for the reserved
/// worst case ([`super::graph::reserved_graph`]). A graph of a full micro-batch is that layout. Where the
/// engine keeps the reserved layout for a smaller graph
/// ([`super::build::Family::keeps_reserved_layout`]), the graph writes a prefix of each tensor's slot
/// and touches about the sum of one layer's tensors rather than its live set.
pub fn touched_bytes(cp: &Cparams, g: Graph, reserved: Graph) -> u64 {
    graph_parts(cp, g, reserved).touched(true, true)
}

/// The parts of one graph's compute and work buffers, and how they add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphParts {
    /// The residual stream (and the norms' outputs written beside it).
    pub residual: u64,
    /// One block's attention: q, k, v, scores, masks, output.
    pub attention: u64,
    /// Of `attention`, the KV masks.
    pub mask: u64,
    /// One block's feed-forward.
    pub ffn: u64,
    /// The feed-forward activation's product as a tensor of its own (`t x ffn` f32): in
    /// place on the command line, not on an RPC worker (measured).
    pub ffn_product: u64,
    /// The output head: normed rows and logits of the outputs computed.
    pub head: u64,
    /// The work buffer the matmuls convert their input into.
    pub work: u64,
    /// Whether the graph is written into the reserved layout's slots (a smaller graph
    /// than reserved, where the engine keeps that layout): its tensors then add up
    /// rather than share memory.
    pub sum_layout: bool,
}

impl GraphParts {
    fn from_terms(t: GraphTerms, sum_layout: bool) -> GraphParts {
        GraphParts {
            residual: t.residual,
            attention: t.attention,
            mask: t.mask,
            ffn: t.ffn,
            ffn_product: t.ffn_product,
            head: t.head,
            work: t.work,
            sum_layout,
        }
    }

    /// Bytes touched on a device that computes blocks (`blocks`) and/or the output head
    /// (`output`); the residual stream always passes through.
    pub fn touched(&self, blocks: bool, output: bool) -> u64 {
        let block = match (blocks, self.sum_layout) {
            (false, _) => 0,
            (true, true) => self.attention + self.ffn,
            (true, false) => self.attention.max(self.ffn),
        };
        let head = if output { self.head } else { 0 };
        let live = if self.sum_layout {
            block + head
        } else {
            block.max(head)
        };
        let work = if blocks || output { self.work } else { 0 };
        self.residual + live + work
    }
}

/// The parts of graph `g` run in a compute buffer laid out for `reserved`.
pub fn graph_parts(cp: &Cparams, g: Graph, reserved: Graph) -> GraphParts {
    let sum_layout = cp.build.keeps_reserved_layout && g.tokens < reserved.tokens;
    GraphParts::from_terms(graph_terms(cp, g), sum_layout)
}

/// The parts of one graph's compute and work buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GraphTerms {
    residual: u64,
    attention: u64,
    mask: u64,
    ffn: u64,
    ffn_product: u64,
    head: u64,
    work: u64,
}

/// The norm rows of a block: from its tensors, or, for a profile stored before they were
/// recorded, from the architecture (Gemma's post-norms; Gemma 3, Qwen3 and OLMo2's q/k
/// norms), as those records were modelled.
pub(crate) fn block_norms(profile: &ModelProfile) -> BlockNorms {
    if let Some(n) = profile.block_norms {
        return n;
    }
    let arch = profile.shape.architecture.as_str();
    let post = matches!(arch, "gemma2" | "gemma3" | "gemma3n");
    let qk = matches!(arch, "gemma3" | "gemma3n" | "qwen3" | "qwen3moe" | "olmo2");
    BlockNorms {
        hidden: 2 + 2 * u32::from(post),
        q: qk,
        k: qk,
    }
}

fn graph_terms(cp: &Cparams, g: Graph) -> GraphTerms {
    let (profile, config) = (cp.profile, cp.config);
    let t = g.tokens;
    let k = g.n_kv;
    let d = profile.shape.hidden;
    let h = profile.shape.n_heads as u64;
    let hkv = profile.shape.max_kv_heads() as u64;
    let dk = profile.shape.head_dim_k as u64;
    let dv = profile.shape.head_dim_v as u64;
    let fa = cp.flash_attn;
    let norms = block_norms(profile);
    // The residual stream and one normalised row per residual-width norm beyond the two
    // every block has (post-norms, sub-norms).
    let residual = (2 + u64::from(norms.hidden.saturating_sub(2))) * t * d * F32;
    let qk_norm = (u64::from(norms.q) * h + u64::from(norms.k) * hkv) * dk;
    let qkv = t * (h * dk + hkv * (dk + dv)) * F32 + t * qk_norm * F32;
    // The score matrix; the allocator runs the softmax in place (one copy).
    let scores = if fa { 0 } else { k * t * h * F32 };
    // One mask, and a second one over the sliding-window cache where layers slide.
    let masks = 1 + u64::from(profile.shape.is_swa_any());
    let mask = masks * k * pad(t, cp.build.kq_mask_pad as u32) * if fa { 2 } else { F32 };
    let attn_out = 2 * t * h * dv * F32;
    let attention = qkv + scores + mask + attn_out;
    let wt = crate::profile::weight_type(&profile.by_type);
    let vec_dot = vec_dot_bytes_per_elem(wt);
    let (ffn, ffn_input) = match profile.shape.moe() {
        None => {
            let f = profile.shape.ffn;
            // Gate and up; the activation and the product run in place.
            ((2 * t * f + t * d) * F32, t * d.max(f))
        }
        Some(e) => {
            let used = e.active.max(1) as u64;
            let n = e.total as u64;
            let f = profile.shape.ffn * used;
            // Router: logits and probabilities over every expert, the top-k ids and
            // weights. Then the widest of the expert matmuls (`mul_mat_id`, one row per
            // token and used expert): gate and up with their input, or the activation
            // (in place of gate) with the down projection's output per used expert.
            let router = t * n * (2 * F32 + 4) + 2 * t * used * F32;
            let experts = t * (2 * f + d).max(f + d * used) * F32;
            // The down projection converts `tokens x used x ffn` inputs, and maps every
            // expert's rows (`mmid_row_mapping`, 8 bytes per expert, slot and token).
            let mapping = (n * used * t * 8) as f64 / vec_dot.max(1.0);
            (router + experts, t * d.max(f) + mapping.ceil() as u64)
        }
    };
    let head = g.outputs * (profile.shape.vocab + d) * F32;
    let input = (ffn_input as f64 * vec_dot).ceil() as u64;
    // Without flash attention the attention weights are converted to the cache type for
    // the product with V (the work buffer is sized to the largest conversion).
    let probs = if fa || config.kv_dtype == KvDtype::F32 {
        0
    } else {
        k * t * h * 2
    };
    GraphTerms {
        residual,
        attention,
        mask,
        ffn,
        // The activation's product (one row of `ffn x used experts` per token).
        ffn_product: t
            * profile.shape.ffn
            * profile.shape.experts.map_or(1, |e| e.active.max(1) as u64)
            * F32,
        head,
        work: input.max(probs),
    }
}
