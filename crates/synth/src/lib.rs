//! Deterministic synthetic GGUF models with real architectures at any scale.
//!
//! BitNet b1.58 files are laid out like microsoft/BitNet's converter output (architecture
//! `bitnet-b1.58` or `bitnet`, F16 `token_embd`, F32 norms including `attn_sub_norm` and
//! `ffn_sub_norm`, ternary projections as I2_S or TL2, optional `output`); llama-family
//! files (`llama`, `qwen2` with q/k/v biases) hold their projections in any classic type,
//! quantized with candle's quantizers from seeded random f32 weights.
//!
//! Dense weights are N(0, 1/fan_in); ternary weights are thresholded uniform values (half of
//! them non-zero) with the scale that gives the same variance; norms are 1 +- 0.05. Tensors
//! are generated row by row in parallel, each row from its own seeded stream, and written
//! in chunks, so a 1.2 GB model is never held in memory (the largest buffer is one chunk,
//! or one whole TL2 tensor).
#![warn(missing_docs)]

pub mod blocks;
pub mod rng;
pub mod spec;
pub mod tokenizer;

pub use spec::{SynthMoe, SynthSpec, ARCHITECTURES, PRESETS};

use memcal_runtime::matrix::{candle_dtype, ClassicMatrix};
use memcal_runtime::ternary::{i2s, tl2};
use predictor::ggml_type::GgmlType;
use predictor::gguf::writer::{GgufWriter, WriteError};
use rng::Rng;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What can go wrong writing a synthetic model.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The spec cannot be written (bad shape, unsupported type or architecture).
    #[error("synthetic model: {0}")]
    Spec(String),
    /// Creating or writing the file failed.
    #[error("{path}: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: WriteError,
    },
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    /// Bytes of the file.
    pub file_bytes: u64,
    /// Stored tensor bytes (padding excluded).
    pub tensor_bytes: u64,
    /// Tensors written.
    pub tensors: usize,
}

/// How a tensor's values are drawn.
#[derive(Debug, Clone, Copy)]
enum Fill {
    /// 1 +- 0.05 (norm weights).
    Norm,
    /// N(0, std^2).
    Normal(f32),
    /// Ternary codes, half of them non-zero, with the scale giving variance 1/fan_in.
    Ternary,
}

#[derive(Debug, Clone)]
struct Planned {
    name: String,
    /// `[ne0, ne1]` (ne0 = input width), `[ne0, ne1, experts]` or `[len]`.
    dims: Vec<u64>,
    ty: GgmlType,
    fill: Fill,
}

/// llama.cpp's `general.file_type` for a projection type (BitNet fork values for I2_S/TL2).
fn file_type(t: GgmlType) -> u32 {
    use GgmlType::*;
    match t {
        F32 => 0,
        F16 => 1,
        Q4_0 => 2,
        Q4_1 => 3,
        Q8_0 => 7,
        Q5_0 => 8,
        Q5_1 => 9,
        Q2K => 10,
        Q3K => 12,
        Q4K => 15,
        Q5K => 17,
        Q6K => 18,
        IQ4XS => 30,
        IQ4NL => 25,
        BF16 => 32,
        MXFP4 => 38,
        TL2 => 39,
        I2S => 40,
        _ => 0,
    }
}

