//! How a model is served: llama.cpp's `llama-server` with parallel slots.
//!
//! The slots are the configuration's `batch` (parallel sequences, `-np`) and `ctx` is the
//! context of one slot, as everywhere else. What a server adds to a one-shot run is set
//! here: whether the slots share one KV buffer, the host RAM its prompt cache may fill,
//! the context checkpoints kept for sliding-window models, and the workload it serves.

use crate::error::Error;
use serde::{Deserialize, Serialize};

/// llama-server's default `--cache-ram`, MiB.
pub const DEFAULT_CACHE_RAM_MIB: i64 = 8192;
/// llama-server's default `--ctx-checkpoints` (per slot).
pub const DEFAULT_CTX_CHECKPOINTS: u32 = 32;
/// llama-server's default logical batch (`-b`): tokens of all slots one decode call takes.
pub const DEFAULT_SERVER_N_BATCH: u32 = 2048;

fn default_cache_ram() -> i64 {
    DEFAULT_CACHE_RAM_MIB
}

fn default_checkpoints() -> u32 {
    DEFAULT_CTX_CHECKPOINTS
}

fn default_n_batch() -> u32 {
    DEFAULT_SERVER_N_BATCH
}

/// A server deployment: the knobs of `llama-server` that change its memory, and the
/// workload it is measured or planned for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServeOptions {
    /// One KV buffer of `ctx x slots` cells shared by every slot (`--kv-unified`), rather
    /// than one stream of `ctx` cells per slot (the default when `-np` is given).
    #[serde(default)]
    pub kv_unified: bool,
    /// Host RAM the server's prompt cache may fill with the saved states of earlier
    /// requests, MiB (`--cache-ram`: 0 turns it off, -1 means no limit).
    #[serde(default = "default_cache_ram")]
    pub cache_ram_mib: i64,
    /// Context checkpoints kept per slot for models with sliding-window layers
    /// (`--ctx-checkpoints`).
    #[serde(default = "default_checkpoints")]
    pub ctx_checkpoints: u32,
    /// Logical batch (`-b`): prompt tokens of all slots submitted to one decode call.
    #[serde(default = "default_n_batch")]
    pub n_batch: u32,
    /// Requests each slot serves, one after another (the workload's waves: every slot
    /// busy at once, then again); `None` is the planning case, a long-running server whose
    /// prompt cache has filled to its limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_slot: Option<u32>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            kv_unified: false,
            cache_ram_mib: DEFAULT_CACHE_RAM_MIB,
            ctx_checkpoints: DEFAULT_CTX_CHECKPOINTS,
            n_batch: DEFAULT_SERVER_N_BATCH,
            requests_per_slot: None,
        }
    }
}

impl ServeOptions {
    /// Checks the values are in range.
    pub fn validate(&self) -> Result<(), Error> {
        if self.cache_ram_mib < -1 {
            return Err(Error::InvalidConfig(format!(
                "--cache-ram must be -1 (no limit), 0 (off) or a size in MiB, got {}",
                self.cache_ram_mib
            )));
        }
        if self.n_batch == 0 {
            return Err(Error::InvalidConfig(
                "the server's logical batch (-b) must be at least 1".into(),
            ));
        }
        if self.requests_per_slot == Some(0) {
            return Err(Error::InvalidConfig(
                "a workload serves at least one request per slot".into(),
            ));
        }
        Ok(())
    }

    /// The prompt cache's byte limit: `None` when unlimited, `Some(0)` when off.
    pub fn cache_limit_bytes(&self) -> Option<u64> {
        match self.cache_ram_mib {
            -1 => None,
            m => Some((m.max(0) as u64) << 20),
        }
    }

    /// A short key of the knobs, for record keys (`|srv...`).
    pub fn key(&self) -> String {
        let mut k = format!(
            "|srv{}|cram{}|cp{}|nb{}",
            if self.kv_unified { "u" } else { "" },
            self.cache_ram_mib,
            self.ctx_checkpoints,
            self.n_batch
        );
        if let Some(r) = self.requests_per_slot {
            k.push_str(&format!("|req{r}"));
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_engine_defaults_and_limits_read_as_bytes() {
        let s = ServeOptions::default();
        assert_eq!(s.cache_limit_bytes(), Some(8192 << 20));
        let off = ServeOptions {
            cache_ram_mib: 0,
            ..s.clone()
        };
        assert_eq!(off.cache_limit_bytes(), Some(0));
        let unlimited = ServeOptions {
            cache_ram_mib: -1,
            ..s.clone()
        };
        assert_eq!(unlimited.cache_limit_bytes(), None);
        assert!(ServeOptions {
            cache_ram_mib: -2,
            ..s.clone()
        }
        .validate()
        .is_err());
        assert!(ServeOptions {
            requests_per_slot: Some(0),
            ..s
        }
        .validate()
        .is_err());
    }

    #[test]
    fn old_records_without_the_new_fields_read_with_the_engine_defaults() {
        let s: ServeOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(s, ServeOptions::default());
    }
}
