//! One run configuration: what an estimate is for.

use super::device::Device;
use super::isa::{Isa, IsaSpec};
use super::kv::KvDtype;
use super::overrides::TensorOverrides;
use super::serve::ServeOptions;
use super::split::SplitOptions;
use super::toggles::FlashAttn;
use crate::error::Error;
use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

/// One configuration to predict (and measure) memory for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Device running the model.
    pub device: Device,
    /// Sequences decoded together.
    pub batch: u32,
    /// Context length per sequence (KV cache positions reserved).
    pub ctx: u32,
    /// Micro-batch: tokens per sequence processed in one prefill step.
    pub ubatch: u32,
    /// KV cache element type.
    pub kv_dtype: KvDtype,
    /// Transformer blocks placed on the GPU (`None`: all of them on CUDA, none on CPU).
    pub gpu_layers: Option<u32>,
    /// Safety margin in percent of the predicted use, reported as headroom.
    pub margin_pct: f64,
    /// Flash attention (engines that have the switch).
    #[serde(default)]
    pub flash_attn: FlashAttn,
    /// Whether the engine memory-maps the model file (llama.cpp `-lm mmap`, the default)
    /// or reads it into anonymous memory (`-lm none`, `--no-mmap`).
    #[serde(default = "yes")]
    pub mmap: bool,
    /// Whether the engine repacks weights into CPU-specific layouts (llama.cpp's
    /// `CPU_REPACK` buffer; `--no-repack` turns it off).
    #[serde(default = "yes")]
    pub repack: bool,
    /// Prompt tokens per sequence the run processes; `None` is the planning case, a prompt
    /// that fills the context.
    #[serde(default)]
    pub prompt: Option<u32>,
    /// Tokens generated per sequence after the prompt.
    #[serde(default)]
    pub decode: u32,
    /// Served by llama-server with `batch` parallel slots of `ctx` tokens each (None: a
    /// one-shot command-line run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve: Option<ServeOptions>,
    /// Spread over several machines (RPC workers) or GPUs; `gpu_layers` is then llama.cpp's
    /// `-ngl`, counting the output layer as one more (None: one machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitOptions>,
    /// The CPU instruction sets the engine build uses (`--isa`: a name or features, see
    /// [`super::isa`]); `None`: AVX2, the build the committed records measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa: Option<IsaSpec>,
    /// The engine build (llama.cpp's build number, e.g. 11434) the prediction is for;
    /// `None`: the newest measured build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_build: Option<u32>,
    /// llama.cpp's `-ot`, `--cpu-moe` and `--n-cpu-moe`: parts of blocks placed against
    /// `-ngl`'s placement (empty: none).
    #[serde(default, skip_serializing_if = "TensorOverrides::is_empty")]
    pub tensor_overrides: TensorOverrides,
    /// Whether the KV cache goes with each block's device (llama.cpp's default; `-nkvo`
    /// keeps every block's KV in host memory).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub kv_offload: bool,
    /// Whether the llama.cpp build has the BLAS backend (`GGML_BLAS=ON`: OpenBLAS, MKL,
    /// BLIS...), which takes the large matrix products of weights in host memory from the
    /// CPU backend and from op offload, with a compute buffer of its own (`CPU compute
    /// buffer` beside the pinned host one). Modelled on GPU runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blas: bool,
    /// llama.cpp's `--no-host`: weights kept in host memory skip the GPU's pinned host
    /// buffer type, so the CPU's extra buffers (`CPU_REPACK`) take the ones they repack
    /// and the rest stay in a plain `CPU` buffer (or the mapped file). Without a GPU it
    /// changes nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_host: bool,
    /// llama.cpp's `--no-op-offload`: operations on weights kept in host memory stay on
    /// the CPU whatever the batch, so the first GPU neither copies those weights nor runs
    /// the host blocks' graph. Without a GPU it changes nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_op_offload: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            device: Device::Cpu,
            batch: 1,
            ctx: 4096,
            ubatch: 512,
            kv_dtype: KvDtype::F16,
            gpu_layers: None,
            margin_pct: 5.0,
            flash_attn: FlashAttn::Auto,
            mmap: true,
            repack: true,
            prompt: None,
            decode: 0,
            serve: None,
            split: None,
            isa: None,
            engine_build: None,
            tensor_overrides: TensorOverrides::default(),
            kv_offload: true,
            blas: false,
            no_host: false,
            no_op_offload: false,
        }
    }
}

/// The largest context any configuration may ask for (16M tokens): beyond it every
/// product of sizes is treated as a user error rather than a memory question.
pub const MAX_CTX: u32 = 1 << 24;
/// The largest batch any configuration may ask for.
pub const MAX_BATCH: u32 = 1 << 16;

impl RunConfig {
    /// Checks the values are in range; returns a clear error otherwise.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.batch == 0 || self.batch > MAX_BATCH {
            return bad(format!("batch must be 1..={MAX_BATCH}, got {}", self.batch));
        }
        if self.ctx == 0 || self.ctx > MAX_CTX {
            return bad(format!("context must be 1..={MAX_CTX}, got {}", self.ctx));
        }
        if self.ubatch == 0 {
            return bad("micro-batch must be at least 1".into());
        }
        if let Some(p) = self.prompt {
            if p > self.ctx {
                return bad(format!(
                    "prompt of {p} tokens does not fit the context of {}",
                    self.ctx
                ));
            }
        }
        if self.decode > MAX_CTX {
            return bad(format!(
                "decode must be at most {MAX_CTX}, got {}",
                self.decode
            ));
        }
        if !(self.margin_pct.is_finite() && (0.0..=1000.0).contains(&self.margin_pct)) {
            return bad(format!(
                "margin must be 0..=1000 %, got {}",
                self.margin_pct
            ));
        }
        if let Some(s) = &self.serve {
            s.validate()?;
        }
        if let Some(s) = &self.split {
            s.validate()?;
        }
        Ok(())
    }

    /// Prompt tokens per sequence the run processes: the configured prompt, or the whole
    /// context (less the decoded tokens) in the planning case; never more than the context.
    pub fn prompt_tokens(&self) -> u32 {
        match self.prompt {
            Some(p) => p.min(self.ctx),
            None => self.ctx.saturating_sub(self.decode).max(1),
        }
    }

    /// Positions per sequence the run really fills: prompt plus decoded tokens, at most
    /// the context.
    pub fn filled_tokens(&self) -> u32 {
        self.prompt_tokens()
            .saturating_add(self.decode)
            .min(self.ctx)
    }

    /// Tokens per sequence in one prefill step: the micro-batch, capped by the context.
    pub fn effective_ubatch(&self) -> u32 {
        self.ubatch.min(self.ctx)
    }

    /// The ISA to predict for ([`RunConfig::isa`], else AVX2).
    pub fn cpu_isa(&self) -> Isa {
        self.isa
            .as_ref()
            .map_or_else(Isa::baseline, |s| s.isa.clone())
    }

    /// Blocks on the GPU for a model with `n_layers` blocks.
    pub fn gpu_layers_for(&self, n_layers: u32) -> u32 {
        match self.device {
            Device::Cpu => 0,
            Device::Cuda(_) | Device::Rocm(_) => self.gpu_layers.unwrap_or(n_layers).min(n_layers),
        }
    }
}
