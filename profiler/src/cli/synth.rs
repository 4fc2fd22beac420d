//! `profiler synth`: write a deterministic synthetic GGUF model.

use crate::synth::{write_model, SynthMoe, SynthSpec, ARCHITECTURES, PRESETS};
use anyhow::{bail, Context};
use predictor::ggml_type::GgmlType;
use std::path::PathBuf;

/// Arguments of `profiler synth`.
#[derive(Debug, Clone, clap::Args)]
pub struct SynthArgs {
    /// Start from a named preset (tiny, tiny-tl2, tiny-llama, tiny-qwen2, bitnet-2b-4t,
    /// bitnet-large, llama3-8b-1.58); the other flags override its values.
    #[arg(long)]
    pub preset: Option<String>,
    /// Architecture: llama, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3, bitnet or
    /// bitnet-b1.58 (`--list-presets` describes each).
    #[arg(long)]
    pub arch: Option<String>,
    /// Transformer blocks.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Embedding width.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Query heads.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Key/value heads.
    #[arg(long = "kv-heads")]
    pub kv_heads: Option<usize>,
    /// Per-head width (default hidden / heads).
    #[arg(long = "head-dim")]
    pub head_dim: Option<usize>,
    /// Feed-forward width.
    #[arg(long)]
    pub ffn: Option<usize>,
    /// Vocabulary size.
    #[arg(long)]
    pub vocab: Option<usize>,
    /// Training context written to the header.
    #[arg(long = "ctx-train")]
    pub ctx_train: Option<usize>,
    /// Projection type: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL,
    /// IQ4_XS, MXFP4, I2_S, TL2.
    #[arg(long)]
    pub qtype: Option<String>,
    /// Token embedding type (default F16; F32 for F32 models).
    #[arg(long = "embd-type")]
    pub embd_type: Option<String>,
    /// Experts per block (mixture of experts: llama becomes Mixtral-style; qwen3moe needs it).
    #[arg(long)]
    pub experts: Option<usize>,
    /// Experts used per token (default 2, or all when fewer).
    #[arg(long = "experts-used", requires = "experts")]
    pub experts_used: Option<usize>,
    /// Sliding window written to the header.
    #[arg(long = "sliding-window")]
    pub sliding_window: Option<usize>,
    /// Write quantized tensors as random blocks of the type's exact layout (small fixed
    /// scales) instead of quantizing random weights: same size, minutes faster on 7B.
    #[arg(long = "fast-blocks")]
    pub fast_blocks: bool,
    /// Write a separate output projection instead of tying it to the token embedding.
    #[arg(long, conflicts_with = "tied")]
    pub untied: bool,
    /// Tie the output projection to the token embedding (no `output` tensor).
    #[arg(long)]
    pub tied: bool,
    /// Seed of every random value.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// List the presets and exit.
    #[arg(long = "list-presets")]
    pub list_presets: bool,
}

impl SynthArgs {
    /// The spec these arguments describe.
    pub fn spec(&self) -> anyhow::Result<SynthSpec> {
        let mut s = match &self.preset {
            Some(p) => SynthSpec::preset(p)?,
            None => {
                let missing: Vec<&str> = [
                    ("--arch", self.arch.is_none()),
                    ("--layers", self.layers.is_none()),
                    ("--hidden", self.hidden.is_none()),
                    ("--heads", self.heads.is_none()),
                    ("--ffn", self.ffn.is_none()),
                    ("--vocab", self.vocab.is_none()),
                    ("--qtype", self.qtype.is_none()),
                ]
                .iter()
                .filter(|m| m.1)
                .map(|m| m.0)
                .collect();
                if !missing.is_empty() {
                    bail!("without --preset, give {}", missing.join(", "));
                }
                SynthSpec::preset("tiny")?
            }
        };
        if let Some(a) = &self.arch {
            s.arch = a.clone();
        }
        let set = |dst: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut s.layers, self.layers);
        set(&mut s.hidden, self.hidden);
        set(&mut s.heads, self.heads);
        set(&mut s.ffn, self.ffn);
        set(&mut s.vocab, self.vocab);
        set(&mut s.ctx_train, self.ctx_train);
        s.kv_heads = self.kv_heads.unwrap_or(if self.heads.is_some() {
            s.heads
        } else {
            s.kv_heads
        });
        if self.head_dim.is_some() {
            s.head_dim = self.head_dim;
        }
        let ty = |q: &str, flag: &str| {
            GgmlType::from_name(q)
                .or_else(|| GgmlType::from_name(&q.to_ascii_uppercase()))
                .with_context(|| format!("unknown {flag} {q:?}"))
        };
        if let Some(q) = &self.qtype {
            s.qtype = ty(q, "--qtype")?;
        }
        if let Some(q) = &self.embd_type {
            s.embd_type = Some(ty(q, "--embd-type")?);
        }
        if let Some(total) = self.experts {
            s.moe = Some(SynthMoe {
                total,
                used: self.experts_used.unwrap_or(2.min(total)),
            });
        }
        s.fast_blocks |= self.fast_blocks;
        if self.sliding_window.is_some() {
            s.sliding_window = self.sliding_window;
        }
        if s.has_post_norms() && !self.untied {
            s.tied = true;
        }
        if self.untied {
            s.tied = false;
        }
        if self.tied {
            s.tied = true;
        }
        s.seed = self.seed;
        Ok(s)
    }
}

/// Runs `profiler synth`.
pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    if args.list_presets {
        for (name, what) in PRESETS {
            println!("{name:16} {what}");
        }
        println!("\narchitectures (--arch):");
        for (name, what) in ARCHITECTURES {
            println!("{name:16} {what}");
        }
        return Ok(());
    }
    let out = args
        .output
        .as_ref()
        .context("give the output file with -o FILE")?;
    let spec = args.spec()?;
    let t = std::time::Instant::now();
    let s = write_model(&spec, out).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {} {} layers, hidden {}, heads {}/{}, FFN {}, vocab {}, {}{}: {} tensors, \
         {} tensor bytes, {} file bytes in {:.1} s",
        out.display(),
        spec.arch,
        spec.layers,
        spec.hidden,
        spec.heads,
        spec.kv_heads,
        spec.ffn,
        spec.vocab,
        match spec.moe {
            Some(m) => format!("{} x {} experts ({} used)", spec.qtype, m.total, m.used),
            None => spec.qtype.to_string(),
        },
        if spec.tied { ", tied" } else { "" },
        s.tensors,
        s.tensor_bytes,
        s.file_bytes,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
