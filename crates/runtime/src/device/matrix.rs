//! Weight matrices on a candle device, and `y = x W^T` on each kind.
//!
//! - Quantized classic types (Q4_0 ... Q6_K) are candle `QTensor`s built from the stored
//!   blocks ([`QStorage::from_data`]); on CUDA candle pads each tensor by 512 elements'
//!   worth of blocks (`MATRIX_ROW_PADDING`) and multiplies with its MMVQ/MMQ kernels, whose
//!   quantized-input workspace grows to the largest input seen and is kept.
//! - F32/F16/BF16 matrices keep their stored dtype; the input is cast to it and the product
//!   goes through cuBLAS (not `QMatMul`, which would dequantize them to f32 at load).
//! - I2_S stays packed on the device (`rows x cols / 4` bytes; the per-tensor scale is kept
//!   on the host). A product unpacks the whole matrix into a transient f32 workspace of
//!   `rows x cols` codes (a gather from a 256-entry table, one row of four codes per packed
//!   byte), multiplies the int8-quantized input by it, and frees it: the documented interim
//!   of `profiler/CUDA.md` until a packed kernel exists. Numerically this is the host
//!   kernel's computation exactly (integer dot products, then `/ act_scale * w_scale`).
//! - TL2 is refused on the device (its blocks run on the host: `--gpu-layers` below them).

use crate::error::{Result, RuntimeError};
use crate::matrix::Matrix;
use crate::ternary::TernaryRows;
use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use std::sync::{Arc, OnceLock};

/// Weights per I2_S block.
const I2S_BLOCK: usize = 128;

/// A weight matrix (`rows` outputs x `cols` inputs) on a device.
#[derive(Debug)]
pub enum DeviceMatrix {
    /// A quantized classic type, as stored (plus candle's row padding on CUDA).
    Quantized {
        /// The blocks.
        q: QMatMul,
        /// Bytes on the device.
        bytes: usize,
    },
    /// F32/F16/BF16, `rows x cols` in the stored dtype.
    Dense(Tensor),
    /// BitNet I2_S codes, packed.
    I2s {
        /// `rows x cols / 4` bytes (u8).
        packed: Tensor,
        /// The code table (`256 x 4` f32), shared by every I2_S matrix of a device.
        table: Tensor,
        /// The per-tensor weight scale.
        scale: f32,
        /// Output rows.
        rows: usize,
        /// Input columns.
        cols: usize,
    },
}

/// The I2_S code table: packed byte `b` -> the codes of its four weights, highest bits
/// first, `code - 1` (0 -> -1, 1 -> 0, 2 -> +1; the unused 3 -> +2, as the host unpacks it).
pub fn i2s_table(dev: &Device) -> Result<Tensor> {
    let t: Vec<f32> = (0..256u32)
        .flat_map(|b| [6, 4, 2, 0].map(|s| ((b >> s) & 3) as f32 - 1.0))
        .collect();
    Ok(Tensor::from_vec(t, (256, 4), dev)?)
}

/// Bytes candle allocates on `dev` for a quantized tensor of `bytes` stored bytes: on CUDA
/// one `MATRIX_ROW_PADDING` (512 elements) of blocks more.
pub fn quantized_device_bytes(bytes: usize, dtype: GgmlDType, dev: &Device) -> usize {
    if dev.is_cuda() {
        bytes + 512 * dtype.type_size() / dtype.block_size()
    } else {
        bytes
    }
}

impl DeviceMatrix {
    /// Copies a host matrix to `dev`; `table` is the device's I2_S table.
    pub fn upload(m: &Matrix, dev: &Device, table: &Tensor) -> Result<DeviceMatrix> {
        match m {
            Matrix::Classic(c) => {
                let data = c.data()?;
                let dense = match c.dtype() {
                    GgmlDType::F32 => Some(DType::F32),
                    GgmlDType::F16 => Some(DType::F16),
                    GgmlDType::BF16 => Some(DType::BF16),
                    _ => None,
                };
                if let Some(dt) = dense {
                    let t = Tensor::from_raw_buffer(&data, dt, &[c.rows(), c.cols()], dev)?;
                    return Ok(DeviceMatrix::Dense(t));
                }
                let bytes = quantized_device_bytes(data.len(), c.dtype(), dev);
                let storage = QStorage::from_data(data, dev, c.dtype())?;
                let q = QTensor::new(storage, (c.rows(), c.cols()))?;
                Ok(DeviceMatrix::Quantized {
                    q: QMatMul::QTensor(Arc::new(q)),
                    bytes,
                })
            }
            Matrix::I2s(w) => Ok(DeviceMatrix::I2s {
                packed: Tensor::from_slice(w.codes(), w.codes().len(), dev)?,
                table: table.clone(),
                scale: w.scale(),
                rows: w.rows(),
                cols: w.cols(),
            }),
            Matrix::Tl2(_) => Err(RuntimeError::Invalid(
                "TL2 weights run on the host only in this runtime; keep their blocks off the \
                 GPU (--gpu-layers 0) or convert the model to I2_S"
                    .into(),
            )),
        }
    }

