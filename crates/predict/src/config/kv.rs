//! The KV cache's element type.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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
