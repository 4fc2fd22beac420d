//! What a device adds to an engine's memory, behind one trait: the host CPU, a CUDA GPU
//! (ROCm runs the same ggml-cuda code and will be one more model here) and a CPU reached
//! over llama.cpp's RPC backend. Engines ask the device for buffer names, the context the
//! device's runtime takes and how much of a reserved compute buffer is resident, instead
//! of branching on the device kind.
//!
//! ```
//! use memcal_predict::config::{Device, SplitDeviceKind};
//! use memcal_predict::device;
//!
//! let gpu = device::for_device(Device::Cuda(0));
//! assert_eq!(gpu.buffer_name(0, ""), "CUDA0");
//! // A GPU holds its whole compute reservation; a CPU only the pages a run touches.
//! assert_eq!(gpu.compute_resident(100, 40), 100);
//! assert_eq!(device::for_split(SplitDeviceKind::Rpc).compute_resident(100, 40), 40);
//! ```

pub mod cpu;
pub mod cuda;
pub mod rocm;
pub mod rpc;

use crate::config::{Device, DeviceKind, SplitDeviceKind};

/// One kind of device, as the engines' memory models see it.
pub trait DeviceModel: Sync {
    /// The kind calibration tables key this device's figures by.
    fn kind(&self) -> DeviceKind;

    /// The name an engine's log gives the buffers of device `index` of a run (`name`: the
    /// machine an RPC worker runs on): `CPU`, `CUDA0`, `RPC0[host]`.
    fn buffer_name(&self, index: usize, name: &str) -> String;

    /// Bytes the device's runtime takes on the device before any buffer of the engine
    /// (a GPU's context and library handles); 0 for a CPU.
    fn context_bytes(&self) -> u64;

    /// Bytes the device's driver and libraries add to the host process.
    fn host_bytes(&self) -> u64;

    /// The name of the pinned host buffer type its engines stage through (`CUDA_Host`),
    /// where it has one: llama.cpp's CPU backend then keeps its compute buffer there.
    fn host_buffer_name(&self) -> Option<String> {
        None
    }

    /// Alignment of every tensor in its buffers, bytes.
    fn buffer_alignment(&self) -> u64 {
        32
    }

    /// Elements a quantized tensor's size is padded by in its buffers when its row width
    /// is not a multiple of this (ggml-cuda's `MATRIX_ROW_PADDING`); 0: none.
    fn row_padding_elements(&self) -> u64 {
        0
    }

    /// Whether blocks offloaded to it live in memory of its own (a GPU's, an RPC worker's)
    /// rather than the host's.
    fn holds_offloaded_layers(&self) -> bool;

    /// Whether it is another process reached over the network (an RPC worker), which
    /// receives each tensor it holds as a message.
    fn is_remote(&self) -> bool;

    /// Bytes of a compute buffer of `reserved` bytes that are resident when a run writes
    /// `touched` of them: a CPU maps pages as they are first written, a GPU allocates the
    /// reservation whole.
    fn compute_resident(&self, reserved: u64, touched: u64) -> u64;
}

/// The model of a run's device.
pub fn for_device(device: Device) -> &'static dyn DeviceModel {
    match device {
        Device::Cpu => &cpu::Cpu,
        Device::Cuda(_) => &cuda::CUDA,
        Device::Rocm(_) => &rocm::ROCM,
    }
}

/// The model of one device of a split.
pub fn for_split(kind: SplitDeviceKind) -> &'static dyn DeviceModel {
    match kind {
        SplitDeviceKind::Rpc => &rpc::Rpc,
        SplitDeviceKind::Cuda => &cuda::CUDA,
        SplitDeviceKind::Rocm => &rocm::ROCM,
    }
}
