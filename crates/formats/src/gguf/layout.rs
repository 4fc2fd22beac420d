//! What the GGUF reader, the BitNet type resolution and split models share, below them
//! all: a tensor info as read (before its type id is interpreted), alignment arithmetic,
//! and a split model's part.

use std::path::PathBuf;

/// A tensor info as read, before its type id is interpreted.
#[derive(Debug, Clone)]
pub(crate) struct RawTensor {
    pub(crate) name: String,
    pub(crate) dims: Vec<u64>,
    pub(crate) type_id: u32,
    pub(crate) offset: u64,
}

/// `x` rounded up to a multiple of `align` (a power of two), `None` on overflow.
pub fn align_up(x: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    Some(x.checked_add(mask)? & !mask)
}

/// One part of a split model, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The part's path or URL.
    pub path: PathBuf,
    /// Its length in bytes.
    pub file_bytes: u64,
    /// Where its tensor data starts.
    pub data_offset: u64,
    /// Its tensors.
    pub n_tensors: usize,
}