fn plan(spec: &SynthSpec) -> Vec<Planned> {
    let (h, f, hd) = (spec.hidden as u64, spec.ffn as u64, spec.head_dim() as u64);
    let (q, kv) = (spec.heads as u64 * hd, spec.kv_heads as u64 * hd);
    let emb = spec.embedding_type();
    let mut out = Vec::new();
    let mut add = |name: String, dims: Vec<u64>, ty, fill| {
        out.push(Planned {
            name,
            dims,
            ty,
            fill,
        })
    };
    let weight = |k: u64| {
        if spec.qtype.is_bitnet() {
            Fill::Ternary
        } else {
            Fill::Normal(1.0 / (k as f32).sqrt())
        }
    };
    let norm = |add: &mut dyn FnMut(String, Vec<u64>, GgmlType, Fill), name: String, len| {
        add(name, vec![len], GgmlType::F32, Fill::Norm)
    };
    let embd_std = 1.0 / (h as f32).sqrt();
    let gpt_oss = spec.arch == "gpt-oss";
    add(
        "token_embd.weight".into(),
        vec![h, spec.vocab as u64],
        emb,
        Fill::Normal(embd_std),
    );
    for i in 0..spec.layers {
        let n = |s: &str| format!("blk.{i}.{s}");
        norm(&mut add, n("attn_norm.weight"), h);
        if spec.arch == "phi3" {
            add(
                n("attn_qkv.weight"),
                vec![h, q + 2 * kv],
                spec.qtype,
                weight(h),
            );
        } else {
            add(n("attn_q.weight"), vec![h, q], spec.qtype, weight(h));
            add(n("attn_k.weight"), vec![h, kv], spec.qtype, weight(h));
            add(n("attn_v.weight"), vec![h, kv], spec.qtype, weight(h));
        }
        if spec.has_qkv_bias() {
            for (s, len) in [("attn_q.bias", q), ("attn_k.bias", kv), ("attn_v.bias", kv)] {
                add(n(s), vec![len], GgmlType::F32, Fill::Normal(0.02));
            }
        }
        if spec.has_qk_norm() {
            norm(&mut add, n("attn_q_norm.weight"), hd);
            norm(&mut add, n("attn_k_norm.weight"), hd);
        }
        add(n("attn_output.weight"), vec![q, h], spec.qtype, weight(q));
        if gpt_oss {
            add(
                n("attn_output.bias"),
                vec![h],
                GgmlType::F32,
                Fill::Normal(0.02),
            );
            add(
                n("attn_sinks.weight"),
                vec![spec.heads as u64],
                GgmlType::F32,
                Fill::Normal(1.0),
            );
        }
        if spec.is_bitnet() {
            norm(&mut add, n("attn_sub_norm.weight"), q);
        }
        if spec.has_post_norms() {
            norm(&mut add, n("post_attention_norm.weight"), h);
        }
        // gpt-oss names the norm before its FFN `post_attention_norm`.
        let ffn_norm = if gpt_oss {
            "post_attention_norm.weight"
        } else {
            "ffn_norm.weight"
        };
        norm(&mut add, n(ffn_norm), h);
        match spec.moe {
            Some(m) => {
                let e = m.total as u64;
                add(
                    n("ffn_gate_inp.weight"),
                    vec![h, e],
                    GgmlType::F32,
                    Fill::Normal(embd_std),
                );
                if gpt_oss {
                    // The router's and every expert's biases (F32, one row per expert).
                    let b = Fill::Normal(0.02);
                    add(n("ffn_gate_inp.bias"), vec![e], GgmlType::F32, b);
                    add(n("ffn_gate_exps.bias"), vec![f, e], GgmlType::F32, b);
                    add(n("ffn_down_exps.bias"), vec![h, e], GgmlType::F32, b);
                    add(n("ffn_up_exps.bias"), vec![f, e], GgmlType::F32, b);
                }
                add(
                    n("ffn_gate_exps.weight"),
                    vec![h, f, e],
                    spec.qtype,
                    weight(h),
                );
                add(
                    n("ffn_down_exps.weight"),
                    vec![f, h, e],
                    spec.qtype,
                    weight(f),
                );
                add(
                    n("ffn_up_exps.weight"),
                    vec![h, f, e],
                    spec.qtype,
                    weight(h),
                );
            }
            None if spec.arch == "phi3" => {
                add(n("ffn_up.weight"), vec![h, 2 * f], spec.qtype, weight(h));
                add(n("ffn_down.weight"), vec![f, h], spec.qtype, weight(f));
            }
            None => {
                add(n("ffn_gate.weight"), vec![h, f], spec.qtype, weight(h));
                add(n("ffn_up.weight"), vec![h, f], spec.qtype, weight(h));
                add(n("ffn_down.weight"), vec![f, h], spec.qtype, weight(f));
            }
        }
        if spec.is_bitnet() {
            norm(&mut add, n("ffn_sub_norm.weight"), f);
        }
        if spec.has_post_norms() {
            norm(&mut add, n("post_ffw_norm.weight"), h);
        }
    }
    norm(&mut add, "output_norm.weight".into(), h);
    if !spec.tied {
        let out_ty = if spec.is_bitnet() || spec.qtype.is_bitnet() {
            emb
        } else {
            spec.qtype
        };
        add(
            "output.weight".into(),
            vec![h, spec.vocab as u64],
            out_ty,
            Fill::Normal(embd_std),
        );
    }
    out
}

