//! The KV cache of the blocks that run on a device: preallocated and zero-filled at once
//! (on CUDA an allocation plus a memset, so resident from the start), written in place.

use crate::error::{Result, RuntimeError};
use candle_core::{DType, Device, Tensor};
use predictor::KvDtype;

/// K and V of one device block: `batch x ctx` rows of `kv_dim` elements each, position-major
/// per sequence (row `seq * ctx + pos`), as on the host.
#[derive(Debug)]
pub struct DeviceKv {
    /// Keys.
    pub k: Tensor,
    /// Values.
    pub v: Tensor,
}

/// The candle dtype of a KV element type the runtime supports.
pub fn kv_dtype(dtype: KvDtype) -> Result<DType> {
    match dtype {
        KvDtype::F32 => Ok(DType::F32),
        KvDtype::F16 => Ok(DType::F16),
        other => Err(RuntimeError::Invalid(format!(
            "the reference runtime keeps its KV cache in f32 or f16 ({other} is not supported)"
        ))),
    }
}

impl DeviceKv {
    /// Allocates one block's K and V for `batch x ctx` positions.
    pub fn new(
        dev: &Device,
        batch: usize,
        ctx: usize,
        kv_dim: usize,
        dtype: KvDtype,
    ) -> Result<DeviceKv> {
        let dt = kv_dtype(dtype)?;
        let rows = batch
            .checked_mul(ctx)
            .ok_or_else(|| RuntimeError::Invalid(format!("KV cache {batch} x {ctx} overflows")))?;
        Ok(DeviceKv {
            k: Tensor::zeros((rows, kv_dim), dt, dev)?,
            v: Tensor::zeros((rows, kv_dim), dt, dev)?,
        })
    }

    /// Bytes of K and V.
    pub fn bytes(&self) -> u64 {
        let b = |t: &Tensor| (t.elem_count() * t.dtype().size_in_bytes()) as u64;
        b(&self.k) + b(&self.v)
    }
}
