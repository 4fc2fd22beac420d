//! The reference runtime: loads GGUF models of the llama, qwen2 and BitNet families and runs
//! them on the CPU (the host forward documented below) or, for the last `--gpu-layers`
//! blocks, on a candle device ([`device`]: CUDA with the `cuda` feature), with memory
//! behaviour simple enough to predict exactly (see ARCHITECTURE.md, "The reference
//! runtime's memory behaviour").
//!
//! # What is resident, and when
//!
//! Notation: `B` sequences (batch), `U` micro-batch (tokens per sequence in one prefill
//! step), `R` rows of a step (`B x U` in a prefill chunk when every prompt fills it, `B` in a
//! decode step), `H` hidden, `Q = heads x head_dim`, `D = kv_heads x head_dim`, `F` FFN
//! width, `V` vocab, `C` context, `L` = longest `pos + 1` among the step's rows (the KV length
//! attended), `nh` query heads. All activations are f32 (4 bytes) unless noted.
//!
//! **Weights** ([`Model::weight_bytes`]): each 2-D tensor at its stored size (classic ggml
//! types as candle `QTensor` blocks, I2_S/TL2 packed with their 32-byte tail), 1-D tensors
//! (norms, biases) as f32. The token embedding is also the output projection when tied.
//!
//! **Load**: tensors are read in file order, each into a heap buffer of its stored size.
//! Classic-type tensors are then copied into their `QTensor` storage and the buffer dropped
//! (transient: one copy of that tensor); I2_S and TL2 buffers become the storage themselves
//! (no copy); 1-D tensors are converted to f32 (small). Load peak = `max over classic
//! tensors i (bytes loaded before i + 2 x bytes(i))`, never more than weights + the largest
//! classic tensor. The file is never mapped (the header reader maps only to parse the header
//! and unmaps before any tensor is read).
//!
//! **KV cache** ([`KvCache`]): per layer, K and V of `B x C x D` elements in f32 or f16,
//! allocated and written at [`Model::alloc_cache`], so resident from then on:
//! `2 x n_layers x B x C x D x (4 | 2)` bytes.
//!
//! **One forward step** (prefill chunk or decode step) holds, besides weights and cache:
//! - the residual stream `x`: `R x H`, for the whole step;
//! - attention part: the normed input `R x H` and its int8 copy for ternary matmuls
//!   (`R x H` i8 + `R` f32 scales) while q, k, v are computed; `q` `R x Q`, `k` and `v`
//!   `R x D` each (k, v dropped once written to the cache); then the score buffer
//!   `R x nh x L` f32 and the attention output `R x Q` (q and scores dropped after); then
//!   `wo`'s output `R x H`;
//! - FFN part: the normed input `R x H` (+ `R x H` i8 for ternary), gate and up `R x F`
//!   each (up dropped after the activation), the int8 copy of the gated hidden state for a
//!   ternary `down` (`R x F` i8), down's output `R x H`;
//! - logits: the last rows `n x H` and `n x V` f32 (`n` = sequences whose last prompt token
//!   is in this step, `B` in decode), plus the `[B, V]` f32 result tensor of prefill.
//!
//! The peak of a step is the larger of the attention part
//! (`x + q + attn_out + scores = 4 (R H + 2 R Q + R nh L)` plus a transient `R x H` for
//! the `wo` output while `attn_out` is live) and the FFN part
//! (`x + normed + gate + up = 4 (2 R H + 2 R F) + R H` i8 while gate and up are computed;
//! then `x + gate + R x F i8 + R x H` for `down`), with `R = B x U` (or `B` in decode),
//! `L` = the cache length reached by the step. Classic-type matmuls additionally keep
//! candle's thread-local buffer of the quantized input (`R x K / block x vec-dot block
//! bytes`, e.g. Q8_0/Q8_K blocks; for F16 weights `R x K x 2`), which grows to the largest
//! input seen and is not freed. Ternary matmuls use one `K`-byte unpack buffer per thread.
//!
//! Threads: the runtime's kernels run on a fixed rayon pool ([`threads::pool`],
//! `MEMCAL_THREADS`); candle's matmuls on candle's pool (`CANDLE_NUM_THREADS`).
#![warn(missing_docs)]

pub mod allocator;
pub mod attention;
pub mod dense;
pub mod device;
pub mod error;
pub mod hparams;
pub mod kv_cache;
pub mod loader;
pub mod matrix;
pub mod model;
pub mod ops;
pub mod parallel;
pub mod reference;
pub mod ternary;
pub mod threads;
pub mod weights;

pub use error::{Result, RuntimeError};
pub use kv_cache::KvCache;
pub use model::{argmax, argmax_rows, Generation, LoadOptions, Model};
pub use threads::pool;
