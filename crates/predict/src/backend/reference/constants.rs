//! Every constant of the reference runtime's analytic model, in one place.
//!
//! The analytic estimate is structural: it knows which buffers a runtime keeps and how
//! their sizes scale with the model and the configuration. What it cannot know from first
//! principles (the process baseline, the CUDA context, how many f32 copies of the
//! attention scores are live at once) is a constant here. Calibration then corrects each
//! component by a fitted factor; these constants are only the starting point.

use serde::{Deserialize, Serialize};

/// The memory behaviour of one runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constants {
    /// Name used in records and calibration tables.
    pub name: String,
    /// Resident bytes of the process beyond its buffers: binary, libc, allocator arenas,
    /// runtime statics and the worker threads' stacks. Deliberately not a function of the
    /// machine's core count, so that an estimate is the same wherever it is computed;
    /// calibration fits the real figure per machine class.
    pub host_base_bytes: u64,
    /// Whether loading reads each tensor into a buffer and converts it, briefly holding
    /// two copies (see `ModelProfile::sequential_load_peak_bytes`).
    pub load_transient_copy: bool,
    /// f32 vectors of width `hidden` per step row that live through the whole step
    /// (the residual stream).
    pub residual_vectors: u32,
    /// f32 vectors of width `hidden` per row live at the attention peak besides the
    /// residual (the output projection's result while the attention output is live).
    pub attn_hidden_vectors: u32,
    /// f32 vectors of width `heads x head_dim` per row live at the attention peak (q and the
    /// attention output).
    pub attn_q_vectors: u32,
    /// f32 copies of the attention scores, `rows x heads x kv_len`, live at the peak.
    pub score_copies: u32,
    /// f32 copies of one layer's whole K and V, `batch x heads x kv_len x head_dim` each,
    /// materialised for the attention matmul (0 when attention reads the cache in place).
    pub kv_f32_copies_per_head: u32,
    /// f32 vectors of width `hidden` per row live in the feed-forward block besides the
    /// residual (the normalised input).
    pub ffn_hidden_vectors: u32,
    /// f32 vectors of width `ffn` per row live in the feed-forward block (gate and up).
    pub ffn_vectors: u32,
    /// f32 `batch x vocab` buffers at the end of a step (the last rows' logits and the
    /// returned logits tensor).
    pub logit_copies: u32,
    /// Whether quantized matmuls keep a per-thread buffer of the quantized input that grows
    /// to the largest input seen and is never freed (candle's CPU `QMatMul`).
    pub keeps_vec_dot_buffer: bool,
}

impl Constants {
    /// The reference runtime (`memcal-candle`): the profiler crate's runtime on candle-core.
    /// See ARCHITECTURE.md, "The reference runtime's memory behaviour".
    pub fn memcal_candle() -> Constants {
        Constants {
            name: "memcal-candle".into(),
            // Measured (calibration-cpu sweep): 4.4 to 4.9 MiB before loading, and 5.3 to
            // 6.8 MiB beside the weights once loaded (worker threads started, header parsed);
            // of 5, 5.5 and 6 MiB, 5 and 5.5 validate alike on held-out shapes, 6 worse.
            host_base_bytes: 11 << 19,
            load_transient_copy: true,
            residual_vectors: 1,
            attn_hidden_vectors: 0,
            attn_q_vectors: 2,
            score_copies: 1,
            kv_f32_copies_per_head: 0,
            ffn_hidden_vectors: 1,
            ffn_vectors: 2,
            logit_copies: 2,
            keeps_vec_dot_buffer: true,
        }
    }
}

impl Default for Constants {
    fn default() -> Self {
        Constants::memcal_candle()
    }
}
