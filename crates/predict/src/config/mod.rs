//! Run configuration: the device, batch, context and cache settings a prediction is for,
//! and how the run is deployed: one process ([`RunConfig`] alone), a server with parallel
//! slots ([`serve`]) or a model split over several machines or GPUs ([`split`]).

pub mod role;
pub mod serve;
pub mod split;

pub use role::Role;
pub use serve::ServeOptions;
pub use split::{SplitDevice, SplitDeviceKind, SplitMode, SplitOptions};

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The device that runs the model (the host always holds what is not offloaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Device {
    /// Host CPU only.
    Cpu,
    /// CUDA device by ordinal.
    Cuda(u32),
}

impl Device {
    /// Whether this is a CUDA device.
    pub fn is_cuda(&self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    /// `cpu` or `cuda`, the device kind calibration tables are keyed by.
    pub fn kind(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    /// Accepts `cpu`, `gpu`, `cuda` (all meaning device 0 for the GPU ones) and `cuda:N`,
    /// case-insensitively.
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "cpu" => Ok(Device::Cpu),
            "gpu" | "cuda" => Ok(Device::Cuda(0)),
            _ => {
                if let Some(n) = t.strip_prefix("cuda:").or_else(|| t.strip_prefix("gpu:")) {
                    n.parse::<u32>()
                        .map(Device::Cuda)
                        .map_err(|_| Error::UnknownDevice(s.to_string()))
                } else {
                    Err(Error::UnknownDevice(s.to_string()))
                }
            }
        }
    }
}

impl From<Device> for String {
    fn from(d: Device) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for Device {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

/// Element type of the KV cache (the types llama.cpp's `-ctk`/`-ctv` accept that
/// memcal models; each is a ggml type with its block size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvDtype {
    /// 4 bytes per element.
    F32,
    /// 2 bytes per element.
    F16,
    /// 2 bytes per element (bfloat16).
    Bf16,
    /// 34 bytes per 32 elements (ggml Q8_0 blocks).
    Q8_0,
    /// 18 bytes per 32 elements (ggml Q4_0 blocks).
    Q4_0,
    /// 20 bytes per 32 elements (ggml Q4_1 blocks).
    Q4_1,
    /// 22 bytes per 32 elements (ggml Q5_0 blocks).
    Q5_0,
    /// 24 bytes per 32 elements (ggml Q5_1 blocks).
    Q5_1,
    /// 18 bytes per 32 elements (ggml IQ4_NL blocks).
    Iq4Nl,
}

impl KvDtype {
    /// Every KV dtype, in the order `--help` lists them.
    pub const ALL: [KvDtype; 9] = [
        KvDtype::F32,
        KvDtype::F16,
        KvDtype::Bf16,
        KvDtype::Q8_0,
        KvDtype::Q4_0,
        KvDtype::Q4_1,
        KvDtype::Q5_0,
        KvDtype::Q5_1,
        KvDtype::Iq4Nl,
    ];

    /// (elements per block, bytes per block).
    pub fn block(&self) -> (u64, u64) {
        match self {
            KvDtype::F32 => (1, 4),
            KvDtype::F16 | KvDtype::Bf16 => (1, 2),
            KvDtype::Q8_0 => (32, 34),
            KvDtype::Q4_0 | KvDtype::Iq4Nl => (32, 18),
            KvDtype::Q4_1 => (32, 20),
            KvDtype::Q5_0 => (32, 22),
            KvDtype::Q5_1 => (32, 24),
        }
    }

    /// Bytes needed for `elements` cache elements (block types round up to whole blocks).
    pub fn bytes_for(&self, elements: u64) -> u64 {
        let (n, b) = self.block();
        elements.div_ceil(n).saturating_mul(b)
    }

    /// Whether this is a block-quantized type (llama.cpp needs flash attention for a
    /// quantized V cache).
    pub fn is_quantized(&self) -> bool {
        self.block().0 > 1
    }

    /// The name used on the command line and in records (llama.cpp's spelling).
    pub fn as_str(&self) -> &'static str {
        match self {
            KvDtype::F32 => "f32",
            KvDtype::F16 => "f16",
            KvDtype::Bf16 => "bf16",
            KvDtype::Q8_0 => "q8_0",
            KvDtype::Q4_0 => "q4_0",
            KvDtype::Q4_1 => "q4_1",
            KvDtype::Q5_0 => "q5_0",
            KvDtype::Q5_1 => "q5_1",
            KvDtype::Iq4Nl => "iq4_nl",
        }
    }
}

impl fmt::Display for KvDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KvDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim().to_ascii_lowercase();
        let t = if t == "q8" { "q8_0".to_string() } else { t };
        KvDtype::ALL
            .into_iter()
            .find(|k| k.as_str() == t)
            .ok_or_else(|| {
                let names: Vec<&str> = KvDtype::ALL.iter().map(|k| k.as_str()).collect();
                Error::InvalidConfig(format!(
                    "unknown KV dtype {s:?} (expected one of {})",
                    names.join(", ")
                ))
            })
    }
}

/// Flash attention, as llama.cpp's `-fa on|off|auto` sets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashAttn {
    /// The engine decides (llama.cpp resolves `auto` to on for the CPU backend).
    #[default]
    Auto,
    /// Fused attention: no `kv x tokens x heads` score matrix is materialised.
    On,
    /// Scores materialised as a matrix.
    Off,
}

impl FlashAttn {
    /// The name used on the command line and in records.
    pub fn as_str(&self) -> &'static str {
        match self {
            FlashAttn::Auto => "auto",
            FlashAttn::On => "on",
            FlashAttn::Off => "off",
        }
    }
}

impl fmt::Display for FlashAttn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FlashAttn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(FlashAttn::Auto),
            "on" | "1" | "true" | "enabled" => Ok(FlashAttn::On),
            "off" | "0" | "false" | "disabled" => Ok(FlashAttn::Off),
            _ => Err(Error::InvalidConfig(format!(
                "unknown flash attention setting {s:?} (expected on, off or auto)"
            ))),
        }
    }
}

/// Reads `on`/`off` (also `true`/`false`, `1`/`0`, `yes`/`no`) for the boolean knobs.
pub fn parse_on_off(what: &str, s: &str) -> Result<bool, Error> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(Error::InvalidConfig(format!(
            "{what} must be on or off, got {s:?}"
        ))),
    }
}

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
    /// [`crate::backend::isa`]); `None`: AVX2, the build the committed records measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa: Option<String>,
    /// The engine build (llama.cpp's build number, e.g. 11434) the prediction is for;
    /// `None`: the newest measured build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_build: Option<u32>,
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
        if let Some(isa) = &self.isa {
            isa.parse::<crate::backend::isa::Isa>()?;
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
    pub fn cpu_isa(&self) -> crate::backend::isa::Isa {
        self.isa
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(crate::backend::isa::Isa::baseline)
    }

    /// Blocks on the GPU for a model with `n_layers` blocks.
    pub fn gpu_layers_for(&self, n_layers: u32) -> u32 {
        match self.device {
            Device::Cpu => 0,
            Device::Cuda(_) => self.gpu_layers.unwrap_or(n_layers).min(n_layers),
        }
    }
}
