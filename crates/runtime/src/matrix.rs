//! Weight matrices as the runtime holds them, and `y = x W^T` on each kind.
//!
//! - classic ggml types (F32, F16, BF16, Q4_0 ... Q6_K) are candle [`QTensor`]s holding the
//!   stored blocks; quantized types multiply through candle's `k_quants::matmul` on those
//!   blocks directly, float types through [`crate::dense`] (f32 activations).
//!   That skips `QMatMul` (which dequantizes F32/F16/BF16 weights to f32 tensors at load) and
//!   the `QTensor` custom op (whose x86 path keeps a second, repacked copy of Q4_K/Q8_0
//!   weights), so resident bytes stay equal to the file's tensor bytes.
//! - I2_S and TL2 stay packed ([`crate::ternary`]).

use crate::dense;
use crate::error::{Result, RuntimeError};
use crate::ternary::{self, i2s::I2sMatrix, tl2::Tl2Matrix, QuantizedActs, TernaryRows};
use candle_core::quantized::{k_quants, GgmlDType, QStorage, QTensor};
use predictor::ggml_type::GgmlType;
use std::borrow::Cow;
use std::sync::OnceLock;

/// Runs `$body` with `$T` bound to candle's block type for `$dt` (a [`GgmlDType`]); types
/// without a CPU matmul (Q8_1, Q8_K) give `$other`.
macro_rules! with_block_type {
    ($dt:expr, $T:ident => $body:expr, $other:expr) => {
        match $dt {
            GgmlDType::F32 => {
                type $T = f32;
                $body
            }
            GgmlDType::F16 => {
                type $T = half::f16;
                $body
            }
            GgmlDType::BF16 => {
                type $T = half::bf16;
                $body
            }
            GgmlDType::Q4_0 => {
                type $T = k_quants::BlockQ4_0;
                $body
            }
            GgmlDType::Q4_1 => {
                type $T = k_quants::BlockQ4_1;
                $body
            }
            GgmlDType::Q5_0 => {
                type $T = k_quants::BlockQ5_0;
                $body
            }
            GgmlDType::Q5_1 => {
                type $T = k_quants::BlockQ5_1;
                $body
            }
            GgmlDType::Q8_0 => {
                type $T = k_quants::BlockQ8_0;
                $body
            }
            GgmlDType::Q2K => {
                type $T = k_quants::BlockQ2K;
                $body
            }
            GgmlDType::Q3K => {
                type $T = k_quants::BlockQ3K;
                $body
            }
            GgmlDType::Q4K => {
                type $T = k_quants::BlockQ4K;
                $body
            }
            GgmlDType::Q5K => {
                type $T = k_quants::BlockQ5K;
                $body
            }
            GgmlDType::Q6K => {
                type $T = k_quants::BlockQ6K;
                $body
            }
            GgmlDType::Q8_1 | GgmlDType::Q8K => $other,
        }
    };
}

/// The candle type for a classic ggml type this runtime can run, `None` otherwise.
pub fn candle_dtype(t: GgmlType) -> Option<GgmlDType> {
    Some(match t {
        GgmlType::F32 => GgmlDType::F32,
        GgmlType::F16 => GgmlDType::F16,
        GgmlType::BF16 => GgmlDType::BF16,
        GgmlType::Q4_0 => GgmlDType::Q4_0,
        GgmlType::Q4_1 => GgmlDType::Q4_1,
        GgmlType::Q5_0 => GgmlDType::Q5_0,
        GgmlType::Q5_1 => GgmlDType::Q5_1,
        GgmlType::Q8_0 => GgmlDType::Q8_0,
        GgmlType::Q2K => GgmlDType::Q2K,
        GgmlType::Q3K => GgmlDType::Q3K,
        GgmlType::Q4K => GgmlDType::Q4K,
        GgmlType::Q5K => GgmlDType::Q5K,
        GgmlType::Q6K => GgmlDType::Q6K,
        _ => return None,
    })
}

