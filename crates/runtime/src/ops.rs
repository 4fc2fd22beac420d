//! Element-wise and per-row operations of the forward pass (host, f32).

/// RMS normalisation of each `width`-wide row of `x` in place, times `weight`.
pub fn rms_norm_inplace(x: &mut [f32], weight: &[f32], eps: f32) {
    let width = weight.len();
    for row in x.chunks_exact_mut(width) {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / width as f32;
        let inv = 1.0 / (ms + eps).sqrt();
        for (v, w) in row.iter_mut().zip(weight) {
            *v *= inv * w;
        }
    }
}

/// RMS normalisation into a new buffer.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32) -> Vec<f32> {
    let mut out = x.to_vec();
    rms_norm_inplace(&mut out, weight, eps);
    out
}

/// The feed-forward gate activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// SiLU (llama, qwen2, the original `bitnet` models).
    Silu,
    /// Squared ReLU (BitNet b1.58 2B-4T: `bitnet-b1.58`, `bitnet-25`).
    Relu2,
}

impl Activation {
    /// Applies the activation to `gate` and multiplies by `up`, in place in `gate`.
    pub fn gate_inplace(self, gate: &mut [f32], up: &[f32]) {
        for (g, u) in gate.iter_mut().zip(up) {
            let a = match self {
                Activation::Silu => *g / (1.0 + (-*g).exp()),
                Activation::Relu2 => {
                    let r = g.max(0.0);
                    r * r
                }
            };
            *g = a * u;
        }
    }
}

/// Rotary position embedding settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Rope {
    /// Inverse frequencies `base^(-2j / dims)` for `j < dims / 2`.
    pub inv_freq: Vec<f32>,
    /// Rotated dimensions of each head (the first `dims`).
    pub dims: usize,
    /// NEOX pairing (`j`, `j + dims/2`) instead of adjacent pairs (`2j`, `2j + 1`).
    pub neox: bool,
}

impl Rope {
    /// RoPE with `base` over the first `dims` dimensions of each head.
    pub fn new(base: f32, dims: usize, neox: bool) -> Rope {
        let inv_freq = (0..dims / 2)
            .map(|j| base.powf(-((2 * j) as f32) / dims as f32))
            .collect();
        Rope {
            inv_freq,
            dims,
            neox,
        }
    }

    /// Rotates every `head_dim`-wide head of `row` (one token at `pos`) in place.
    pub fn apply(&self, row: &mut [f32], head_dim: usize, pos: usize) {
        let half = self.dims / 2;
        let cs: Vec<(f32, f32)> = self
            .inv_freq
            .iter()
            .map(|f| {
                let a = pos as f32 * f;
                (a.cos(), a.sin())
            })
            .collect();
        for head in row.chunks_exact_mut(head_dim) {
            for (j, &(c, s)) in cs.iter().enumerate() {
                let (i0, i1) = if self.neox {
                    (j, j + half)
                } else {
                    (2 * j, 2 * j + 1)
                };
                let (a, b) = (head[i0], head[i1]);
                head[i0] = a * c - b * s;
                head[i1] = a * s + b * c;
            }
        }
    }
}

/// Adds `b` to every `b.len()`-wide row of `x`.
pub fn add_bias(x: &mut [f32], b: &[f32]) {
    for row in x.chunks_exact_mut(b.len()) {
        for (v, bv) in row.iter_mut().zip(b) {
            *v += bv;
        }
    }
}

/// `x += y` element-wise.
pub fn add_inplace(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
