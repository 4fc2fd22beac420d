//! Rotary embedding and causal attention over the device KV cache, one sequence at a time.
//!
//! A step's rows come in runs: the consecutive positions of one sequence (a prefill chunk
//! of `n <= ubatch` rows, or one decode row). For each run, on the device:
//! - q and k of the run are rotated (candle-nn's fused RoPE kernels) and k, v written into
//!   the cache at the run's positions;
//! - the cached K and V of positions `0..L` (`L = pos0 + n`) are copied out as f32,
//!   `kv_heads x L x head_dim` each;
//! - scores `heads x n x L` f32 (q pre-scaled by `1/sqrt(head_dim)`), plus a copy with the
//!   causal mask (`n x L` f32, uploaded) added when `n > 1`, then the softmax (a second
//!   `heads x n x L` buffer; the masked scores are freed after it);
//! - the output `n x heads x head_dim`.
//!
//! Peak of one run beyond q, k, v and the output: `2 x L x kv_dim x 4` (K, V as f32) +
//! `2 x heads x n x L x 4` (scores and probabilities) + `n x L x 4` (mask).

use crate::device::kv::DeviceKv;
use crate::error::{Result, RuntimeError};
use crate::hparams::HParams;
use crate::ops::Rope;
use candle_core::{DType, Device, Tensor};

/// Consecutive rows of one sequence in a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Sequence (cache slot).
    pub seq: usize,
    /// First row of the run in the step.
    pub row0: usize,
    /// Rows.
    pub n: usize,
    /// Position of the first row.
    pub pos0: usize,
}

/// Splits a step's rows (`(seq, pos)` each) into runs of consecutive positions of one
/// sequence.
pub fn runs(rows: &[(usize, usize)]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for (i, &(seq, pos)) in rows.iter().enumerate() {
        match out.last_mut() {
            Some(r) if r.seq == seq && r.pos0 + r.n == pos => r.n += 1,
            _ => out.push(Run {
                seq,
                row0: i,
                n: 1,
                pos0: pos,
            }),
        }
    }
    out
}

/// What every block of one step shares: shapes, the runs of rows and their RoPE tables.
pub struct DeviceStep<'a> {
    /// Model shapes.
    pub hp: &'a HParams,
    /// The rotary embedding.
    pub rope: &'a Rope,
    /// Positions per sequence in the cache.
    pub ctx: usize,
    /// Runs of consecutive rows of one sequence.
    pub runs: &'a [Run],
    /// cos/sin tables of each run.
    pub ropes: &'a [RopeTables],
}

/// cos and sin of one run's positions (`n x dims/2` f32 each), computed on the host as the
/// host RoPE does and uploaded.
pub struct RopeTables {
    cos: Tensor,
    sin: Tensor,
}

