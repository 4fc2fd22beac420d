//! Flash attention and the on/off switches of a run configuration.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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
