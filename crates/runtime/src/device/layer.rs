//! One transformer block on a device: its weights and its forward step.

use crate::device::attention::{self, DeviceStep};
use crate::device::kv::DeviceKv;
use crate::device::matrix::{DeviceInput, DeviceMatrix};
use crate::error::Result;
use crate::ops::Activation;
use crate::weights::Layer;
use candle_core::{Device, Tensor};

/// A 1-D weight (norm, bias) as an f32 tensor.
pub fn vector(v: &[f32], dev: &Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(v, v.len(), dev)?)
}

fn opt_vector(v: &Option<Vec<f32>>, dev: &Device) -> Result<Option<Tensor>> {
    v.as_deref().map(|v| vector(v, dev)).transpose()
}

/// RMS norm of each row of `x` times `w` (candle-nn's fused kernel).
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f32) -> Result<Tensor> {
    Ok(candle_nn::ops::rms_norm(x, w, eps)?)
}

/// A block's weights on a device.
#[derive(Debug)]
pub struct DeviceLayer {
    attn_norm: Tensor,
    wq: DeviceMatrix,
    wk: DeviceMatrix,
    wv: DeviceMatrix,
    wo: DeviceMatrix,
    bq: Option<Tensor>,
    bk: Option<Tensor>,
    bv: Option<Tensor>,
    attn_sub_norm: Option<Tensor>,
    ffn_norm: Tensor,
    gate: DeviceMatrix,
    up: DeviceMatrix,
    down: DeviceMatrix,
    ffn_sub_norm: Option<Tensor>,
}

impl DeviceLayer {
    /// Copies a host block to `dev` (`table`: the device's I2_S code table).
    pub fn upload(l: &Layer, dev: &Device, table: &Tensor) -> Result<DeviceLayer> {
        let m = |w| DeviceMatrix::upload(w, dev, table);
        Ok(DeviceLayer {
            attn_norm: vector(&l.attn_norm, dev)?,
            wq: m(&l.wq)?,
            wk: m(&l.wk)?,
            wv: m(&l.wv)?,
            wo: m(&l.wo)?,
            bq: opt_vector(&l.bq, dev)?,
            bk: opt_vector(&l.bk, dev)?,
            bv: opt_vector(&l.bv, dev)?,
            attn_sub_norm: opt_vector(&l.attn_sub_norm, dev)?,
            ffn_norm: vector(&l.ffn_norm, dev)?,
            gate: m(&l.gate)?,
            up: m(&l.up)?,
            down: m(&l.down)?,
            ffn_sub_norm: opt_vector(&l.ffn_sub_norm, dev)?,
        })
    }

    /// Bytes of the block's weights on the device.
    pub fn bytes(&self) -> u64 {
        let t = |t: &Tensor| (t.elem_count() * t.dtype().size_in_bytes()) as u64;
        let ot = |o: &Option<Tensor>| o.as_ref().map_or(0, t);
        [
            &self.wq, &self.wk, &self.wv, &self.wo, &self.gate, &self.up, &self.down,
        ]
        .iter()
        .map(|m| m.bytes() as u64)
        .sum::<u64>()
            + t(&self.attn_norm)
            + t(&self.ffn_norm)
            + ot(&self.bq)
            + ot(&self.bk)
            + ot(&self.bv)
            + ot(&self.attn_sub_norm)
            + ot(&self.ffn_sub_norm)
    }

    /// One step of the block over `x` (`rows x hidden` f32): attention (writing the step's
    /// K and V into `kv`) and the feed-forward block, each added to the residual.
    pub fn forward(&self, x: Tensor, kv: &DeviceKv, step: &DeviceStep<'_>) -> Result<Tensor> {
        let hp = step.hp;
        let eps = hp.rms_eps;
        let input = DeviceInput::new(rms_norm(&x, &self.attn_norm, eps)?);
        let with_bias = |t: Tensor, b: &Option<Tensor>| -> Result<Tensor> {
            Ok(match b {
                Some(b) => t.broadcast_add(b)?,
                None => t,
            })
        };
        let q = with_bias(self.wq.forward(&input)?, &self.bq)?;
        let k = with_bias(self.wk.forward(&input)?, &self.bk)?;
        let v = with_bias(self.wv.forward(&input)?, &self.bv)?;
        drop(input);
        let a = attention::attention(&q, &k, &v, kv, step)?;
        drop((q, k, v));
        let a = match &self.attn_sub_norm {
            Some(w) => rms_norm(&a, w, eps)?,
            None => a,
        };
        let o = self.wo.forward(&DeviceInput::new(a))?;
        let x = (x + o)?;
        let input = DeviceInput::new(rms_norm(&x, &self.ffn_norm, eps)?);
        let g = self.gate.forward(&input)?;
        let u = self.up.forward(&input)?;
        drop(input);
        let g = match hp.arch.activation() {
            Activation::Silu => g.silu()?,
            Activation::Relu2 => g.relu()?.sqr()?,
        };
        let g = (g * u)?;
        let g = match &self.ffn_sub_norm {
            Some(w) => rms_norm(&g, w, eps)?,
            None => g,
        };
        let d = self.down.forward(&DeviceInput::new(g))?;
        Ok((x + d)?)
    }
}
