//! Backward compatibility with BitNet-rs's `ProductionModelLoader::get_memory_requirements`.
//!
//! [`MemoryRequirements`] has exactly the fields of BitNet-rs's struct, and
//! [`ProductionModelLoader::get_memory_requirements`] has its exact signature, so that
//! loader can adopt this implementation unchanged. The figures are this crate's calibrated
//! estimate instead of the hard-coded numbers the original returned, and by default they
//! describe **BitNet-rs itself** ([`Backend::BitnetRs`]): what its `bitnet run` holds, with
//! its own mechanisms (f32 embedding conversion, the mapped file during load, f32 KV
//! grown per generated token). [`ProductionModelLoader::with_backend`] chooses another
//! engine (llama.cpp, bitnet.cpp, the reference runtime).
//!
//! Which peak `total_mb` covers: the largest of the whole run, load included. For
//! BitNet-rs that is normally the load (converting the F16 embedding to f32 while the file
//! is mapped), which is above what generation holds; `kv_cache_mb` and `activation_mb`
//! are what generation holds at the configured prompt and decode length (by default the
//! planning case, generating up to the file's context).
//!
//! Field meanings (MiB = 1,048,576 bytes, always rounded up so a figure never under-reports):
//! - `cpu_memory_mb`: host RAM to plan for: host weights, KV cache, activations, overhead and
//!   headroom held in host memory;
//! - `gpu_memory_mb`: the same for the GPU, `None` on CPU;
//! - `total_mb`: `cpu_memory_mb + gpu_memory_mb` (all memory the run needs);
//! - `kv_cache_mb`, `activation_mb`, `headroom_mb`: those components summed over devices.

use crate::backend::Backend;
use crate::calibrate::{self, TableSet};
use crate::components::Estimate;
use crate::config::{Device, RunConfig};
use crate::error::Result;
use crate::profile::ModelProfile;
use std::path::Path;

/// Memory requirements breakdown for model deployment, in MiB (BitNet-rs's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryRequirements {
    /// Total memory needed (host + GPU) in MB.
    pub total_mb: u64,
    /// GPU memory in MB (None on CPU).
    pub gpu_memory_mb: Option<u64>,
    /// Host memory in MB.
    pub cpu_memory_mb: u64,
    /// KV cache in MB.
    pub kv_cache_mb: u64,
    /// Activations and workspace in MB.
    pub activation_mb: u64,
    /// Recommended headroom in MB (included in the totals above).
    pub headroom_mb: u64,
}

/// Bytes to MiB, rounded up.
fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

impl MemoryRequirements {
    /// Summarises an estimate.
    pub fn from_estimate(e: &Estimate) -> MemoryRequirements {
        let gpu = e.gpu.unwrap_or_default();
        let cpu_memory_mb = mib(e.host.total());
        let gpu_memory_mb = e.gpu.map(|g| mib(g.total()));
        MemoryRequirements {
            total_mb: cpu_memory_mb + gpu_memory_mb.unwrap_or(0),
            gpu_memory_mb,
            cpu_memory_mb,
            kv_cache_mb: mib(e.host.kv_cache + gpu.kv_cache),
            activation_mb: mib(e.host.activations + gpu.activations),
            headroom_mb: mib(e.host.headroom + gpu.headroom),
        }
    }
}

/// A model loader that knows its model's profile and the run configuration it will use.
#[derive(Debug, Clone)]
pub struct ProductionModelLoader {
    profile: ModelProfile,
    config: RunConfig,
    tables: TableSet,
    backend: Backend,
}

impl ProductionModelLoader {
    /// Reads the model's header (GGUF, SafeTensors file, sharded index or directory) and
    /// uses the default run configuration (batch 1, the model's trained context capped at
    /// 4096, f16 KV cache) with the embedded calibration tables.
    pub fn from_path(path: &Path) -> Result<ProductionModelLoader> {
        let profile = crate::read::load_profile(path)?;
        Ok(ProductionModelLoader::from_profile(profile))
    }

    /// Uses a profile already read (or a preset).
    pub fn from_profile(profile: ModelProfile) -> ProductionModelLoader {
        let mut config = RunConfig::default();
        if profile.shape.ctx_train > 0 {
            config.ctx = config
                .ctx
                .min(profile.shape.ctx_train.min(u32::MAX as u64) as u32);
        }
        ProductionModelLoader {
            profile,
            config,
            // Embedded tables are checked by the test suite; a broken one degrades to the
            // analytic estimate with wide headroom rather than failing a loader.
            tables: TableSet::embedded().unwrap_or_default(),
            backend: Backend::BitnetRs,
        }
    }

    /// Describes another engine than BitNet-rs (the default).
    pub fn with_backend(mut self, backend: Backend) -> ProductionModelLoader {
        self.backend = backend;
        self
    }

    /// The engine the figures describe.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Sets the run configuration (its device is replaced by the one each call asks for).
    pub fn with_config(mut self, config: RunConfig) -> ProductionModelLoader {
        self.config = config;
        self
    }

    /// Uses other calibration tables.
    pub fn with_tables(mut self, tables: TableSet) -> ProductionModelLoader {
        self.tables = tables;
        self
    }

    /// The model's profile.
    pub fn profile(&self) -> &ModelProfile {
        &self.profile
    }

    /// The full calibrated estimate for a device string.
    pub fn estimate(&self, device: &str) -> Result<Estimate> {
        let device: Device = device.parse()?;
        let config = RunConfig {
            device,
            ..self.config.clone()
        };
        calibrate::calibrated_for(self.backend, &self.profile, &config, &self.tables)
    }

    /// Memory requirements for `device`: `"cpu"`, `"gpu"`, `"cuda"` or `"cuda:N"`.
    ///
    /// Infallible, like BitNet-rs's method: an unknown device string is treated as `"cpu"`
    /// (as the original's fallback arm did), and a configuration the estimate rejects gives
    /// the whole-file figure with no components. Use
    /// [`ProductionModelLoader::try_get_memory_requirements`] to get an error instead.
    pub fn get_memory_requirements(&self, device: &str) -> MemoryRequirements {
        self.try_get_memory_requirements(device)
            .or_else(|_| self.try_get_memory_requirements("cpu"))
            .unwrap_or_else(|_| {
                // The configuration cannot be estimated (a profile without blocks, say):
                // never less than the weights plus the KV cache it asked for.
                let n = self.profile.shape.n_kv_heads.len();
                let kv = crate::backend::reference::kv_cache::bytes(
                    &self.profile,
                    &self.config,
                    0..n,
                    false,
                );
                let weights = self.profile.tensor_data_bytes.max(self.profile.file_bytes);
                let mb = mib(weights.saturating_add(kv));
                MemoryRequirements {
                    total_mb: mb,
                    gpu_memory_mb: None,
                    cpu_memory_mb: mb,
                    kv_cache_mb: mib(kv),
                    activation_mb: 0,
                    headroom_mb: 0,
                }
            })
    }

    /// Memory requirements for `device`, or [`crate::Error::UnknownDevice`] for a device
    /// string other than `cpu`, `gpu`, `cuda`, `cuda:N`.
    pub fn try_get_memory_requirements(&self, device: &str) -> Result<MemoryRequirements> {
        Ok(MemoryRequirements::from_estimate(&self.estimate(device)?))
    }
}
