//! A plain, slow, independent f32 forward pass for checking the runtime's numerics.
//!
//! Every weight is dequantized to f32 once; the forward runs the whole sequence with naive
//! loops (no KV cache, no chunking, no int8 activations, no candle matmul), in f64
//! accumulators, so that differences from [`crate::Model`] come only from the
//! runtime's activation quantization (int8 per row for I2_S/TL2, Q8 blocks in candle's
//! quantized matmul, f16 inputs for F16 weights) and its f32 arithmetic.

use crate::error::Result;
use crate::hparams::{Arch, HParams};
use crate::model::Model;

struct RefLayer {
    attn_norm: Vec<f32>,
    wq: Vec<f32>,
    wk: Vec<f32>,
    wv: Vec<f32>,
    wo: Vec<f32>,
    biases: [Option<Vec<f32>>; 3],
    attn_sub_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    down: Vec<f32>,
    ffn_sub_norm: Option<Vec<f32>>,
}

/// The dequantized model.
pub struct Reference {
    hp: HParams,
    embd: Vec<f32>,
    output: Option<Vec<f32>>,
    output_norm: Vec<f32>,
    layers: Vec<RefLayer>,
    inv_freq: Vec<f64>,
    neox: bool,
}

/// `w` (`rows x cols`, row-major) times `x` (`cols`), in f64.
fn matvec(w: &[f32], x: &[f32]) -> Vec<f32> {
    w.chunks_exact(x.len())
        .map(|row| {
            row.iter()
                .zip(x)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>() as f32
        })
        .collect()
}

fn norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ms = x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64;
    let k = 1.0 / (ms + eps as f64).sqrt();
    x.iter()
        .zip(w)
        .map(|(&v, &g)| (v as f64 * k) as f32 * g)
        .collect()
}

impl Reference {
    /// Dequantizes every weight of `model`.
    pub fn new(model: &Model) -> Result<Reference> {
        let mut layers = Vec::new();
        for l in &model.layers {
            layers.push(RefLayer {
                attn_norm: l.attn_norm.clone(),
                wq: l.wq.dequantize()?,
                wk: l.wk.dequantize()?,
                wv: l.wv.dequantize()?,
                wo: l.wo.dequantize()?,
                biases: [l.bq.clone(), l.bk.clone(), l.bv.clone()],
                attn_sub_norm: l.attn_sub_norm.clone(),
                ffn_norm: l.ffn_norm.clone(),
                gate: l.gate.dequantize()?,
                up: l.up.dequantize()?,
                down: l.down.dequantize()?,
                ffn_sub_norm: l.ffn_sub_norm.clone(),
            });
        }
        let hp = model.hp.clone();
        // The frequency table (with any rope_freqs factors folded in) is taken from the
        // model; the rotation itself is computed independently below, in f64.
        let inv_freq = model.rope.inv_freq.iter().map(|&f| f as f64).collect();
        Ok(Reference {
            embd: model.token_embd.dequantize()?,
            output: model.output.as_ref().map(|m| m.dequantize()).transpose()?,
            output_norm: model.output_norm.clone(),
            layers,
            inv_freq,
            neox: model.rope.neox,
            hp,
        })
    }

    fn rope(&self, v: &mut [f32], pos: usize) {
        let hd = self.hp.head_dim;
        let half = self.hp.rope_dims / 2;
        for head in v.chunks_exact_mut(hd) {
            for j in 0..half {
                let a = pos as f64 * self.inv_freq[j];
                let (s, c) = a.sin_cos();
                let (i0, i1) = if self.neox {
                    (j, j + half)
                } else {
                    (2 * j, 2 * j + 1)
                };
                let (x0, x1) = (head[i0] as f64, head[i1] as f64);
                head[i0] = (x0 * c - x1 * s) as f32;
                head[i1] = (x0 * s + x1 * c) as f32;
            }
        }
    }

    /// Logits of the last position of `tokens` (one sequence from position 0).
    pub fn last_logits(&self, tokens: &[u32]) -> Vec<f32> {
        let hp = &self.hp;
        let (h, hd) = (hp.hidden, hp.head_dim);
        let mut xs: Vec<Vec<f32>> = tokens
            .iter()
            .map(|&t| self.embd[t as usize * h..(t as usize + 1) * h].to_vec())
            .collect();
        for l in &self.layers {
            let mut qs = Vec::new();
            let mut ks = Vec::new();
            let mut vs = Vec::new();
            for (pos, x) in xs.iter().enumerate() {
                let xn = norm(x, &l.attn_norm, hp.rms_eps);
                let mut out = [matvec(&l.wq, &xn), matvec(&l.wk, &xn), matvec(&l.wv, &xn)];
                for (o, b) in out.iter_mut().zip(&l.biases) {
                    if let Some(b) = b {
                        o.iter_mut().zip(b).for_each(|(a, c)| *a += c);
                    }
                }
                let [mut q, mut k, v] = out;
                self.rope(&mut q, pos);
                self.rope(&mut k, pos);
                qs.push(q);
                ks.push(k);
                vs.push(v);
            }
            let group = hp.heads / hp.kv_heads;
            for (pos, x) in xs.iter_mut().enumerate() {
                let mut att = vec![0f32; hp.heads * hd];
                for head in 0..hp.heads {
                    let kvh = head / group;
                    let q = &qs[pos][head * hd..(head + 1) * hd];
                    let scores: Vec<f64> = (0..=pos)
                        .map(|j| {
                            let k = &ks[j][kvh * hd..(kvh + 1) * hd];
                            q.iter()
                                .zip(k)
                                .map(|(&a, &b)| a as f64 * b as f64)
                                .sum::<f64>()
                                / (hd as f64).sqrt()
                        })
                        .collect();
                    let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for (j, p) in e.iter().enumerate() {
                        let v = &vs[j][kvh * hd..(kvh + 1) * hd];
                        for d in 0..hd {
                            att[head * hd + d] += (p / z * v[d] as f64) as f32;
                        }
                    }
                }
                if let Some(w) = &l.attn_sub_norm {
                    att = norm(&att, w, hp.rms_eps);
                }
                let o = matvec(&l.wo, &att);
                x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
                let xn = norm(x, &l.ffn_norm, hp.rms_eps);
                let g = matvec(&l.gate, &xn);
                let u = matvec(&l.up, &xn);
                let mut hidden: Vec<f32> = g
                    .iter()
                    .zip(&u)
                    .map(|(&g, &u)| {
                        let a = if hp.arch == Arch::BitnetB158 {
                            let r = g.max(0.0) as f64;
                            r * r
                        } else {
                            g as f64 / (1.0 + (-g as f64).exp())
                        };
                        (a * u as f64) as f32
                    })
                    .collect();
                if let Some(w) = &l.ffn_sub_norm {
                    hidden = norm(&hidden, w, hp.rms_eps);
                }
                let d = matvec(&l.down, &hidden);
                x.iter_mut().zip(&d).for_each(|(a, b)| *a += b);
            }
        }
        let last = xs.last().map(|x| norm(x, &self.output_norm, hp.rms_eps));
        let last = last.unwrap_or_else(|| vec![0.0; h]);
        matvec(self.output.as_ref().unwrap_or(&self.embd), &last)
    }
}
