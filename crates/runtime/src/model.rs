//! The model: weights, the forward pass over rows of tokens, prefill, decode and generate.

use crate::attention::{attention, AttnShape, RowPos};
use crate::device::layer::DeviceLayer;
use crate::device::matrix::i2s_table;
use crate::device::{DeviceHead, DevicePart};
use crate::error::{Result, RuntimeError};
use crate::hparams::HParams;
use crate::kv_cache::{store_row, KvCache};
use crate::loader::{load_tensors, Loaded};
use crate::matrix::{Input, Matrix};
use crate::ops::{self, Rope};
pub use crate::weights::Layer;
use candle_core::Tensor;
use predictor::gguf::GgufFile;
use predictor::KvDtype;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to load a model.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// Device to run on. CUDA needs a build with the `cuda` feature (candle's CUDA
    /// backend); other builds refuse it with a clear error.
    pub device: predictor::Device,
    /// Transformer blocks to place on the GPU, the last ones (CUDA only; all by default).
    pub gpu_layers: Option<u32>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            device: predictor::Device::Cpu,
            gpu_layers: None,
        }
    }
}

/// A loaded model.
#[derive(Debug)]
pub struct Model {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Shapes and settings.
    pub hp: HParams,
    /// Token embedding (`vocab x hidden`), in its stored type.
    pub token_embd: Matrix,
    /// Final RMS norm.
    pub output_norm: Vec<f32>,
    /// Output projection; `None` when tied to the token embedding.
    pub output: Option<Matrix>,
    /// The blocks that run on the host (all of them without a device part).
    pub layers: Vec<Layer>,
    /// Rotary embedding.
    pub rope: Rope,
    /// The blocks (and the head) that run on a device, after the host's blocks.
    pub device: Option<DevicePart>,
}

/// Timings and tokens of a greedy generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// New tokens per sequence.
    pub tokens: Vec<Vec<u32>>,
    /// Seconds spent in prefill.
    pub prefill_secs: f64,
    /// Seconds spent in decode steps.
    pub decode_secs: f64,
    /// Decode steps run.
    pub decode_steps: usize,
}

impl Generation {
    /// Generated tokens per second during decode (all sequences together).
    pub fn decode_tokens_per_sec(&self) -> f64 {
        let n: usize = self.tokens.iter().map(|t| t.len().saturating_sub(1)).sum();
        if self.decode_secs > 0.0 {
            n as f64 / self.decode_secs
        } else {
            0.0
        }
    }
}

/// Takes tensor `name` out of `t` as a matrix of `rows x cols`.
struct Parts<'a> {
    path: &'a Path,
    t: HashMap<String, Loaded>,
}

impl Parts<'_> {
    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<Matrix> {
        match self.t.remove(name) {
            Some(Loaded::Matrix(m)) if m.rows() == rows && m.cols() == cols => Ok(m),
            Some(Loaded::Matrix(m)) => Err(RuntimeError::model(
                self.path,
                format!(
                    "tensor {name} is {}x{} (out x in), expected {rows}x{cols}",
                    m.rows(),
                    m.cols()
                ),
            )),
            Some(Loaded::Vector(_)) => Err(RuntimeError::model(
                self.path,
                format!("tensor {name} is 1-D, expected a matrix"),
            )),
            None => Err(RuntimeError::model(
                self.path,
                format!("missing tensor {name}"),
            )),
        }
    }

    fn opt_matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<Option<Matrix>> {
        if self.t.contains_key(name) {
            self.matrix(name, rows, cols).map(Some)
        } else {
            Ok(None)
        }
    }

    fn opt_vector(&mut self, name: &str, len: usize) -> Result<Option<Vec<f32>>> {
        match self.t.remove(name) {
            Some(Loaded::Vector(v)) if v.len() == len => Ok(Some(v)),
            Some(_) => Err(RuntimeError::model(
                self.path,
                format!("tensor {name} is not a vector of {len}"),
            )),
            None => Ok(None),
        }
    }

    fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>> {
        self.opt_vector(name, len)?
            .ok_or_else(|| RuntimeError::model(self.path, format!("missing tensor {name}")))
    }
}

/// Rows of one forward step and which of them need logits.
struct Step {
    rows: Vec<RowPos>,
    tokens: Vec<u32>,
    /// (row index, sequence) pairs whose logits are wanted.
    want: Vec<(usize, usize)>,
}