fn add_metadata(w: &mut GgufWriter, spec: &SynthSpec) -> Result<(), WriteError> {
    let a = spec.arch.as_str();
    let k = |s: &str| format!("{a}.{s}");
    w.add_string("general.architecture", a)?;
    w.add_string(
        "general.name",
        &format!("memcal synthetic {a} seed {}", spec.seed),
    )?;
    w.add_u32("general.file_type", file_type(spec.qtype))?;
    w.add_u32("general.quantization_version", 2)?;
    w.add_u32(&k("vocab_size"), spec.vocab as u32)?;
    w.add_u32(&k("context_length"), spec.ctx_train as u32)?;
    w.add_u32(&k("embedding_length"), spec.hidden as u32)?;
    w.add_u32(&k("block_count"), spec.layers as u32)?;
    w.add_u32(&k("feed_forward_length"), spec.ffn as u32)?;
    if let Some(m) = spec.moe {
        w.add_u32(&k("expert_count"), m.total as u32)?;
        w.add_u32(&k("expert_used_count"), m.used as u32)?;
        if a != "llama" {
            w.add_u32(&k("expert_feed_forward_length"), spec.ffn as u32)?;
        }
    }
    if let Some(win) = spec.sliding_window {
        w.add_u32(&k("attention.sliding_window"), win as u32)?;
    }
    w.add_u32(&k("attention.head_count"), spec.heads as u32)?;
    w.add_u32(&k("attention.head_count_kv"), spec.kv_heads as u32)?;
    if spec.head_dim() * spec.heads != spec.hidden {
        w.add_u32(&k("attention.key_length"), spec.head_dim() as u32)?;
        w.add_u32(&k("attention.value_length"), spec.head_dim() as u32)?;
    }
    w.add_f32(&k("attention.layer_norm_rms_epsilon"), 1e-5)?;
    let theta = match a {
        "bitnet-b1.58" => 500_000.0,
        "qwen2" | "qwen3" | "qwen3moe" | "gemma3" => 1_000_000.0,
        "gpt-oss" => 150_000.0,
        _ => 10_000.0,
    };
    w.add_f32(&k("rope.freq_base"), theta)?;
    w.add_u32(&k("rope.dimension_count"), spec.head_dim() as u32)?;
    tokenizer::add_tokenizer(w, spec.vocab)
}

/// Rows generated (and converted) per write.
const CHUNK_VALUES: usize = 1 << 22;

/// Draws `rows` rows of `cols` values of tensor `idx` starting at row `row0`, in parallel.
fn draw_rows(spec: &SynthSpec, idx: usize, row0: usize, cols: usize, out: &mut [f32], fill: Fill) {
    use rayon::prelude::*;
    memcal_runtime::pool().install(|| {
        out.par_chunks_mut(cols).enumerate().for_each(|(r, row)| {
            let mut rng = Rng::new(spec.seed, idx as u64, (row0 + r) as u64);
            match fill {
                Fill::Norm => row
                    .iter_mut()
                    .for_each(|v| *v = 1.0 + 0.1 * (rng.uniform() - 0.5)),
                Fill::Normal(std) => rng.fill_normal(row, std),
                Fill::Ternary => row.iter_mut().for_each(|v| {
                    let u = rng.uniform();
                    *v = if u < 0.25 {
                        -1.0
                    } else if u >= 0.75 {
                        1.0
                    } else {
                        0.0
                    }
                }),
            }
        })
    });
}

