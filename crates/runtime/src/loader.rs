//! Reads a GGUF model's tensors one at a time with positioned reads (no memory map) and
//! builds the runtime's storage for each.

use crate::error::{Result, RuntimeError};
use crate::matrix::{candle_dtype, ClassicMatrix, Matrix};
use crate::ternary::{i2s::I2sMatrix, tl2::Tl2Matrix};
use predictor::ggml_type::GgmlType;
use predictor::gguf::{GgufFile, TensorInfo};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A tensor as loaded.
#[derive(Debug)]
pub enum Loaded {
    /// A 2-D weight matrix.
    Matrix(Matrix),
    /// A 1-D tensor (norm weight, bias, rope factors) as f32.
    Vector(Vec<f32>),
}

/// Reads the stored bytes of `t` into a fresh heap buffer.
fn read_tensor(file: &File, header: &GgufFile, t: &TensorInfo) -> Result<Vec<u8>> {
    let path = &header.path;
    let at = header
        .data_offset
        .checked_add(t.offset)
        .filter(|&end| end.saturating_add(t.nbytes) <= header.file_bytes)
        .ok_or_else(|| {
            RuntimeError::model(path, format!("tensor {} lies outside the file", t.name))
        })?;
    let len = usize::try_from(t.nbytes)
        .map_err(|_| RuntimeError::model(path, format!("tensor {} is too large", t.name)))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len)
        .map_err(|_| RuntimeError::OutOfMemory {
            what: format!("reading tensor {}", t.name),
            bytes: t.nbytes,
        })?;
    buf.resize(len, 0);
    file.read_exact_at(&mut buf, at)
        .map_err(|source| RuntimeError::Io {
            path: path.clone(),
            source,
        })?;
    Ok(buf)
}

/// Converts a stored 1-D float tensor to f32.
fn vector_f32(path: &Path, t: &TensorInfo, bytes: &[u8]) -> Result<Vec<f32>> {
    Ok(match t.ggml_type {
        GgmlType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        GgmlType::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        GgmlType::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => {
            return Err(RuntimeError::unsupported(
                path,
                format!("1-D tensor {} stored as {other:?}", t.name),
            ))
        }
    })
}

/// Builds a matrix from its stored bytes; `scale` overrides a ternary tensor's scale.
fn matrix(path: &Path, t: &TensorInfo, bytes: Vec<u8>, scale: Option<f32>) -> Result<Matrix> {
    let (cols, rows) = match t.dims[..] {
        [c, r] => (c as usize, r as usize),
        [c, r, 1] | [c, r, 1, 1] => (c as usize, r as usize),
        _ => {
            return Err(RuntimeError::model(
                path,
                format!("tensor {} has shape {:?}, expected 2-D", t.name, t.dims),
            ))
        }
    };
    let bad = |what: String| RuntimeError::model(path, format!("tensor {}: {what}", t.name));
    Ok(match t.ggml_type {
        GgmlType::I2S => Matrix::I2s(I2sMatrix::new(bytes, rows, cols, scale).map_err(bad)?),
        GgmlType::TL2 => Matrix::Tl2(Tl2Matrix::new(bytes, rows, cols, scale).map_err(bad)?),
        other => {
            let dt = candle_dtype(other).ok_or_else(|| {
                RuntimeError::unsupported(
                    path,
                    format!(
                        "tensor {} is stored as {other:?}; the runtime runs F32, F16, BF16, \
                         Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, I2_S and TL2",
                        t.name
                    ),
                )
            })?;
            let m = ClassicMatrix::from_bytes(&bytes, dt, rows, cols)
                .map_err(|e| bad(e.to_string()))?;
            drop(bytes);
            Matrix::Classic(m)
        }
    })
}

/// Loads every tensor of `header` in file order, one at a time: read into a buffer, build
/// the storage, drop the buffer. Separate per-tensor scale tensors (`<name>_scale`, as the
/// BitNet converter writes for TL1/TL2) are applied to their matrix, not kept.
pub fn load_tensors(header: &GgufFile) -> Result<HashMap<String, Loaded>> {
    let path = &header.path;
    let file = File::open(path).map_err(|source| RuntimeError::Io {
        path: path.clone(),
        source,
    })?;
    let mut scales: HashMap<&str, f32> = HashMap::new();
    for t in &header.tensors {
        if let Some(base) = t.name.strip_suffix("_scale") {
            if header.tensor(base).is_some() && t.n_elements() == 1 {
                let bytes = read_tensor(&file, header, t)?;
                let v = vector_f32(path, t, &bytes)?;
                scales.insert(base, v.first().copied().unwrap_or(1.0));
            }
        }
    }
    let mut out = HashMap::with_capacity(header.tensors.len());
    for t in &header.tensors {
        if t.name
            .strip_suffix("_scale")
            .is_some_and(|b| scales.contains_key(b))
        {
            continue;
        }
        let bytes = read_tensor(&file, header, t)?;
        let loaded = if t.dims.len() <= 1 {
            Loaded::Vector(vector_f32(path, t, &bytes)?)
        } else {
            Loaded::Matrix(matrix(
                path,
                t,
                bytes,
                scales.get(t.name.as_str()).copied(),
            )?)
        };
        out.insert(t.name.clone(), loaded);
    }
    Ok(out)
}
