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

/// A CUDA GPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cuda;

impl DeviceModel for Cuda {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Cuda
    }

    fn buffer_name(&self, index: usize, _name: &str) -> String {
        format!("CUDA{index}")
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
