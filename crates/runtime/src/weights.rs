//! The host weights of one transformer block, as loaded: what the host forward
//! ([`crate::model`]) runs and what a device block ([`crate::device::layer`]) is uploaded
//! from. Below both, so that neither imports the other for it.

use crate::matrix::Matrix;

/// One transformer block's weights.
#[derive(Debug)]
pub struct Layer {
    /// Pre-attention RMS norm.
    pub attn_norm: Vec<f32>,
    /// Query projection.
    pub wq: Matrix,
    /// Key projection.
    pub wk: Matrix,
    /// Value projection.
    pub wv: Matrix,
    /// Attention output projection.
    pub wo: Matrix,
    /// Query, key, value biases (qwen2).
    pub bq: Option<Vec<f32>>,
    /// Key bias.
    pub bk: Option<Vec<f32>>,
    /// Value bias.
    pub bv: Option<Vec<f32>>,
    /// BitNet: RMS norm of the attention output before `wo`.
    pub attn_sub_norm: Option<Vec<f32>>,
    /// Pre-FFN RMS norm.
    pub ffn_norm: Vec<f32>,
    /// FFN gate projection.
    pub gate: Matrix,
    /// FFN up projection.
    pub up: Matrix,
    /// FFN down projection.
    pub down: Matrix,
    /// BitNet: RMS norm of the gated FFN hidden state before `down`.
    pub ffn_sub_norm: Option<Vec<f32>>,
}
