//! The measurement record schema shared by the profiler (writer) and calibration (reader).
//!
//! One record per measured configuration, stored as one JSON line. The schema is versioned
//! by [`RECORD_SCHEMA_VERSION`]; readers reject records of another major version.

use crate::buffer::{BufferKind, EngineBuffer};
use crate::components::Components;
use crate::config::{Role, RunConfig};
use crate::profile::ModelProfile;
use serde::{Deserialize, Serialize};

/// Version of the record schema written by this crate.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// Outcome of a measured run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The run completed; the measurement is valid.
    Ok,
    /// The run was killed for memory (OOM killer, allocation failure, CUDA OOM).
    Oom,
    /// The run failed for another reason (see `message`).
    Error,
}

/// The machine a record was measured on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Short stable id: a slug of CPU model, cores, RAM and GPU (file name of the data).
    pub fingerprint: String,
    /// Host name.
    pub hostname: String,
    /// CPU brand string.
    pub cpu_model: String,
    /// Logical CPUs.
    pub cpu_cores: u32,
    /// Physical RAM in bytes.
    pub ram_bytes: u64,
    /// OS name and version.
    pub os: String,
    /// Kernel version.
    pub kernel: String,
    /// Transparent huge pages setting (`always`, `madvise`, `never`), which changes RSS.
    pub thp: String,
    /// The GPU used by the run, if any.
    pub gpu: Option<GpuInfo>,
}

/// A CUDA device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Device name (e.g. `NVIDIA H100 80GB HBM3`).
    pub name: String,
    /// Device ordinal.
    pub ordinal: u32,
    /// Driver version string.
    pub driver_version: String,
    /// CUDA version the driver supports (e.g. `13.0`).
    pub cuda_version: String,
    /// Total device memory in bytes.
    pub total_bytes: u64,
    /// Whether other processes held device memory when the run started.
    pub shared: bool,
}

/// Versions of what produced a record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Software {
    /// memcal version.
    pub memcal_version: String,
    /// candle-core version of the reference runtime (empty for external engines).
    pub candle_version: String,
    /// git commit of the workspace that produced the record (`unknown` outside git);
    /// compiled into the binary, `+dirty` when its tree had uncommitted changes.
    pub git_commit: String,
    /// The build profile of the binary (`release`, `debug`); empty in older records.
    #[serde(default)]
    pub build_profile: String,
}

/// The file a record measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// The file's name (records written before `Record::make_portable` held the path as
    /// given; `calibration migrate-records` rewrites them).
    pub path: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Content hash (hex) identifying the file.
    pub hash: String,
}

/// Memory at one phase of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseMeasure {
    /// `baseline`, `load`, `kv_alloc`, `prefill` or `decode`.
    pub name: String,
    /// Resident set at the end of the phase.
    pub rss_bytes: u64,
    /// Peak resident set during the phase (VmHWM since the previous phase's reset).
    pub peak_rss_bytes: u64,
    /// Anonymous part of the RSS at the end of the phase.
    pub rss_anon_bytes: u64,
    /// File-backed part of the RSS at the end of the phase.
    pub rss_file_bytes: u64,
    /// GPU memory in use (device-wide, minus the pre-context baseline) at the end.
    pub gpu_used_bytes: Option<u64>,
    /// Peak GPU memory in use during the phase (sampler thread).
    pub gpu_peak_used_bytes: Option<u64>,
    /// Wall time of the phase in milliseconds.
    pub elapsed_ms: f64,
}

/// What was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// RSS of the child before it loaded anything.
    pub baseline_rss_bytes: u64,
    /// Peak RSS of the whole run (VmHWM over all phases).
    pub peak_rss_bytes: u64,
    /// getrusage(RUSAGE_CHILDREN) max RSS of the child, as a cross-check.
    pub rusage_maxrss_bytes: u64,
    /// Per-phase figures, in order.
    pub phases: Vec<PhaseMeasure>,
    /// Device memory in use before the run created its context.
    pub gpu_baseline_used_bytes: Option<u64>,
    /// Peak device memory used by the run (baseline subtracted).
    pub gpu_peak_used_bytes: Option<u64>,
    /// The kernel's peak of the memory the measured process tree charged to a cgroup of
    /// its own (`memory.peak` / `memory.max_usage_in_bytes`), where one could be created:
    /// the pages the tree faulted in and the page cache of files it read. Pages already
    /// in the page cache and charged elsewhere (the binary, a model file read earlier) are
    /// not charged again, so this is not RSS: it sits beside `peak_rss_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_peak_bytes: Option<u64>,
    /// System memory available before the run (sysinfo).
    pub sys_available_bytes: u64,
    /// Total wall time of the child in milliseconds.
    pub wall_ms: f64,
    /// Decode throughput (tokens per second over the whole batch), if decoded.
    pub decode_tokens_per_s: Option<f64>,
}

/// The analytic prediction stored beside a measurement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Predicted {
    /// Host components.
    pub host: Components,
    /// GPU components (None on CPU).
    pub gpu: Option<Components>,
}

/// An external engine's run: what ran, and what the engine said about its memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineRun {
    /// Engine name (`llama.cpp`, `bitnet.cpp`, `bitnet-rs`).
    pub name: String,
    /// Engine version: build number and commit, as the engine prints them.
    pub version: String,
    /// Build facts that change memory (instruction sets, kernels compiled in): the
    /// engine's `engine.json` as one line, its install path (`bin`) by its file name.
    pub build: String,
    /// The command line that ran, with the executable and every path by its file name.
    pub argv: Vec<String>,
    /// Buffers the engine reported.
    pub buffers: Vec<EngineBuffer>,
    /// Prompt tokens the engine reported processing (per sequence), when it says.
    pub prompt_tokens: Option<u32>,
    /// Tokens the engine reported generating, when it says.
    pub decode_tokens: Option<u32>,
}