/// Writes tensor `idx`'s data.
fn write_tensor(spec: &SynthSpec, idx: usize, t: &Planned, out: &mut dyn Write) -> io::Result<()> {
    let cols = t.dims[0] as usize;
    let rows = t.dims.iter().skip(1).product::<u64>() as usize;
    let raw = blocks::needs_blocks(t.ty) || spec.fast_blocks;
    if let Some(l) = blocks::layout(t.ty).filter(|_| raw) {
        // Random blocks, one seeded stream per row; chunks of rows per write.
        let row_bytes = cols / t.ty.block_elems() as usize * l.bytes;
        let amplitude = match t.fill {
            Fill::Normal(std) => 3.0 * std,
            _ => 1.0,
        };
        let chunk_rows = (CHUNK_VALUES / cols).clamp(1, rows);
        let mut buf = vec![0u8; chunk_rows * row_bytes];
        let mut row0 = 0;
        while row0 < rows {
            let n = chunk_rows.min(rows - row0);
            for (r, row) in buf[..n * row_bytes].chunks_mut(row_bytes).enumerate() {
                let mut rng = Rng::new(spec.seed, idx as u64, (row0 + r) as u64);
                blocks::fill(l, &mut rng, amplitude, row);
            }
            out.write_all(&buf[..n * row_bytes])?;
            row0 += n;
        }
        return Ok(());
    }
    if t.ty == GgmlType::TL2 {
        let mut v = vec![0f32; rows * cols];
        draw_rows(spec, idx, 0, cols, &mut v, t.fill);
        let codes: Vec<i8> = v.iter().map(|&x| x as i8).collect();
        drop(v);
        return out.write_all(&tl2::pack(&codes, cols, ternary_scale(cols)));
    }
    let chunk_rows = (CHUNK_VALUES / cols).clamp(1, rows);
    let mut buf = vec![0f32; chunk_rows * cols];
    let mut row0 = 0;
    while row0 < rows {
        let n = chunk_rows.min(rows - row0);
        let v = &mut buf[..n * cols];
        draw_rows(spec, idx, row0, cols, v, t.fill);
        match t.ty {
            GgmlType::F32 => {
                let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                out.write_all(&b)?;
            }
            GgmlType::F16 => {
                let b: Vec<u8> = v
                    .iter()
                    .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                    .collect();
                out.write_all(&b)?;
            }
            GgmlType::I2S => {
                let codes: Vec<i8> = v.iter().map(|&x| x as i8).collect();
                let packed = i2s::pack(&codes, cols, 0.0);
                out.write_all(&packed[..packed.len() - i2s::TAIL])?;
            }
            other => {
                let dt = candle_dtype(other)
                    .ok_or_else(|| io::Error::other(format!("no quantizer for {other}")))?;
                let m = ClassicMatrix::quantize(v, dt, n, cols).map_err(io::Error::other)?;
                out.write_all(&m.data().map_err(io::Error::other)?)?;
            }
        }
        row0 += n;
    }
    if t.ty == GgmlType::I2S {
        let mut tail = [0u8; i2s::TAIL];
        tail[..4].copy_from_slice(&ternary_scale(cols).to_le_bytes());
        out.write_all(&tail)?;
    }
    Ok(())
}

/// The ternary scale that gives weights of variance `1 / fan_in` when half are non-zero.
fn ternary_scale(fan_in: usize) -> f32 {
    (2.0 / fan_in as f32).sqrt()
}

/// Writes the model described by `spec` to `path`.
pub fn write_model(spec: &SynthSpec, path: &Path) -> Result<SynthSummary, SynthError> {
    spec.validate()?;
    let werr = |source| SynthError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut w = GgufWriter::new();
    add_metadata(&mut w, spec).map_err(werr)?;
    let planned = plan(spec);
    let mut tensor_bytes = 0;
    for t in &planned {
        tensor_bytes += w.add_tensor_info(&t.name, &t.dims, t.ty).map_err(werr)?;
    }
    // Written under a temporary name and renamed once complete: a killed writer never
    // leaves a truncated model that a later run would take for a whole one.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let file = std::fs::File::create(&tmp).map_err(|e| werr(e.into()))?;
    let mut out = BufWriter::with_capacity(8 << 20, file);
    let file_bytes = w
        .write_with(&mut out, |i, _, o| write_tensor(spec, i, &planned[i], o))
        .map_err(werr)?;
    out.flush().map_err(|e| werr(e.into()))?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| werr(e.into()))?;
    Ok(SynthSummary {
        file_bytes,
        tensor_bytes,
        tensors: planned.len(),
    })
}