impl Model {
    /// Loads a GGUF model (llama, qwen2, bitnet, bitnet-b1.58, bitnet-25).
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Model> {
        match opts.device {
            predictor::Device::Cpu => Model::load_on(path, None, None),
            predictor::Device::Cuda(ordinal) => {
                let dev = candle_core::Device::new_cuda(ordinal as usize).map_err(|e| {
                    RuntimeError::unsupported(path, format!("device {}: {e}", opts.device))
                })?;
                Model::load_on(path, Some(&dev), opts.gpu_layers)
            }
            predictor::Device::Rocm(_) => Err(RuntimeError::unsupported(
                path,
                format!(
                    "device {}: the reference runtime runs on candle, which has no ROCm backend",
                    opts.device
                ),
            )),
        }
    }

    /// Loads a model with its last `gpu_layers` blocks (all when `None`) on `device`, a
    /// candle device of any kind: the tensor forward pass runs there. `None` runs every
    /// block on the host path. Tests use candle's CPU device to check the tensor path.
    pub fn load_on(
        path: &Path,
        device: Option<&candle_core::Device>,
        gpu_layers: Option<u32>,
    ) -> Result<Model> {
        crate::allocator::fix_mmap_threshold();
        let header = GgufFile::open(path)?;
        let embd = header
            .tensor("token_embd.weight")
            .ok_or_else(|| RuntimeError::model(path, "missing tensor token_embd.weight"))?;
        let vocab = embd.dims.get(1).copied().unwrap_or(0) as usize;
        let hp = HParams::read(&header, vocab)?;
        let mut p = Parts {
            path,
            t: load_tensors(&header)?,
        };
        drop(header);
        let (h, q_dim, kv_dim) = (hp.hidden, hp.heads * hp.head_dim, hp.kv_dim());
        let token_embd = p.matrix("token_embd.weight", hp.vocab, h)?;
        if !matches!(token_embd, Matrix::Classic(_)) {
            return Err(RuntimeError::unsupported(
                path,
                "token_embd.weight in a ternary type (embedding lookup needs a ggml type)",
            ));
        }
        let output_norm = p.vector("output_norm.weight", h)?;
        let mut output = p.opt_matrix("output.weight", hp.vocab, h)?;
        let mut layers = Vec::with_capacity(hp.n_layers);
        for i in 0..hp.n_layers {
            let n = |s: &str| format!("blk.{i}.{s}");
            let sub = hp.arch.has_sub_norms();
            let layer = Layer {
                attn_norm: p.vector(&n("attn_norm.weight"), h)?,
                wq: p.matrix(&n("attn_q.weight"), q_dim, h)?,
                wk: p.matrix(&n("attn_k.weight"), kv_dim, h)?,
                wv: p.matrix(&n("attn_v.weight"), kv_dim, h)?,
                wo: p.matrix(&n("attn_output.weight"), h, q_dim)?,
                bq: p.opt_vector(&n("attn_q.bias"), q_dim)?,
                bk: p.opt_vector(&n("attn_k.bias"), kv_dim)?,
                bv: p.opt_vector(&n("attn_v.bias"), kv_dim)?,
                attn_sub_norm: if sub {
                    Some(p.vector(&n("attn_sub_norm.weight"), q_dim)?)
                } else {
                    None
                },
                ffn_norm: p.vector(&n("ffn_norm.weight"), h)?,
                gate: p.matrix(&n("ffn_gate.weight"), hp.ffn, h)?,
                up: p.matrix(&n("ffn_up.weight"), hp.ffn, h)?,
                down: p.matrix(&n("ffn_down.weight"), h, hp.ffn)?,
                ffn_sub_norm: if sub {
                    Some(p.vector(&n("ffn_sub_norm.weight"), hp.ffn)?)
                } else {
                    None
                },
            };
            layers.push(layer);
        }
        let mut rope = Rope::new(hp.rope_base, hp.rope_dims, hp.arch.rope_neox());
        if let Some(f) = p.opt_vector("rope_freqs.weight", hp.rope_dims / 2)? {
            for (inv, factor) in rope.inv_freq.iter_mut().zip(f) {
                *inv /= factor;
            }
        }
        let device = match device {
            None => None,
            Some(dev) => {
                let n = layers.len();
                let g = gpu_layers.map_or(n, |g| (g as usize).min(n));
                let table = i2s_table(dev)?;
                let mut on_device = Vec::with_capacity(g);
                // Each block's host copy is dropped once it is on the device.
                for l in layers.split_off(n - g) {
                    on_device.push(DeviceLayer::upload(&l, dev, &table)?);
                }
                let head = if g == n {
                    let out = output.take();
                    Some(DeviceHead::upload(
                        &output_norm,
                        out.as_ref().unwrap_or(&token_embd),
                        dev,
                        &table,
                    )?)
                } else {
                    None
                };
                Some(DevicePart {
                    device: dev.clone(),
                    layers: on_device,
                    head,
                })
            }
        };
        Ok(Model {
            path: path.to_path_buf(),
            hp,
            token_embd,
            output_norm,
            output,
            layers,
            rope,
            device,
        })
    }