/// Reinterprets stored bytes as blocks of `T` (candle's block types are plain data).
fn as_blocks<T>(bytes: &[u8]) -> Result<&[T]> {
    let size = std::mem::size_of::<T>();
    if !bytes.len().is_multiple_of(size)
        || !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>())
    {
        return Err(RuntimeError::Invalid(format!(
            "weight storage of {} bytes is not a whole, aligned number of {size}-byte blocks",
            bytes.len()
        )));
    }
    // SAFETY: the length is a whole number of `T`s and the pointer is aligned for `T`
    // (checked above); candle's block types are `repr(C)` plain data valid for any bits.
    Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const T, bytes.len() / size) })
}

/// A classic ggml-type matrix (`rows x cols`, row-major like the file) in a candle [`QTensor`].
#[derive(Debug)]
pub struct ClassicMatrix {
    q: QTensor,
    dtype: GgmlDType,
    rows: usize,
    cols: usize,
}

impl ClassicMatrix {
    /// Builds the tensor's storage from its stored bytes (a copy: the caller drops `bytes`).
    pub fn from_bytes(bytes: &[u8], dtype: GgmlDType, rows: usize, cols: usize) -> Result<Self> {
        let (bs, ts) = (dtype.block_size(), dtype.type_size());
        if !cols.is_multiple_of(bs) || bytes.len() != rows * cols / bs * ts {
            return Err(RuntimeError::Invalid(format!(
                "{dtype:?} {rows}x{cols} needs {} bytes in whole blocks, got {}",
                rows * (cols / bs.max(1)) * ts,
                bytes.len()
            )));
        }
        // candle asserts alignment and length; check both first so that it cannot panic.
        with_block_type!(dtype, T => { as_blocks::<T>(bytes)?; }, {
            return Err(RuntimeError::Invalid(format!("{dtype:?} has no CPU matmul")));
        });
        let storage = QStorage::from_data(Cow::Borrowed(bytes), &candle_core::Device::Cpu, dtype)?;
        let q = QTensor::new(storage, (rows, cols))?;
        Ok(ClassicMatrix {
            q,
            dtype,
            rows,
            cols,
        })
    }

    /// Quantizes an f32 matrix (`rows x cols`) with candle's quantizer.
    pub fn quantize(w: &[f32], dtype: GgmlDType, rows: usize, cols: usize) -> Result<Self> {
        let t = candle_core::Tensor::from_slice(w, (rows, cols), &candle_core::Device::Cpu)?;
        let q = QTensor::quantize(&t, dtype)?;
        Ok(ClassicMatrix {
            q,
            dtype,
            rows,
            cols,
        })
    }