impl RopeTables {
    /// Tables for positions `pos0 .. pos0 + n`.
    pub fn new(rope: &Rope, pos0: usize, n: usize, dev: &Device) -> Result<RopeTables> {
        let half = rope.inv_freq.len();
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for pos in pos0..pos0 + n {
            for f in &rope.inv_freq {
                let a = pos as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Ok(RopeTables {
            cos: Tensor::from_vec(cos, (n, half), dev)?,
            sin: Tensor::from_vec(sin, (n, half), dev)?,
        })
    }

    /// Rotates `x` (`1 x heads x n x head_dim`, contiguous) over its first `rope.dims`
    /// dimensions.
    fn apply(&self, rope: &Rope, x: &Tensor) -> Result<Tensor> {
        let hd = x.dim(3)?;
        let rot = |t: &Tensor| -> Result<Tensor> {
            Ok(if rope.neox {
                candle_nn::rotary_emb::rope(t, &self.cos, &self.sin)?
            } else {
                candle_nn::rotary_emb::rope_i(t, &self.cos, &self.sin)?
            })
        };
        if rope.dims == hd {
            return rot(x);
        }
        let head = x.narrow(3, 0, rope.dims)?.contiguous()?;
        let tail = x.narrow(3, rope.dims, hd - rope.dims)?;
        Ok(Tensor::cat(&[&rot(&head)?, &tail], 3)?.contiguous()?)
    }
}

/// `t` rows `row0 .. row0 + n` (`n x heads*hd`) as `1 x heads x n x hd`.
fn heads_first(t: &Tensor, row0: usize, n: usize, heads: usize, hd: usize) -> Result<Tensor> {
    Ok(t.narrow(0, row0, n)?
        .reshape((n, heads, hd))?
        .transpose(0, 1)?
        .contiguous()?
        .unsqueeze(0)?)
}

/// `1 x heads x n x hd` back to `n x heads*hd`.
fn rows_first(t: &Tensor) -> Result<Tensor> {
    let (_, heads, n, hd) = t.dims4()?;
    Ok(t.squeeze(0)?
        .transpose(0, 1)?
        .contiguous()?
        .reshape((n, heads * hd))?)
}

/// The additive causal mask of a run: row `i` (position `pos0 + i`) sees positions
/// `0 ..= pos0 + i` of `len`.
fn causal_mask(pos0: usize, n: usize, len: usize, dev: &Device) -> Result<Tensor> {
    let mut m = vec![0f32; n * len];
    for (i, row) in m.chunks_exact_mut(len).enumerate() {
        for v in row.iter_mut().skip(pos0 + i + 1) {
            *v = f32::NEG_INFINITY;
        }
    }
    Ok(Tensor::from_vec(m, (n, len), dev)?)
}

/// Attention of every run of a step: rotates q and k, writes k and v into `kv`, and
/// returns the attention output (`rows x heads*hd` f32).
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    kv: &DeviceKv,
    step: &DeviceStep<'_>,
) -> Result<Tensor> {
    let (hp, rope, ctx) = (step.hp, step.rope, step.ctx);
    let (hd, kvh, heads) = (hp.head_dim, hp.kv_heads, hp.heads);
    let group = heads / kvh.max(1);
    let kv_dim = kvh * hd;
    let scale = 1.0 / (hd as f64).sqrt();
    let dev = q.device();
    let mut outs = Vec::with_capacity(step.runs.len());
    for (r, tables) in step.runs.iter().zip(step.ropes) {
        if r.pos0 + r.n > ctx {
            return Err(RuntimeError::Invalid(format!(
                "positions {}..{} of sequence {} exceed the cache of {}",
                r.pos0,
                r.pos0 + r.n,
                r.seq,
                ctx
            )));
        }
        let qs = tables.apply(rope, &heads_first(q, r.row0, r.n, heads, hd)?)?;
        let ks = tables.apply(rope, &heads_first(k, r.row0, r.n, kvh, hd)?)?;
        let at = r.seq * ctx + r.pos0;
        kv.k.slice_set(&rows_first(&ks)?.to_dtype(kv.k.dtype())?, 0, at)?;
        drop(ks);
        let vs = v
            .narrow(0, r.row0, r.n)?
            .to_dtype(kv.v.dtype())?
            .contiguous()?;
        kv.v.slice_set(&vs, 0, at)?;
        drop(vs);
        let len = r.pos0 + r.n;
        let cached = |t: &Tensor| -> Result<Tensor> {
            Ok(t.narrow(0, r.seq * ctx, len)?
                .to_dtype(DType::F32)?
                .reshape((len, kvh, hd))?
                .transpose(0, 1)?
                .contiguous()?)
        };
        let (kall, vall) = (cached(&kv.k)?, cached(&kv.v)?);
        debug_assert_eq!(kall.dims(), [kvh, len, kv_dim / kvh]);
        let qg = (qs * scale)?.reshape((kvh, group * r.n, hd))?;
        let scores = qg.matmul(&kall.t()?)?;
        drop((qg, kall));
        let scores = if r.n > 1 {
            let mask = causal_mask(r.pos0, r.n, len, dev)?;
            scores
                .reshape((kvh, group, r.n, len))?
                .broadcast_add(&mask)?
                .reshape((kvh, group * r.n, len))?
        } else {
            scores
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        drop(scores);
        let o = probs.matmul(&vall)?.reshape((1, heads, r.n, hd))?;
        outs.push(rows_first(&o)?);
    }
    if outs.len() == 1 {
        return Ok(outs.remove(0));
    }
    Ok(Tensor::cat(&outs, 0)?)
}
