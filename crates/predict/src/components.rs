//! Memory components of an estimate, in bytes, per device.

use crate::config::{RunConfig, SplitDeviceKind};
use serde::{Deserialize, Serialize};

/// Bytes one device needs, split by what they are for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Components {
    /// Model weights resident on this device (with load-time transients folded into
    /// `overhead`, not here).
    pub weights: u64,
    /// KV cache reserved and initialised for the configured batch and context.
    pub kv_cache: u64,
    /// Peak activations and workspace of one prefill step (the largest of prefill and decode).
    pub activations: u64,
    /// Runtime overhead: process/context baseline, allocator slack, load transients.
    pub overhead: u64,
    /// Safety headroom kept on top (margin plus calibration uncertainty).
    pub headroom: u64,
}

/// Headroom for `used` bytes at `pct` percent, rounded up.
pub fn headroom(used: u64, pct: f64) -> u64 {
    (used as f64 * pct.max(0.0) / 100.0).ceil() as u64
}

impl Components {
    /// These components with their headroom set to `margin_pct` of what they use.
    pub fn with_headroom(mut self, margin_pct: f64) -> Components {
        self.headroom = headroom(self.used(), margin_pct);
        self
    }

    /// What the run is predicted to use at its peak: everything but the headroom.
    pub fn used(&self) -> u64 {
        self.weights
            .saturating_add(self.kv_cache)
            .saturating_add(self.activations)
            .saturating_add(self.overhead)
    }

    /// What to plan for: the predicted peak plus headroom.
    pub fn total(&self) -> u64 {
        self.used().saturating_add(self.headroom)
    }
}

/// The calibration applied to an estimate, for display and JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationInfo {
    /// The table's name (e.g. `memcal-candle/cpu/I2_S`).
    pub name: String,
    /// Whether the table matched exactly or is the nearest fallback.
    pub exact_match: bool,
    /// Held-out p95 absolute relative error of the table, as a fraction.
    pub expected_p95_error: f64,
    /// Why this table was chosen, when it was a fallback.
    pub note: Option<String>,
}

/// A full prediction for one model and configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The engine this estimate describes (`llama.cpp`, `bitnet.cpp`, `bitnet-rs`,
    /// `memcal-candle`).
    #[serde(default)]
    pub backend: String,
    /// The configuration predicted for.
    pub config: RunConfig,
    /// Layers placed on the GPU, counted as the engine counts them: for llama.cpp and its
    /// forks the blocks and the output layer (all of them is `n_layers + 1`, as its
    /// "offloaded 31/31 layers" line says), for the other engines blocks.
    pub gpu_layers: u32,
    /// Components held in host RAM.
    pub host: Components,
    /// Components held on the GPU (None on CPU).
    pub gpu: Option<Components>,
    /// The calibration table applied (None for the pure analytic estimate).
    pub calibration: Option<CalibrationInfo>,
    /// Remarks worth showing (fallbacks, clamps, ambiguous readings).
    pub notes: Vec<String>,
    /// The engine's own buffers as it names them in its log (llama.cpp: `CPU_Mapped model
    /// buffer`, `CPU KV buffer`, `CPU compute buffer` reserved), predicted, so a user can
    /// hold them against the engine's output. Empty for engines that print none.
    #[serde(default)]
    pub buffers: Vec<crate::buffer::EngineBuffer>,
    /// With a split ([`RunConfig::split`]): what each of its devices holds (each RPC
    /// worker's process, each GPU). `host` is then the client's process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceEstimate>,
}

/// What one device of a split holds: an RPC worker's process or a GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceEstimate {
    /// Its name (the machine given to `--hosts`, or `cuda:N`).
    pub name: String,
    /// What it is.
    pub kind: SplitDeviceKind,
    /// The first block it holds (meaningless when it holds none).
    pub first_layer: u32,
    /// How many blocks it holds.
    pub n_layers: u32,
    /// Whether it holds the output layer.
    pub output_layer: bool,
    /// Its memory, by component, headroom included.
    pub memory: Components,
    /// The calibration applied to it.
    pub calibration: Option<CalibrationInfo>,
    /// The buffers the engine will report for it, as it names them.
    pub buffers: Vec<crate::buffer::EngineBuffer>,
    /// What the device holds beyond the engine's buffers (a GPU's context, library
    /// workspaces, the engine's memory pool), each with its uncertainty: included in
    /// `memory.overhead`, never in the engine's own printed figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime: Vec<RuntimeMemory>,
}

/// One part of what a device holds beyond an engine's buffers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeMemory {
    /// What it is (`cuda_context`, `cublas_workspace`, `memory_pool`).
    pub name: String,
    /// The estimate, bytes.
    pub bytes: u64,
    /// How far the figure may be off either way, bytes (it is modelled from the engine's
    /// source and varies with the GPU, the driver and the kernels chosen).
    pub uncertainty_bytes: u64,
    /// Where the figure comes from.
    pub basis: String,
}

impl Estimate {
    /// Host RAM to plan for (headroom included).
    pub fn host_bytes(&self) -> u64 {
        self.host.total()
    }

    /// GPU memory to plan for (headroom included), None on CPU.
    pub fn gpu_bytes(&self) -> Option<u64> {
        self.gpu.map(|g| g.total())
    }

    /// A split device's estimate by name.
    pub fn device(&self, name: &str) -> Option<&DeviceEstimate> {
        self.devices.iter().find(|d| d.name == name)
    }
}
