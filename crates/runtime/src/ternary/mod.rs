//! BitNet b1.58 ternary weights kept packed (I2_S, TL2) and their CPU kernels.
//!
//! Activations are quantized per row (token) to int8 as bitnet.cpp does: `s = 127 / absmax`,
//! `q = round(x * s)` clamped to `[-128, 127]`. A ternary matmul then computes, for each
//! weight row, the exact integer dot product of the row's codes (-1, 0, +1) with `q` in i32,
//! and scales it back: `y = dot / s * weight_scale`. Each weight row is first unpacked into a
//! small per-thread i8 buffer (branch-free shifts / lookup tables) and then dotted with every
//! activation row, so prefill amortises the unpacking over the micro-batch.

pub mod i2s;
pub mod tl2;

use crate::parallel::matmul_by_rows;

/// The per-tensor f32 scale of a packed ternary tensor: `scale_override` (files that store
/// it as a separate `<name>_scale` tensor) or the little-endian f32 at `data[at..at + 4]`.
/// `Err` naming `kind` when the bytes are missing or the scale is not finite.
pub fn tensor_scale(
    kind: &str,
    data: &[u8],
    at: usize,
    scale_override: Option<f32>,
) -> Result<f32, String> {
    let stored = data
        .get(at..at + 4)
        .map(|t| f32::from_le_bytes([t[0], t[1], t[2], t[3]]));
    let scale = scale_override
        .or(stored)
        .ok_or_else(|| format!("{kind} tensor has no scale at byte {at}"))?;
    if !scale.is_finite() {
        return Err(format!("{kind} scale is not finite ({scale})"));
    }
    Ok(scale)
}

/// Activations quantized to int8, one scale per row.
#[derive(Debug, Clone, Default)]
pub struct QuantizedActs {
    /// `rows x k` int8 values.
    pub q: Vec<i8>,
    /// Per row: `127 / absmax` (1 when the row is all zeros).
    pub scale: Vec<f32>,
    /// Row width.
    pub k: usize,
}

impl QuantizedActs {
    /// Quantizes `x` (`rows x k`, row-major) per row to int8.
    pub fn quantize(x: &[f32], k: usize) -> QuantizedActs {
        let rows = x.len().checked_div(k).unwrap_or(0);
        let mut q = vec![0i8; rows * k];
        let mut scale = vec![1f32; rows];
        for ((xr, qr), s) in x.chunks_exact(k).zip(q.chunks_exact_mut(k)).zip(&mut scale) {
            let amax = xr.iter().fold(0f32, |m, v| m.max(v.abs()));
            if amax > 0.0 && amax.is_finite() {
                *s = 127.0 / amax;
            }
            let sv = *s;
            for (o, v) in qr.iter_mut().zip(xr) {
                *o = (v * sv).round().clamp(-128.0, 127.0) as i8;
            }
        }
        QuantizedActs { q, scale, k }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.scale.len()
    }

    /// Bytes held (int8 values plus one f32 scale per row).
    pub fn bytes(&self) -> usize {
        self.q.len() + 4 * self.scale.len()
    }
}

/// A packed ternary matrix that can unpack one row of codes (-1, 0, +1) at a time.
pub trait TernaryRows: Sync {
    /// Output rows (M).
    fn rows(&self) -> usize;
    /// Input columns (K).
    fn cols(&self) -> usize;
    /// The per-tensor weight scale.
    fn scale(&self) -> f32;
    /// Writes row `r`'s codes into `out` (length `cols()`).
    fn unpack_row(&self, r: usize, out: &mut [i8]);
}

/// Exact i8 x i8 dot product accumulated in i32, written so that LLVM vectorises it.
#[inline(always)]
fn dot_i8_generic(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; 16];
    let chunks = n / 16;
    for c in 0..chunks {
        let (ac, bc) = (&a[c * 16..c * 16 + 16], &b[c * 16..c * 16 + 16]);
        for i in 0..16 {
            acc[i] += ac[i] as i32 * bc[i] as i32;
        }
    }
    let mut s: i32 = acc.iter().sum();
    for i in chunks * 16..n {
        s += a[i] as i32 * b[i] as i32;
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    dot_i8_generic(a, b)
}

/// i8 dot product with runtime CPU feature dispatch.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above).
            return unsafe { dot_i8_avx2(a, b) };
        }
    }
    dot_i8_generic(a, b)
}

/// `y = x W^T` for a packed ternary `W` (`M x K`) and quantized activations (`rows x K`):
/// returns `rows x M` f32. Parallel over weight rows on the runtime's pool.
pub fn matmul(w: &dyn TernaryRows, acts: &QuantizedActs) -> Vec<f32> {
    let (k, wscale) = (w.cols(), w.scale());
    matmul_by_rows(
        w.rows(),
        acts.rows(),
        || vec![0i8; k],
        |buf, r, col| {
            w.unpack_row(r, buf);
            for (i, c) in col.iter_mut().enumerate() {
                let qa = &acts.q[i * k..(i + 1) * k];
                *c = dot_i8(buf, qa) as f32 / acts.scale[i] * wscale;
            }
        },
    )
}

/// Dequantizes a whole ternary matrix to f32 (`M x K`, codes times the scale): for the
/// reference forward and tests only.
pub fn dequantize(w: &dyn TernaryRows) -> Vec<f32> {
    let (m, k, s) = (w.rows(), w.cols(), w.scale());
    let mut out = vec![0f32; m * k];
    let mut buf = vec![0i8; k];
    for r in 0..m {
        w.unpack_row(r, &mut buf);
        for (o, &c) in out[r * k..(r + 1) * k].iter_mut().zip(&buf) {
            *o = c as f32 * s;
        }
    }
    out
}

/// Ternarizes `w` (`M x K` f32) as BitNet's converter does: `scale = mean |w|`, codes =
/// `round(w / scale)` clamped to [-1, 1]. Returns the codes and the scale.
pub fn ternarize(w: &[f32]) -> (Vec<i8>, f32) {
    let mean = w.iter().map(|v| v.abs() as f64).sum::<f64>() / w.len().max(1) as f64;
    let scale = (mean as f32).max(1e-5);
    let codes = w
        .iter()
        .map(|v| (v / scale).round().clamp(-1.0, 1.0) as i8)
        .collect();
    (codes, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_scalar() {
        let a: Vec<i8> = (0..301).map(|i| ((i * 7) % 3) as i8 - 1).collect();
        let b: Vec<i8> = (0..301).map(|i| ((i * 37) % 255) as i8).collect();
        let want: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
        assert_eq!(dot_i8(&a, &b), want);
    }

    #[test]
    fn quantize_uses_absmax_scale() {
        let q = QuantizedActs::quantize(&[0.5, -1.0, 0.25, 0.0], 4);
        assert_eq!(q.q, vec![64, -127, 32, 0]);
        assert!((q.scale[0] - 127.0).abs() < 1e-6);
        let z = QuantizedActs::quantize(&[0.0; 4], 4);
        assert_eq!(z.q, vec![0; 4]);
        assert_eq!(z.scale[0], 1.0);
    }
}
