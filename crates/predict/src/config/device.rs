//! The device a run is for, and the kind calibration tables are keyed by.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The device that runs the model (the host always holds what is not offloaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Device {
    /// Host CPU only.
    Cpu,
    /// CUDA device by ordinal.
    Cuda(u32),
    /// AMD GPU through ROCm/HIP by ordinal (llama.cpp runs its ggml-cuda code on it).
    Rocm(u32),
}

/// GPU APIs llama.cpp has backends for that memcal does not model: asked for, they are
/// refused rather than answered with another API's figures.
const UNMODELLED_GPU_APIS: &[(&str, &str)] = &[
    ("vulkan", "Vulkan"),
    ("metal", "Metal"),
    ("mps", "Metal"),
    ("sycl", "SYCL"),
    ("opencl", "OpenCL"),
    ("musa", "MUSA"),
    ("cann", "CANN"),
];

impl Device {
    /// Whether this is a CUDA device.
    pub fn is_cuda(&self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    /// Whether this is a GPU (CUDA or ROCm).
    pub fn is_gpu(&self) -> bool {
        !matches!(self, Device::Cpu)
    }

    /// The GPU's ordinal (None for the CPU).
    pub fn ordinal(&self) -> Option<u32> {
        match self {
            Device::Cpu => None,
            Device::Cuda(n) | Device::Rocm(n) => Some(*n),
        }
    }

    /// The same kind of device with another ordinal (the CPU stays the CPU).
    pub fn with_ordinal(&self, n: u32) -> Device {
        match self {
            Device::Cpu => Device::Cpu,
            Device::Cuda(_) => Device::Cuda(n),
            Device::Rocm(_) => Device::Rocm(n),
        }
    }

    /// The device kind calibration tables are keyed by.
    pub fn kind(&self) -> DeviceKind {
        match self {
            Device::Cpu => DeviceKind::Cpu,
            Device::Cuda(_) => DeviceKind::Cuda,
            Device::Rocm(_) => DeviceKind::Rocm,
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
            Device::Rocm(n) => write!(f, "rocm:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    /// Accepts `cpu`, `gpu`, `cuda`, `rocm` (`hip`) (device 0 for the GPU ones), and
    /// `cuda:N`, `gpu:N`, `rocm:N`, case-insensitively. A GPU API memcal does not model
    /// (Vulkan, Metal, SYCL...) is refused with a message that says so.
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim().to_ascii_lowercase();
        let (api, n) = match t.split_once(':') {
            Some((a, n)) => (
                a,
                n.parse::<u32>()
                    .map_err(|_| Error::UnknownDevice(s.to_string()))?,
            ),
            None => (t.as_str(), 0),
        };
        match api {
            "cpu" if n == 0 => Ok(Device::Cpu),
            "gpu" | "cuda" => Ok(Device::Cuda(n)),
            "rocm" | "hip" => Ok(Device::Rocm(n)),
            _ => match UNMODELLED_GPU_APIS.iter().find(|(a, _)| *a == api) {
                Some((_, name)) => Err(Error::InvalidConfig(format!(
                    "device {s:?}: llama.cpp's {name} backend is not modelled (its buffer \
                     types, padding and compute buffers differ from CUDA's); memcal predicts \
                     cpu, cuda and rocm"
                ))),
                None => Err(Error::UnknownDevice(s.to_string())),
            },
        }
    }
}

impl From<Device> for String {
    fn from(d: Device) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for Device {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

/// A kind of device, as calibration tables and records key it (`cpu`, `cuda`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// The host CPU.
    #[default]
    Cpu,
    /// An NVIDIA GPU through CUDA.
    Cuda,
    /// An AMD GPU through ROCm/HIP.
    Rocm,
}

impl DeviceKind {
    /// The name tables and records carry.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
            DeviceKind::Rocm => "rocm",
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