    /// Bytes of the runtime's own weight storage (every matrix and vector it holds).
    pub fn weight_bytes(&self) -> u64 {
        let v = |x: &Vec<f32>| 4 * x.len() as u64;
        let ov = |x: &Option<Vec<f32>>| x.as_ref().map_or(0, v);
        let mut total = self.token_embd.bytes() as u64 + v(&self.output_norm);
        total += self.output.as_ref().map_or(0, |m| m.bytes() as u64);
        for l in &self.layers {
            total += [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down]
                .iter()
                .map(|m| m.bytes() as u64)
                .sum::<u64>();
            total += v(&l.attn_norm) + v(&l.ffn_norm);
            total += ov(&l.bq) + ov(&l.bk) + ov(&l.bv) + ov(&l.attn_sub_norm) + ov(&l.ffn_sub_norm);
        }
        total
    }

    /// Bytes of the packed ternary (I2_S, TL2) matrices only.
    pub fn ternary_bytes(&self) -> u64 {
        let t = |m: &Matrix| match m {
            Matrix::Classic(_) => 0,
            _ => m.bytes() as u64,
        };
        self.layers
            .iter()
            .map(|l| {
                [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down]
                    .iter()
                    .map(|m| t(m))
                    .sum::<u64>()
            })
            .sum()
    }

    /// The output projection (the token embedding when tied).
    pub fn output_matrix(&self) -> &Matrix {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }

    /// Bytes of the weights on the device (0 without a device part).
    pub fn device_weight_bytes(&self) -> u64 {
        self.device.as_ref().map_or(0, DevicePart::weight_bytes)
    }

    /// Allocates and initialises a KV cache for `batch` sequences of `ctx` positions: the
    /// host blocks' on the host, the device blocks' on the device.
    pub fn alloc_cache(&self, batch: usize, ctx: usize, kv_dtype: KvDtype) -> Result<KvCache> {
        let kv_dim = self.hp.kv_dim();
        let mut cache = KvCache::new(self.layers.len(), batch, ctx, kv_dim, kv_dtype)?;
        if let Some(part) = &self.device {
            cache.device = part.alloc_cache(batch, ctx, kv_dim, kv_dtype)?;
        }
        Ok(cache)
    }

    /// Token embeddings of `tokens`: `tokens.len() x hidden` f32.
    pub fn embed(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        let h = self.hp.hidden;
        let mut x = vec![0f32; tokens.len() * h];
        let Matrix::Classic(e) = &self.token_embd else {
            return Err(RuntimeError::Invalid(
                "token embedding is not a ggml type".into(),
            ));
        };
        for (row, &t) in x.chunks_exact_mut(h).zip(tokens) {
            if t as usize >= self.hp.vocab {
                return Err(RuntimeError::Invalid(format!(
                    "token id {t} is outside the vocabulary of {}",
                    self.hp.vocab
                )));
            }
            e.row_f32(t as usize, row)?;
        }
        Ok(x)
    }

