//! Every per-backend term of the analytic model, in one place.
//!
//! The analytic estimate is structural: it knows which buffers a runtime keeps and how
//! their sizes scale with the model and the configuration. What it cannot know from first
//! principles (the process baseline, the CUDA context, how many f32 copies of the
//! attention scores are live at once) is a constant here. Calibration then corrects each
//! component by a fitted factor; these constants are only the starting point.

use serde::{Deserialize, Serialize};

/// The memory behaviour of one runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendModel {
    /// Name used in records and calibration tables.
    pub name: String,
    /// Resident bytes of the process beyond its buffers: binary, libc, allocator arenas,
    /// runtime statics and the worker threads' stacks. Deliberately not a function of the
    /// machine's core count, so that an estimate is the same wherever it is computed;
    /// calibration fits the real figure per machine class.
    pub host_base_bytes: u64,
    /// Whether loading keeps one transient copy of a tensor beside its final storage.
    pub load_transient_copy: bool,
    /// f32 copies of the attention scores `batch x heads x ubatch x kv_len` live at the
    /// peak of a prefill step (scores, masked scores, softmax output).
    pub score_copies: u32,
    /// f32 copies of the whole K and V of one layer materialised for the attention matmul
    /// (dtype conversion of the cache view, GQA head expansion).
    pub kv_f32_copies_per_head: u32,
    /// f32 vectors of width `hidden` per chunk token live at the peak (residual stream,
    /// normalised input, attention output, projection output).
    pub hidden_vectors: u32,
    /// f32 vectors of width `ffn` per chunk token live in the feed-forward block
    /// (gate, up, their product).
    pub ffn_vectors: u32,
    /// Bytes of the CUDA context and library handles (cuBLAS workspace, cuRAND) on the
    /// device, charged once per device used.
    pub cuda_context_bytes: u64,
    /// Host bytes the CUDA driver and libraries add to the process (mapped libraries,
    /// pinned staging buffers).
    pub cuda_host_bytes: u64,
}

impl BackendModel {
    /// The reference runtime (`memcal-candle`): the profiler crate's runtime on candle-core.
    /// See ARCHITECTURE.md, "The reference runtime's memory behaviour".
    pub fn memcal_candle() -> BackendModel {
        BackendModel {
            name: "memcal-candle".into(),
            host_base_bytes: 12 << 20,
            load_transient_copy: true,
            score_copies: 2,
            kv_f32_copies_per_head: 2,
            hidden_vectors: 4,
            ffn_vectors: 3,
            cuda_context_bytes: 520 << 20,
            cuda_host_bytes: 280 << 20,
        }
    }
}

impl Default for BackendModel {
    fn default() -> Self {
        BackendModel::memcal_candle()
    }
}
