//! Float weights (F32, F16, BF16) kept in their stored type, multiplied with f32 activations
//! by the runtime's own kernel.
//!
//! candle's F16 `vec_dot` falls back to scalar code unless the crate is compiled with F16C
//! enabled (measured 0.47 GMAC/s on the 2B-4T output projection), and it rounds the
//! activations to f16 first. This kernel converts one weight row at a time to f32 (half's
//! runtime-detected F16C conversion) into a per-thread buffer and dots it with each f32
//! activation row (AVX2/FMA when the CPU has them).

use crate::parallel::matmul_by_rows;
use half::f16;
use half::slice::HalfFloatSliceExt;

#[inline(always)]
fn dot_generic(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 16];
    let chunks = n / 16;
    for c in 0..chunks {
        for i in 0..16 {
            acc[i] = a[c * 16 + i].mul_add(b[c * 16 + i], acc[i]);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 16..n {
        s += a[i] * b[i];
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_generic(a, b)
}

/// f32 dot product with runtime CPU feature dispatch.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            return unsafe { dot_avx2(a, b) };
        }
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `x` (`m x k` f32) times `W^T` for a dense `W` (`n x k`) whose row `r` is written as f32
/// into a `k`-wide buffer by `row_f32(r, buf)`: `m x n` f32.
pub fn matmul_dense<R>(n: usize, k: usize, x: &[f32], m: usize, row_f32: R) -> Vec<f32>
where
    R: Fn(usize, &mut [f32]) + Sync + Send,
{
    matmul_by_rows(
        n,
        m,
        || vec![0f32; k],
        |buf, r, col| {
            row_f32(r, buf);
            for (i, c) in col.iter_mut().enumerate() {
                *c = dot_f32(buf, &x[i * k..(i + 1) * k]);
            }
        },
    )
}

/// [`matmul_dense`] for f16 weights (`n x k`).
pub fn matmul_f16(w: &[f16], n: usize, k: usize, x: &[f32], m: usize) -> Vec<f32> {
    matmul_dense(n, k, x, m, |r, buf| {
        w[r * k..(r + 1) * k].convert_to_f32_slice(buf)
    })
}

/// [`matmul_dense`] for bf16 weights (`n x k`).
pub fn matmul_bf16(w: &[half::bf16], n: usize, k: usize, x: &[f32], m: usize) -> Vec<f32> {
    matmul_dense(n, k, x, m, |r, buf| {
        w[r * k..(r + 1) * k].convert_to_f32_slice(buf)
    })
}

/// [`matmul_dense`] for f32 weights (`n x k`).
pub fn matmul_f32(w: &[f32], n: usize, k: usize, x: &[f32], m: usize) -> Vec<f32> {
    matmul_dense(n, k, x, m, |r, buf| {
        buf.copy_from_slice(&w[r * k..(r + 1) * k])
    })
}