    /// Runs one step over `step.rows` and returns `want.len() x vocab` logits.
    fn forward(&self, cache: &mut KvCache, step: &Step) -> Result<Vec<f32>> {
        let hp = &self.hp;
        let n = step.rows.len();
        let eps = hp.rms_eps;
        let shape = AttnShape {
            heads: hp.heads,
            kv_heads: hp.kv_heads,
            head_dim: hp.head_dim,
            ctx: cache.ctx,
        };
        let mut x = self.embed(&step.tokens)?;
        for (l, kv) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let xn = ops::rms_norm(&x, &l.attn_norm, eps);
            let input = Input::new(&xn, n);
            let mut q = l.wq.forward(&input)?;
            let mut k = l.wk.forward(&input)?;
            let mut v = l.wv.forward(&input)?;
            drop(input);
            drop(xn);
            for (b, t) in [(&l.bq, &mut q), (&l.bk, &mut k), (&l.bv, &mut v)] {
                if let Some(b) = b {
                    ops::add_bias(t, b);
                }
            }
            let (qd, kd) = (hp.heads * hp.head_dim, hp.kv_dim());
            for (i, rp) in step.rows.iter().enumerate() {
                self.rope
                    .apply(&mut q[i * qd..(i + 1) * qd], hp.head_dim, rp.pos);
                self.rope
                    .apply(&mut k[i * kd..(i + 1) * kd], hp.head_dim, rp.pos);
                let at = (rp.seq * cache.ctx + rp.pos) * kd;
                store_row(&mut kv.k, at, &k[i * kd..(i + 1) * kd]);
                store_row(&mut kv.v, at, &v[i * kd..(i + 1) * kd]);
            }
            drop(k);
            drop(v);
            let mut a = attention(&q, &step.rows, &kv.k, &kv.v, shape);
            drop(q);
            if let Some(w) = &l.attn_sub_norm {
                ops::rms_norm_inplace(&mut a, w, eps);
            }
            let o = l.wo.forward(&Input::new(&a, n))?;
            drop(a);
            ops::add_inplace(&mut x, &o);
            drop(o);
            let xn = ops::rms_norm(&x, &l.ffn_norm, eps);
            let input = Input::new(&xn, n);
            let mut g = l.gate.forward(&input)?;
            let u = l.up.forward(&input)?;
            drop(input);
            drop(xn);
            hp.arch.activation().gate_inplace(&mut g, &u);
            drop(u);
            if let Some(w) = &l.ffn_sub_norm {
                ops::rms_norm_inplace(&mut g, w, eps);
            }
            let d = l.down.forward(&Input::new(&g, n))?;
            drop(g);
            ops::add_inplace(&mut x, &d);
        }
        if let Some(part) = &self.device {
            if !part.layers.is_empty() || part.head.is_some() {
                let rows: Vec<(usize, usize)> = step.rows.iter().map(|r| (r.seq, r.pos)).collect();
                let want: Vec<usize> = step.want.iter().map(|&(r, _)| r).collect();
                let out =
                    part.forward(hp, &self.rope, &cache.device, cache.ctx, x, &rows, &want)?;
                if part.head.is_some() {
                    return Ok(out);
                }
                x = out;
            }
        }
        let h = hp.hidden;
        let mut last = Vec::with_capacity(step.want.len() * h);
        for &(row, _) in &step.want {
            last.extend_from_slice(&x[row * h..(row + 1) * h]);
        }
        drop(x);
        ops::rms_norm_inplace(&mut last, &self.output_norm, eps);
        self.output_matrix()
            .forward(&Input::new(&last, step.want.len()))
    }

    /// Processes the prompts (one per cache slot, from each slot's current length) in
    /// micro-batches of `ubatch` tokens per sequence, all sequences together, and returns the
    /// logits of each prompt's last position: `[prompts.len(), vocab]` f32.
    pub fn prefill(
        &self,
        cache: &mut KvCache,
        prompts: &[Vec<u32>],
        ubatch: usize,
    ) -> Result<Tensor> {
        if prompts.is_empty() || prompts.len() > cache.batch || ubatch == 0 {
            return Err(RuntimeError::Invalid(format!(
                "prefill of {} prompts with micro-batch {ubatch} into a cache of {} sequences",
                prompts.len(),
                cache.batch
            )));
        }
        for (s, p) in prompts.iter().enumerate() {
            if p.is_empty() || cache.lens[s] + p.len() > cache.ctx {
                return Err(RuntimeError::Invalid(format!(
                    "prompt {s} of {} tokens does not fit: {} of {} positions used",
                    p.len(),
                    cache.lens[s],
                    cache.ctx
                )));
            }
        }
        let vocab = self.hp.vocab;
        let mut logits = vec![0f32; prompts.len() * vocab];
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let mut start = 0;
        while start < longest {
            let mut step = Step {
                rows: Vec::new(),
                tokens: Vec::new(),
                want: Vec::new(),
            };
            for (s, p) in prompts.iter().enumerate() {
                let end = (start + ubatch).min(p.len());
                for (i, &t) in p.iter().enumerate().take(end).skip(start) {
                    if i + 1 == p.len() {
                        step.want.push((step.rows.len(), s));
                    }
                    step.rows.push(RowPos {
                        seq: s,
                        pos: cache.lens[s] + i,
                    });
                    step.tokens.push(t);
                }
            }
            let out = self.forward(cache, &step)?;
            for (j, &(_, s)) in step.want.iter().enumerate() {
                logits[s * vocab..(s + 1) * vocab]
                    .copy_from_slice(&out[j * vocab..(j + 1) * vocab]);
            }
            start += ubatch;
        }
        for (s, p) in prompts.iter().enumerate() {
            cache.lens[s] += p.len();
        }
        Ok(Tensor::from_vec(
            logits,
            (prompts.len(), vocab),
            &candle_core::Device::Cpu,
        )?)
    }

    /// One decode step: `tokens[s]` is appended to sequence `s`; returns `[tokens.len(),
    /// vocab]` f32 logits.
    pub fn decode_step(&self, cache: &mut KvCache, tokens: &[u32]) -> Result<Tensor> {
        if tokens.is_empty() || tokens.len() > cache.batch {
            return Err(RuntimeError::Invalid(format!(
                "decode step of {} tokens for a cache of {} sequences",
                tokens.len(),
                cache.batch
            )));
        }
        if let Some(s) = (0..tokens.len()).find(|&s| cache.lens[s] >= cache.ctx) {
            return Err(RuntimeError::Invalid(format!(
                "sequence {s} is full ({} positions)",
                cache.ctx
            )));
        }
        let step = Step {
            rows: (0..tokens.len())
                .map(|s| RowPos {
                    seq: s,
                    pos: cache.lens[s],
                })
                .collect(),
            tokens: tokens.to_vec(),
            want: (0..tokens.len()).map(|s| (s, s)).collect(),
        };
        let out = self.forward(cache, &step)?;
        for s in 0..tokens.len() {
            cache.lens[s] += 1;
        }
        Ok(Tensor::from_vec(
            out,
            (tokens.len(), self.hp.vocab),
            &candle_core::Device::Cpu,
        )?)
    }

    /// Greedy generation: prefills `prompts` (micro-batch `ubatch`), then decodes until each
    /// sequence has `max_new` new tokens or the cache is full.
    pub fn generate(
        &self,
        cache: &mut KvCache,
        prompts: &[Vec<u32>],
        max_new: usize,
        ubatch: usize,
    ) -> Result<Generation> {
        let t0 = Instant::now();
        let logits = self.prefill(cache, prompts, ubatch)?;
        let prefill_secs = t0.elapsed().as_secs_f64();
        let mut next = argmax_rows(&logits)?;
        let mut tokens: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
        let t1 = Instant::now();
        let mut steps = 0;
        if max_new > 0 {
            for (t, &n) in tokens.iter_mut().zip(&next) {
                t.push(n);
            }
            while steps + 1 < max_new && cache.lens[..prompts.len()].iter().all(|&l| l < cache.ctx)
            {
                let logits = self.decode_step(cache, &next)?;
                next = argmax_rows(&logits)?;
                for (t, &n) in tokens.iter_mut().zip(&next) {
                    t.push(n);
                }
                steps += 1;
            }
        }
        Ok(Generation {
            tokens,
            prefill_secs,
            decode_secs: t1.elapsed().as_secs_f64(),
            decode_steps: steps,
        })
    }
}

/// The index of the largest value of each row of a `[rows, vocab]` tensor.
pub fn argmax_rows(logits: &Tensor) -> Result<Vec<u32>> {
    let rows = logits.to_vec2::<f32>()?;
    Ok(rows.iter().map(|r| argmax(r) as u32).collect())
}

/// The index of the largest value (the first on ties; NaN never wins).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] || v[best].is_nan() {
            best = i;
        }
    }
    best
}
