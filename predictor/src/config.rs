//! Run configuration: the device, batch, context and cache settings a prediction is for.

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

/// Element type of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvDtype {
    /// 4 bytes per element.
    F32,
    /// 2 bytes per element.
    F16,
    /// 34 bytes per 32 elements (ggml Q8_0 blocks).
    Q8_0,
}

impl KvDtype {
    /// Bytes needed for `elements` cache elements (Q8_0 rounds up to whole blocks).
    pub fn bytes_for(&self, elements: u64) -> u64 {
        match self {
            KvDtype::F32 => elements.saturating_mul(4),
            KvDtype::F16 => elements.saturating_mul(2),
            KvDtype::Q8_0 => elements.div_ceil(32).saturating_mul(34),
        }
    }

    /// The name used on the command line and in records.
    pub fn as_str(&self) -> &'static str {
        match self {
            KvDtype::F32 => "f32",
            KvDtype::F16 => "f16",
            KvDtype::Q8_0 => "q8_0",
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
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" => Ok(KvDtype::F32),
            "f16" => Ok(KvDtype::F16),
            "q8_0" | "q8" => Ok(KvDtype::Q8_0),
            _ => Err(Error::InvalidConfig(format!(
                "unknown KV dtype {s:?} (expected f32, f16 or q8_0)"
            ))),
        }
    }
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
        if !(self.margin_pct.is_finite() && (0.0..=1000.0).contains(&self.margin_pct)) {
            return bad(format!(
                "margin must be 0..=1000 %, got {}",
                self.margin_pct
            ));
        }
        Ok(())
    }

    /// Tokens per sequence in one prefill step: the micro-batch, capped by the context.
    pub fn effective_ubatch(&self) -> u32 {
        self.ubatch.min(self.ctx)
    }

    /// Blocks on the GPU for a model with `n_layers` blocks.
    pub fn gpu_layers_for(&self, n_layers: u32) -> u32 {
        match self.device {
            Device::Cpu => 0,
            Device::Cuda(_) => self.gpu_layers.unwrap_or(n_layers).min(n_layers),
        }
    }
}
