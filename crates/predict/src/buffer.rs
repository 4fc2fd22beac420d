//! An engine's buffers as it names them in its log: what each holds ([`BufferKind`]), the
//! engine's own buffer type name and the size. Predicted in estimates and parsed from the
//! engine's log into records, so the two can be held against each other.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What an engine buffer holds: llama.cpp's `model`, `KV`, `output` and `compute` buffers,
/// the K and V halves of the KV cache its summary line prints, and llama-server's prompt
/// cache.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BufferKind {
    /// Model weights (`CPU_Mapped model buffer`, `CPU_REPACK model buffer`, ...).
    #[default]
    Model,
    /// The KV cache (`CPU KV buffer`).
    Kv,
    /// Its K half (the `K (f16): ... MiB` of the KV summary line).
    KvK,
    /// Its V half.
    KvV,
    /// The output buffer (logits and embeddings of the outputs).
    Output,
    /// The compute buffer the scheduler reserves.
    Compute,
    /// llama-server's prompt cache and context checkpoints in host RAM.
    PromptCache,
}

impl BufferKind {
    /// Every kind, in the order estimates list them.
    pub const ALL: [BufferKind; 7] = [
        BufferKind::Model,
        BufferKind::Kv,
        BufferKind::KvK,
        BufferKind::KvV,
        BufferKind::Output,
        BufferKind::Compute,
        BufferKind::PromptCache,
    ];

    /// The name records and JSON carry (`model`, `kv`, `kv_k`, `kv_v`, `output`,
    /// `compute`, `prompt_cache`).
    pub fn as_str(&self) -> &'static str {
        match self {
            BufferKind::Model => "model",
            BufferKind::Kv => "kv",
            BufferKind::KvK => "kv_k",
            BufferKind::KvV => "kv_v",
            BufferKind::Output => "output",
            BufferKind::Compute => "compute",
            BufferKind::PromptCache => "prompt_cache",
        }
    }
}

impl fmt::Display for BufferKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One buffer an engine reports (or is predicted to report) in its log, so that each
/// analytic component can be held against the engine's own figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineBuffer {
    /// What it holds.
    pub component: BufferKind,
    /// The engine's buffer type name (`CPU`, `CPU_Mapped`, `CPU_REPACK`, `CUDA0`, ...).
    pub buffer: String,
    /// Size the engine reported, bytes (from MiB with two decimals: within 5 KiB).
    pub bytes: u64,
}

impl EngineBuffer {
    /// A buffer of `kind` in the engine's buffer type `buffer`, of `bytes`.
    pub fn new(kind: BufferKind, buffer: &str, bytes: u64) -> EngineBuffer {
        EngineBuffer {
            component: kind,
            buffer: buffer.to_string(),
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_the_names_records_carry() {
        for k in BufferKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<BufferKind>(&json).unwrap(), k);
        }
    }
}
