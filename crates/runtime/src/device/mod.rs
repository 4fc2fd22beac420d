//! The reference runtime's forward pass on candle tensors, on any candle device: CUDA on a
//! GPU box, and candle's CPU device in tests, where it is checked against the host forward.
//!
//! With `--gpu-layers N` (all blocks by default on CUDA) the *last* `N` blocks run here and
//! the first ones on the host path, as in llama.cpp; the hidden state (`rows x hidden` f32)
//! is copied up at the boundary. The token embedding stays on the host (a lookup needs a
//! few rows, dequantized there and uploaded). The final norm and the output projection run
//! on the device when every block does (a tied embedding is then copied to the device as
//! the output projection), on the host otherwise.
//!
//! # What is resident on the device, and when
//!
//! - **Weights**: each offloaded block at its stored size (quantized classic types plus
//!   candle's per-tensor padding of 512 elements of blocks; F32/F16/BF16 in their dtype;
//!   I2_S packed), norms and biases as f32; plus the head when it is here.
//! - **Load**: every tensor is first read into host memory as on the CPU (the host holds
//!   the whole model at the end of the read), then each offloaded block is copied up and
//!   its host copy dropped.
//! - **KV cache** ([`kv::DeviceKv`]): for each offloaded block, K and V of
//!   `batch x ctx x kv_dim` in f32 or f16, zero-filled at allocation.
//! - **A step**: the residual `R x H` f32 throughout; per block the normed input, q, k, v,
//!   the attention of one sequence at a time ([`attention`] lists its buffers), the
//!   feed-forward's gate and up (`R x F` each); an I2_S product holds its matrix unpacked as
//!   f32 (`rows x cols x 4` bytes) while it runs; candle's quantized matmuls keep a
//!   workspace of the quantized input that grows to the largest seen.
//! - **CUDA context**: the primary context, candle's cuBLAS and cuRAND handles, the kernel
//!   modules loaded on first use, cuBLAS's workspace.
//!
//! Freed device buffers return to CUDA's stream-ordered pool, which keeps them for reuse.

pub mod attention;
pub mod kv;
pub mod layer;
pub mod matrix;
pub mod parity;

use crate::error::{Result, RuntimeError};
use crate::hparams::HParams;
use crate::matrix::Matrix;
use crate::ops::Rope;
use attention::{DeviceStep, RopeTables};
use candle_core::{Device, Tensor};
use kv::DeviceKv;
use layer::{rms_norm, vector, DeviceLayer};
use matrix::{DeviceInput, DeviceMatrix};

/// The final norm and output projection on the device.
#[derive(Debug)]
pub struct DeviceHead {
    norm: Tensor,
    output: DeviceMatrix,
}

impl DeviceHead {
    /// Copies the final norm and the output projection to `dev`.
    pub fn upload(norm: &[f32], output: &Matrix, dev: &Device, table: &Tensor) -> Result<Self> {
        Ok(DeviceHead {
            norm: vector(norm, dev)?,
            output: DeviceMatrix::upload(output, dev, table)?,
        })
    }

    /// Bytes on the device.
    pub fn bytes(&self) -> u64 {
        (self.norm.elem_count() * 4 + self.output.bytes()) as u64
    }
}

/// The blocks (and possibly the head) that run on a device.
#[derive(Debug)]
pub struct DevicePart {
    /// The device.
    pub device: Device,
    /// The offloaded blocks, in order; they follow the host's blocks.
    pub layers: Vec<DeviceLayer>,
    /// The head, when every block is here.
    pub head: Option<DeviceHead>,
}

impl DevicePart {
    /// Bytes of the weights on the device.
    pub fn weight_bytes(&self) -> u64 {
        self.layers.iter().map(DeviceLayer::bytes).sum::<u64>()
            + self.head.as_ref().map_or(0, DeviceHead::bytes)
    }

    /// Allocates the KV cache of the offloaded blocks.
    pub fn alloc_cache(
        &self,
        batch: usize,
        ctx: usize,
        kv_dim: usize,
        dtype: predictor::KvDtype,
    ) -> Result<Vec<DeviceKv>> {
        self.layers
            .iter()
            .map(|_| DeviceKv::new(&self.device, batch, ctx, kv_dim, dtype))
            .collect()
    }

    /// Runs the offloaded blocks over `x` (`rows x hidden` f32 from the host) for rows at
    /// `(seq, pos)`. With the head here, returns the logits of rows `want` (`want.len() x
    /// vocab`); otherwise the hidden state after the last block (`rows x hidden`).
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        hp: &HParams,
        rope: &Rope,
        kv: &[DeviceKv],
        ctx: usize,
        x: Vec<f32>,
        rows: &[(usize, usize)],
        want: &[usize],
    ) -> Result<Vec<f32>> {
        if kv.len() != self.layers.len() {
            return Err(RuntimeError::Invalid(format!(
                "a device cache of {} blocks for {} device blocks",
                kv.len(),
                self.layers.len()
            )));
        }
        let dev = &self.device;
        let runs = attention::runs(rows);
        let ropes = runs
            .iter()
            .map(|r| RopeTables::new(rope, r.pos0, r.n, dev))
            .collect::<Result<Vec<_>>>()?;
        let step = DeviceStep {
            hp,
            rope,
            ctx,
            runs: &runs,
            ropes: &ropes,
        };
        let mut x = Tensor::from_vec(x, (rows.len(), hp.hidden), dev)?;
        for (l, kv) in self.layers.iter().zip(kv) {
            x = l.forward(x, kv, &step)?;
        }
        let Some(head) = &self.head else {
            return Ok(x.flatten_all()?.to_vec1::<f32>()?);
        };
        let ids: Vec<u32> = want.iter().map(|&r| r as u32).collect();
        let ids = Tensor::from_vec(ids, want.len(), dev)?;
        let last = x.index_select(&ids, 0)?;
        drop(x);
        let last = DeviceInput::new(rms_norm(&last, &head.norm, hp.rms_eps)?);
        Ok(head
            .output
            .forward(&last)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }
}