    /// The stored bytes (exactly as in a GGUF file).
    pub fn data(&self) -> Result<Cow<'_, [u8]>> {
        Ok(self.q.data()?)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.q.storage_size_in_bytes()
    }

    /// The stored type.
    pub fn dtype(&self) -> GgmlDType {
        self.dtype
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `x` (`m x cols`) times the transpose: `m x rows`.
    fn forward(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        let data = self.q.data()?;
        let (n, k) = (self.rows, self.cols);
        match self.dtype {
            GgmlDType::F16 => return Ok(dense::matmul_f16(as_blocks(&data)?, n, k, x, m)),
            GgmlDType::BF16 => return Ok(dense::matmul_bf16(as_blocks(&data)?, n, k, x, m)),
            GgmlDType::F32 => return Ok(dense::matmul_f32(as_blocks(&data)?, n, k, x, m)),
            _ => {}
        }
        let mut out = vec![0f32; m * self.rows];
        with_block_type!(self.dtype, T => {
            let blocks = as_blocks::<T>(&data)?;
            k_quants::matmul::<T>((m, self.cols, self.rows), x, blocks, &mut out)?;
        }, {
            return Err(RuntimeError::Invalid(format!("{:?} has no CPU matmul", self.dtype)));
        });
        Ok(out)
    }

    /// Dequantizes row `r` into `out` (length `cols`).
    pub fn row_f32(&self, r: usize, out: &mut [f32]) -> Result<()> {
        if r >= self.rows || out.len() != self.cols {
            return Err(RuntimeError::Invalid(format!(
                "row {r} of a {}x{} matrix",
                self.rows, self.cols
            )));
        }
        let data = self.q.data()?;
        with_block_type!(self.dtype, T => {
            let blocks = as_blocks::<T>(&data)?;
            let per_row = self.cols / self.dtype.block_size();
            <T as k_quants::GgmlType>::to_float(&blocks[r * per_row..(r + 1) * per_row], out);
        }, {
            return Err(RuntimeError::Invalid(format!("{:?} cannot be dequantized", self.dtype)));
        });
        Ok(())
    }

    /// The whole matrix as f32 (reference forward and tests).
    pub fn dequantize(&self) -> Result<Vec<f32>> {
        Ok(self
            .q
            .dequantize(&candle_core::Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }
}

/// A weight matrix `W` (`rows` outputs x `cols` inputs) in the form the runtime keeps it.
#[derive(Debug)]
pub enum Matrix {
    /// A classic ggml type through candle.
    Classic(ClassicMatrix),
    /// BitNet I2_S, packed.
    I2s(I2sMatrix),
    /// BitNet TL2, packed.
    Tl2(Tl2Matrix),
}

/// The input of one or more matmuls sharing it (q/k/v, gate/up): the f32 rows and, built
/// once on first use by a ternary matrix, their int8 quantization.
pub struct Input<'a> {
    x: &'a [f32],
    rows: usize,
    quantized: OnceLock<QuantizedActs>,
}

impl<'a> Input<'a> {
    /// `x` holds `rows` rows.
    pub fn new(x: &'a [f32], rows: usize) -> Input<'a> {
        Input {
            x,
            rows,
            quantized: OnceLock::new(),
        }
    }

    fn quantized(&self, k: usize) -> &QuantizedActs {
        self.quantized
            .get_or_init(|| QuantizedActs::quantize(self.x, k))
    }
}

impl Matrix {
    /// Output rows.
    pub fn rows(&self) -> usize {
        match self {
            Matrix::Classic(c) => c.rows,
            Matrix::I2s(m) => m.rows(),
            Matrix::Tl2(m) => m.rows(),
        }
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        match self {
            Matrix::Classic(c) => c.cols,
            Matrix::I2s(m) => m.cols(),
            Matrix::Tl2(m) => m.cols(),
        }
    }

    /// Bytes the runtime holds for this matrix.
    pub fn bytes(&self) -> usize {
        match self {
            Matrix::Classic(c) => c.bytes(),
            Matrix::I2s(m) => m.bytes(),
            Matrix::Tl2(m) => m.bytes(),
        }
    }

    /// `input` (`m x cols`) times `W^T`: `m x rows` f32.
    pub fn forward(&self, input: &Input<'_>) -> Result<Vec<f32>> {
        let k = self.cols();
        if input.x.len() != input.rows * k {
            return Err(RuntimeError::Invalid(format!(
                "matmul input of {} values is not {} rows of {k}",
                input.x.len(),
                input.rows
            )));
        }
        match self {
            Matrix::Classic(c) => c.forward(input.x, input.rows),
            Matrix::I2s(m) => Ok(ternary::matmul(m, input.quantized(k))),
            Matrix::Tl2(m) => Ok(ternary::matmul(m, input.quantized(k))),
        }
    }

    /// The whole matrix as f32, row-major (reference forward and tests).
    pub fn dequantize(&self) -> Result<Vec<f32>> {
        match self {
            Matrix::Classic(c) => c.dequantize(),
            Matrix::I2s(m) => Ok(ternary::dequantize(m)),
            Matrix::Tl2(m) => Ok(ternary::dequantize(m)),
        }
    }
}