    /// Bytes this matrix holds on its device.
    pub fn bytes(&self) -> usize {
        match self {
            DeviceMatrix::Quantized { bytes, .. } => *bytes,
            DeviceMatrix::Dense(t) => t.elem_count() * t.dtype().size_in_bytes(),
            DeviceMatrix::I2s { packed, .. } => packed.elem_count(),
        }
    }

    /// `input` (`m x cols` f32) times `W^T`: `m x rows` f32.
    pub fn forward(&self, input: &DeviceInput) -> Result<Tensor> {
        let x = &input.x;
        Ok(match self {
            DeviceMatrix::Quantized { q, .. } => q.forward(x)?,
            DeviceMatrix::Dense(w) if w.dtype() == DType::F32 => x.matmul(&w.t()?)?,
            DeviceMatrix::Dense(w) => x
                .to_dtype(w.dtype())?
                .matmul(&w.t()?)?
                .to_dtype(DType::F32)?,
            DeviceMatrix::I2s {
                packed,
                table,
                scale,
                rows,
                cols,
            } => {
                let (xq, act_scale) = input.quantized()?;
                // The whole matrix as f32 codes, in the packed order: packed byte `n` of
                // block `b` gives columns `b*128 + {0,32,64,96} + j`, which the permuted
                // input (see `DeviceInput::quantized`) lines up with.
                let w = table.index_select(packed, 0)?.reshape((*rows, *cols))?;
                let y = xq.matmul(&w.t()?)?;
                drop(w);
                y.broadcast_div(act_scale)?.affine(*scale as f64, 0.0)?
            }
        })
    }
}

/// The input of one or more matmuls sharing it (q/k/v, gate/up): the f32 rows and, built
/// once on first use by an I2_S matrix, their int8 quantization (as f32 values, columns
/// permuted into the packed order) with the per-row scales `127 / absmax`.
pub struct DeviceInput {
    x: Tensor,
    quantized: OnceLock<(Tensor, Tensor)>,
}

impl DeviceInput {
    /// `x`: `rows x cols` f32, contiguous.
    pub fn new(x: Tensor) -> DeviceInput {
        DeviceInput {
            x,
            quantized: OnceLock::new(),
        }
    }

    /// The quantized input and its per-row scales (`rows x 1`), as the host's
    /// `QuantizedActs` computes them: `round(x * 127 / absmax)` clamped to int8.
    fn quantized(&self) -> Result<&(Tensor, Tensor)> {
        if let Some(q) = self.quantized.get() {
            return Ok(q);
        }
        let x = &self.x;
        let (rows, k) = x.dims2()?;
        if !k.is_multiple_of(I2S_BLOCK) {
            return Err(RuntimeError::Invalid(format!(
                "I2_S input width {k} is not a multiple of {I2S_BLOCK}"
            )));
        }
        // An all-zero row quantizes to zeros whatever its scale; the floor keeps the
        // scale finite so that 0 * scale stays 0.
        let amax = x.abs()?.max_keepdim(1)?.maximum(1e-30f32)?;
        let scale = amax.ones_like()?.affine(127.0, 0.0)?.div(&amax)?;
        let q = x
            .broadcast_mul(&scale)?
            .round()?
            .clamp(-128f32, 127f32)?
            .reshape((rows, k / I2S_BLOCK, 4, 32))?
            .transpose(2, 3)?
            .contiguous()?
            .reshape((rows, k))?;
        Ok(self.quantized.get_or_init(|| (q, scale)))
    }
}
