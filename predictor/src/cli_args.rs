//! Command-line arguments shared by every tool that takes a run configuration
//! (`predictor estimate`, `predictor plan`, `profiler run`), so the flags mean the same
//! everywhere.

use predictor::backend::isa::Isa;
use predictor::config::{parse_on_off, Device, FlashAttn, KvDtype, RunConfig};
use predictor::error::Result;
pub use predictor::units::{human_bytes, parse_size};
use std::path::PathBuf;

/// The model to predict for: a file or a preset.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ModelArgs {
    /// Model file: .gguf, .safetensors (config.json beside it), a
    /// model.safetensors.index.json, or a directory holding one of those.
    pub file: Option<PathBuf>,
    /// A built-in model shape instead of a file (see `predictor presets`); append
    /// `:TYPE` to choose the weight type, e.g. `llama-3.1-8b:Q4_0`.
    #[arg(long)]
    pub preset: Option<String>,
}

/// A run configuration on the command line: the engine knobs that change memory, spelled
/// the same for `predictor estimate`, `predictor plan`, `profiler run` and `profiler exec`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Device: cpu, gpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Parallel sequences, each with its own context (llama.cpp: `-np N`).
    #[arg(long, default_value_t = 1)]
    pub batch: u32,
    /// Context length PER SEQUENCE, in tokens (default: the model's trained context, at
    /// most 4096). llama.cpp's `-c` is the total over all sequences: `-c` = ctx x batch,
    /// with `-np` = batch.
    #[arg(long)]
    pub ctx: Option<u32>,
    /// Micro-batch: tokens one compute step processes (llama.cpp: `-ub`, and `-b` at
    /// least as large).
    #[arg(long, default_value_t = 512)]
    pub ubatch: u32,
    /// KV cache type (llama.cpp: `-ctk`/`-ctv`): f32, f16, bf16, q8_0, q4_0, q4_1, q5_0,
    /// q5_1, iq4_nl.
    #[arg(long, default_value = "f16")]
    pub kv_dtype: String,
    /// Flash attention: on, off or auto (llama.cpp: `-fa`; auto is on for its CPU backend).
    #[arg(long, default_value = "auto")]
    pub flash_attn: String,
    /// Memory-map the model file: on or off (llama.cpp: `-lm mmap` / `-lm none`,
    /// bitnet.cpp: `--no-mmap` for off).
    #[arg(long, default_value = "on")]
    pub mmap: String,
    /// Let the engine repack weights for the CPU: on or off (llama.cpp: `--no-repack` for
    /// off).
    #[arg(long, default_value = "on")]
    pub repack: String,
    /// Prompt tokens per sequence the run processes (default: the planning case, a prompt
    /// that fills the context).
    #[arg(long)]
    pub prompt: Option<u32>,
    /// Tokens generated per sequence after the prompt (default 0; `profiler run`: 4).
    #[arg(long)]
    pub decode: Option<u32>,
    /// Transformer blocks on the GPU (default: all of them on CUDA; llama.cpp: `-ngl`).
    #[arg(long)]
    pub gpu_layers: Option<u32>,
    /// Safety margin in percent, kept as headroom on top of the prediction together with
    /// the calibration table's held-out error (0: no headroom at all, `host_bytes` is the
    /// calibrated peak itself).
    #[arg(long, default_value_t = 5.0)]
    pub margin: f64,
    /// CPU instruction sets of the engine build to plan for (llama.cpp's repacked and AMX
    /// weights depend on them): avx2, avx512, avx512-vnni, amx, neon, neon-dotprod,
    /// neon-i8mm, sve256-i8mm, or features joined by '+'. Default: this machine's, read
    /// from /proc/cpuinfo (what a native or all-variants build uses).
    #[arg(long)]
    pub isa: Option<String>,
    /// llama.cpp build number to plan for (e.g. 11434); default: the newest measured.
    #[arg(long = "engine-build")]
    pub engine_build: Option<u32>,
}

impl ConfigArgs {
    /// The configuration for planning on this machine: [`ConfigArgs::to_config`] with the
    /// ISA, when `--isa` is absent, read from this machine ([`host_isa`]).
    pub fn to_host_config(&self, ctx_train: u64) -> Result<RunConfig> {
        let mut c = self.to_config(ctx_train)?;
        if c.isa.is_none() {
            c.isa = Some(host_isa().name);
        }
        Ok(c)
    }
}

/// This machine's ISA as llama.cpp sees it (x86 flags or ARM features of /proc/cpuinfo;
/// on ARM the SVE vector length from `/proc/sys/abi/sve_default_vector_length`); the
/// AVX2 baseline when /proc/cpuinfo cannot be read.
pub fn host_isa() -> Isa {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return Isa::baseline();
    };
    // The default vector length in bytes (what a new process gets).
    let sve_bits = std::fs::read_to_string("/proc/sys/abi/sve_default_vector_length")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map(|bytes| bytes * 8);
    Isa::from_cpuinfo(&info, sve_bits)
}

impl ConfigArgs {
    /// The configuration, with the context defaulting to `min(trained, 4096)`.
    pub fn to_config(&self, ctx_train: u64) -> Result<RunConfig> {
        let device: Device = self.device.parse()?;
        let kv_dtype: KvDtype = self.kv_dtype.parse()?;
        let flash_attn: FlashAttn = self.flash_attn.parse()?;
        let ctx = match self.ctx {
            Some(c) => c,
            None if ctx_train > 0 => ctx_train.min(4096) as u32,
            None => 4096,
        };
        let c = RunConfig {
            device,
            batch: self.batch,
            ctx,
            ubatch: self.ubatch,
            kv_dtype,
            gpu_layers: self.gpu_layers,
            margin_pct: self.margin,
            flash_attn,
            mmap: parse_on_off("--mmap", &self.mmap)?,
            repack: parse_on_off("--repack", &self.repack)?,
            prompt: self.prompt,
            decode: self.decode.unwrap_or(0),
            isa: self.isa.clone(),
            engine_build: self.engine_build,
        };
        c.validate()?;
        Ok(c)
    }
}
