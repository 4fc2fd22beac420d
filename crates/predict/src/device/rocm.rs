//! An AMD GPU through ROCm (HIP): ggml-cuda's code built for HIP, so the same buffer
//! rules as CUDA under the names `ROCm<i>` and `ROCm_Host`.
//!
//! The context and host figures are CUDA's analytic defaults (no ROCm run has been
//! measured); a ROCm-only difference an engine knows (its memory pool, rocBLAS) is the
//! engine's.

use super::cuda::GgmlCuda;
use crate::config::DeviceKind;

/// An AMD GPU through ROCm.
pub const ROCM: GgmlCuda = GgmlCuda {
    kind: DeviceKind::Rocm,
    prefix: "ROCm",
};
