//! What the GGUF reader and the BitNet type resolution share, below both: a tensor info as
//! read (before its type id is interpreted) and alignment arithmetic.

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
