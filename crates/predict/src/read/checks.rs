//! Sanity bounds on what a header declares, shared by both formats.

use crate::error::{Error, Result};
use std::path::Path;

/// Largest training context accepted (2^24 tokens); larger values are treated as corrupt.
pub const MAX_CTX: u64 = crate::config::MAX_CTX as u64;

/// Rejects a layer count the tensor table cannot back (also bounds the per-layer vectors).
pub(super) fn check_layers(path: &Path, n_layers: u64, n_tensors: usize) -> Result<u32> {
    if n_layers == 0 {
        return Err(Error::malformed(
            path,
            "the model declares 0 transformer blocks",
        ));
    }
    if n_layers > n_tensors as u64 {
        return Err(Error::malformed(
            path,
            format!(
                "the model declares {n_layers} blocks but the file holds only {n_tensors} tensors"
            ),
        ));
    }
    u32::try_from(n_layers)
        .map_err(|_| Error::malformed(path, format!("{n_layers} blocks is out of range")))
}

/// Rejects an absurd training context.
pub(super) fn check_ctx(path: &Path, key: &str, ctx: u64) -> Result<u64> {
    if ctx > MAX_CTX {
        return Err(Error::malformed(
            path,
            format!("{key} is {ctx}, beyond the {MAX_CTX} tokens any model is trained for"),
        ));
    }
    Ok(ctx)
}

/// A header value as a `u32`, or an error naming it.
pub(super) fn to_u32(path: &Path, what: &str, v: u64) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::malformed(path, format!("{what} = {v} is out of range")))
}