impl EngineRun {
    /// Sum of the reported buffers of one component (0 when none was reported).
    pub fn component_bytes(&self, component: BufferKind) -> u64 {
        self.buffers
            .iter()
            .filter(|b| b.component == component)
            .map(|b| b.bytes)
            .sum()
    }

    /// Whether any buffer of this component was reported.
    pub fn has(&self, component: BufferKind) -> bool {
        self.buffers.iter().any(|b| b.component == component)
    }
}

/// One measured configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Schema version ([`RECORD_SCHEMA_VERSION`]).
    pub schema: u32,
    /// Stable key of (backend, model hash, configuration) used to resume sweeps.
    pub key: String,
    /// Seconds since the Unix epoch when the run finished.
    pub timestamp: u64,
    /// Runtime measured: `memcal-candle` for the reference runtime, or an external name.
    pub backend: String,
    /// Where it ran.
    pub machine: Machine,
    /// What produced it.
    pub software: Software,
    /// The model file.
    pub model: ModelFile,
    /// The model's profile (so the analytic estimate can be recomputed later).
    pub profile: ModelProfile,
    /// The configuration run.
    pub config: RunConfig,
    /// Prompt tokens prefilled per sequence.
    pub prompt_tokens: u32,
    /// Decode steps run.
    pub decode_tokens: u32,
    /// What was measured.
    pub measured: Measured,
    /// The analytic prediction for the same configuration, at measurement time.
    pub predicted: Predicted,
    /// Outcome.
    pub status: Status,
    /// Error or OOM details.
    pub message: Option<String>,
    /// The external engine that ran, with its own memory report (None for the reference
    /// runtime).
    #[serde(default)]
    pub engine: Option<EngineRun>,
    /// The key of the configuration as it was requested (the engine may report another
    /// prompt length than asked, which changes `key`); resumed sweeps match on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_key: Option<String>,
    /// Which process of the deployment this record measured (omitted: the one process of a
    /// command-line run).
    #[serde(default, skip_serializing_if = "Role::is_cli")]
    pub role: Role,
    /// In a split run, the device of [`RunConfig::split`] this process is (an rpc-server's
    /// name); None for the client and for one-machine runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// What a server was asked to serve and what it answered (None for command-line runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
}

/// The requests a measured server served: every slot busy at once, then again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Concurrent clients (one per slot).
    pub clients: u32,
    /// Requests each client sent, one after another (waves).
    pub requests_per_client: u32,
    /// Prompt tokens the server reported per request, as asked (the prompt of each request
    /// is distinct, so nothing is shared between slots).
    pub prompt_tokens: Vec<u32>,
    /// Tokens the server reported generating per request.
    pub decode_tokens: Vec<u32>,
    /// Requests that failed (HTTP errors, truncated answers).
    pub failed_requests: u32,
    /// Largest number of slots the server reported busy at once.
    pub max_busy_slots: u32,
    /// Wall time of the workload, milliseconds.
    pub wall_ms: f64,
}

impl Record {
    /// The key a sweep uses to tell whether a configuration is already recorded.
    pub fn make_key(
        backend: &str,
        model_hash: &str,
        config: &RunConfig,
        prompt: u32,
        decode: u32,
    ) -> String {
        let mut knobs = String::new();
        if config.flash_attn != crate::config::FlashAttn::Auto {
            knobs.push_str(&format!("|fa{}", config.flash_attn));
        }
        if !config.mmap {
            knobs.push_str("|nommap");
        }
        if !config.repack {
            knobs.push_str("|norepack");
        }
        if let Some(s) = &config.serve {
            knobs.push_str(&s.key());
        }
        if let Some(s) = &config.split {
            knobs.push_str(&s.key());
        }
        if let Some(isa) = config.isa.as_ref().filter(|i| i.given != "avx2") {
            knobs.push_str(&format!("|isa{isa}"));
        }
        if let Some(b) = config.engine_build {
            knobs.push_str(&format!("|build{b}"));
        }
        format!(
            "{backend}|{model_hash}|{}|b{}|c{}|u{}|kv{}|g{}|p{prompt}|d{decode}{knobs}",
            config.device,
            config.batch,
            config.ctx,
            config.ubatch,
            config.kv_dtype,
            config
                .gpu_layers
                .map(|g| g.to_string())
                .unwrap_or_else(|| "all".into()),
        )
    }

    /// The measured peak on the device this record is about: the GPU peak on CUDA, the
    /// whole process peak RSS on CPU (what a user sees and a limit enforces).
    pub fn measured_peak(&self) -> Option<u64> {
        if self.config.device.is_cuda() {
            self.measured.gpu_peak_used_bytes
        } else {
            Some(self.measured.peak_rss_bytes)
        }
    }
}

/// Reads JSON Lines records, skipping blank lines. A line that does not parse (for
/// example a half-written last line after a crash) is returned as an error with its
/// line number, so callers can choose to skip it.
pub fn parse_jsonl(text: &str) -> Vec<Result<Record, (usize, String)>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str::<Record>(l).map_err(|e| (i + 1, e.to_string())))
        .collect()
}
