//! The preallocated, initialised KV cache.

use crate::error::{Result, RuntimeError};
use half::f16;
use predictor::KvDtype;

/// An element type the cache can hold.
pub trait KvElem: Copy + Send + Sync + 'static {
    /// Converts to f32.
    fn get(self) -> f32;
    /// Converts from f32.
    fn put(v: f32) -> Self;
}

impl KvElem for f32 {
    #[inline(always)]
    fn get(self) -> f32 {
        self
    }
    #[inline(always)]
    fn put(v: f32) -> Self {
        v
    }
}

impl KvElem for f16 {
    #[inline(always)]
    fn get(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn put(v: f32) -> Self {
        f16::from_f32(v)
    }
}

/// One K or V buffer: `batch x ctx x kv_dim` elements, position-major per sequence.
#[derive(Debug)]
pub enum KvStore {
    /// f32 elements.
    F32(Vec<f32>),
    /// f16 elements.
    F16(Vec<f16>),
}

/// Allocates `n` elements and writes every one of them, so that the pages are resident at
/// once (a zeroed allocation would be calloc'ed and stay unbacked until first written).
/// The allocation is fallible: a refusal is [`RuntimeError::OutOfMemory`], not an abort.
fn resident<T: Copy>(n: usize, zero: T) -> Result<Vec<T>> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| RuntimeError::OutOfMemory {
            what: "the KV cache".into(),
            bytes: (n as u64).saturating_mul(std::mem::size_of::<T>() as u64),
        })?;
    // Hide the fresh allocation from the optimiser so that it cannot turn the writes below
    // into a zeroed (lazily backed) allocation.
    let p = std::hint::black_box(v.as_mut_ptr());
    for i in 0..n {
        // SAFETY: `i < n <= capacity`; every element is initialised before `set_len`.
        unsafe { p.add(i).write(zero) };
    }
    // SAFETY: all `n` elements were written above.
    unsafe { v.set_len(n) };
    Ok(v)
}

impl KvStore {
    fn new(dtype: KvDtype, n: usize) -> Result<KvStore> {
        match dtype {
            KvDtype::F32 => Ok(KvStore::F32(resident(n, 0f32)?)),
            KvDtype::F16 => Ok(KvStore::F16(resident(n, f16::ZERO)?)),
            other => Err(RuntimeError::Invalid(format!(
                "the reference runtime keeps its KV cache in f32 or f16 ({other} is not supported)"
            ))),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            KvStore::F32(v) => v.len() * 4,
            KvStore::F16(v) => v.len() * 2,
        }
    }
}

/// K and V of one layer.
#[derive(Debug)]
pub struct LayerKv {
    /// Keys, `batch x ctx x kv_dim`.
    pub k: KvStore,
    /// Values, `batch x ctx x kv_dim`.
    pub v: KvStore,
}

/// The KV cache of a model: every layer's K and V for `batch x ctx` positions, allocated and
/// written once at creation.
#[derive(Debug)]
pub struct KvCache {
    /// Element type.
    pub dtype: KvDtype,
    /// Sequences.
    pub batch: usize,
    /// Positions per sequence.
    pub ctx: usize,
    /// Elements per position per layer for K (and for V): `kv_heads x head_dim`.
    pub kv_dim: usize,
    /// Per layer.
    pub layers: Vec<LayerKv>,
    /// Positions filled per sequence.
    pub lens: Vec<usize>,
    /// K and V of the blocks that run on a device (see [`crate::device`]).
    pub device: Vec<crate::device::kv::DeviceKv>,
}

impl KvCache {
    /// Allocates and initialises a cache.
    pub fn new(
        n_layers: usize,
        batch: usize,
        ctx: usize,
        kv_dim: usize,
        dtype: KvDtype,
    ) -> Result<KvCache> {
        if batch == 0 || ctx == 0 {
            return Err(RuntimeError::Invalid(format!(
                "KV cache needs batch and context of at least 1 (got {batch} x {ctx})"
            )));
        }
        let n = batch
            .checked_mul(ctx)
            .and_then(|x| x.checked_mul(kv_dim))
            .ok_or_else(|| RuntimeError::Invalid(format!("KV cache {batch} x {ctx} overflows")))?;
        let layers = (0..n_layers)
            .map(|_| {
                Ok(LayerKv {
                    k: KvStore::new(dtype, n)?,
                    v: KvStore::new(dtype, n)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache {
            dtype,
            batch,
            ctx,
            kv_dim,
            layers,
            lens: vec![0; batch],
            device: Vec::new(),
        })
    }

    /// Bytes of the device blocks' K and V.
    pub fn device_bytes(&self) -> u64 {
        self.device.iter().map(|d| d.bytes()).sum()
    }

    /// Bytes held by the host blocks' K and V buffers.
    pub fn bytes(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| (l.k.bytes() + l.v.bytes()) as u64)
            .sum()
    }

    /// Forgets every sequence (the memory stays allocated).
    pub fn clear(&mut self) {
        self.lens.iter_mut().for_each(|l| *l = 0);
    }

    /// Element offset of (`seq`, `pos`) in a layer buffer.
    pub fn offset(&self, seq: usize, pos: usize) -> usize {
        (seq * self.ctx + pos) * self.kv_dim
    }
}

/// Writes `row` (f32, `kv_dim` values) at element offset `at`.
pub fn store_row(dst: &mut KvStore, at: usize, row: &[f32]) {
    match dst {
        KvStore::F32(v) => v[at..at + row.len()].copy_from_slice(row),
        KvStore::F16(v) => {
            for (d, s) in v[at..at + row.len()].iter_mut().zip(row) {
                *d = f16::from_f32(*s);
            }
        }
    }
}
