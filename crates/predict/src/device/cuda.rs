//! An NVIDIA GPU through CUDA: buffers named `CUDA<i>`, a context and library handles on
//! the device, driver libraries in the host process, compute buffers allocated whole.
//!
//! The context and host figures are the analytic defaults the reference runtime's CUDA
//! path was planned with (candle: the primary context, cuBLAS and cuRAND handles); no GPU
//! has been lent to measure them yet, and an engine whose build is measured to take
//! another figure keeps that figure in its own constants.

use super::DeviceModel;
use crate::config::DeviceKind;

/// Bytes of a CUDA context with cuBLAS (and cuRAND) handles on the device (analytic).
pub const CONTEXT_BYTES: u64 = 520 << 20;
/// Bytes the CUDA driver and libraries add to the host process (analytic).
pub const HOST_BYTES: u64 = 280 << 20;

/// Alignment of a tensor in a CUDA buffer (`ggml_backend_cuda_buffer_type_get_alignment`).
pub const ALIGNMENT: u64 = 128;
/// Elements a quantized tensor in a CUDA buffer is padded to a multiple of, once per
/// tensor (ggml-cuda's `MATRIX_ROW_PADDING`, `ggml_backend_cuda_buffer_type_get_alloc_size`).
pub const MATRIX_ROW_PADDING: u64 = 512;

/// A GPU driven by ggml-cuda's code: an NVIDIA GPU through CUDA ([`CUDA`]), or an AMD GPU
/// through ROCm/HIP ([`super::rocm::ROCM`]), the same buffer rules under another prefix.
#[derive(Debug, Clone, Copy)]
pub struct GgmlCuda {
    /// Which API.
    pub kind: DeviceKind,
    /// Its buffer types' prefix: `CUDA` (`CUDA0`, `CUDA_Host`) or `ROCm`.
    pub prefix: &'static str,
}

/// An NVIDIA GPU through CUDA.
pub const CUDA: GgmlCuda = GgmlCuda {
    kind: DeviceKind::Cuda,
    prefix: "CUDA",
};

impl DeviceModel for GgmlCuda {
    fn kind(&self) -> DeviceKind {
        self.kind
    }

    fn buffer_name(&self, index: usize, _name: &str) -> String {
        format!("{}{index}", self.prefix)
    }

    fn host_buffer_name(&self) -> Option<String> {
        Some(format!("{}_Host", self.prefix))
    }

    fn buffer_alignment(&self) -> u64 {
        ALIGNMENT
    }

    fn row_padding_elements(&self) -> u64 {
        MATRIX_ROW_PADDING
    }

    fn context_bytes(&self) -> u64 {
        CONTEXT_BYTES
    }

    fn host_bytes(&self) -> u64 {
        HOST_BYTES
    }

    fn holds_offloaded_layers(&self) -> bool {
        true
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn compute_resident(&self, reserved: u64, _touched: u64) -> u64 {
        reserved
    }
}
