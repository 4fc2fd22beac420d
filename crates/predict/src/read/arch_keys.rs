//! GGUF hyperparameter keys, read with type checks: `<arch>.<suffix>`, scalars and
//! per-block arrays.

use crate::error::{Error, Result};
use crate::gguf::{GgufFile, Value};

/// Reads GGUF keys of the file's architecture with type checks.
pub(super) struct ArchKeys<'a> {
    /// The header.
    pub g: &'a GgufFile,
    /// Its `general.architecture`, the prefix of its hyperparameter keys.
    pub arch: &'a str,
}

impl ArchKeys<'_> {
    pub(super) fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }

    pub(super) fn wrong(&self, suffix: &str, want: &str, v: &Value) -> Error {
        Error::malformed(
            &self.g.path,
            format!(
                "{} must be {want}, found a {} ({v})",
                self.key(suffix),
                v.value_type()
            ),
        )
    }

    /// A scalar integer key.
    pub(super) fn uint(&self, suffix: &str) -> Result<Option<u64>> {
        match self.g.get(&self.key(suffix)) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(suffix, "a non-negative integer", v)),
        }
    }

    /// A key that is a scalar or one integer per layer (`n_layers` long).
    pub(super) fn per_layer(&self, suffix: &str, n_layers: u32) -> Result<Option<Vec<u64>>> {
        let Some(v) = self.g.get(&self.key(suffix)) else {
            return Ok(None);
        };
        if let Some(x) = v.as_u64() {
            return Ok(Some(vec![x; n_layers as usize]));
        }
        let arr = v
            .as_array()
            .ok_or_else(|| self.wrong(suffix, "an integer or an array of integers", v))?;
        if arr.len() != n_layers as u64 {
            return Err(Error::malformed(
                &self.g.path,
                format!(
                    "{} has {} entries for {n_layers} blocks",
                    self.key(suffix),
                    arr.len()
                ),
            ));
        }
        arr.to_u64_vec()
            .map(Some)
            .ok_or_else(|| self.wrong(suffix, "an array of non-negative integers", v))
    }
}
