//! Measures configurations of the reference runtime and turns each into a
//! [`Record`]: model profile and hash, machine and software, the analytic prediction for
//! the same configuration, what the child measured, and the outcome.

use super::error::MeasureError;
use super::filehash;
use super::gpu::{GpuBaseline, GpuMonitor};
use super::isolate::{run_child, IsolateOptions};
use super::machine;
use super::protocol::ChildSpec;
use super::software;
use predictor::record::{Machine, ModelFile, Predicted, Record, Status, RECORD_SCHEMA_VERSION};
use predictor::{ModelProfile, RunConfig};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The backend name of the reference runtime's records.
pub const BACKEND: &str = "memcal-candle";

/// Decode steps when none are asked for.
pub const DEFAULT_DECODE: u32 = 8;

/// A model file read once: its profile and identity.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Path (as given, to run it; records keep only its file name), size and hash.
    pub file: ModelFile,
    /// The predictor's profile of the file.
    pub profile: ModelProfile,
}

impl ModelInfo {
    /// Reads the profile (header only) and hashes the file.
    pub fn read(path: &Path) -> Result<ModelInfo, MeasureError> {
        let profile = predictor::read::load_profile(path)?;
        let (hash, bytes) = filehash::hash_file(path)?;
        Ok(ModelInfo {
            file: ModelFile {
                path: path.display().to_string(),
                bytes,
                hash,
            },
            profile,
        })
    }
}

/// Prompt tokens for a run: as asked, else the context minus the decode steps (the prompt
/// fills the context), at least 1.
pub fn default_prompt(config: &RunConfig, prompt: Option<u32>, decode: u32) -> u32 {
    prompt.unwrap_or_else(|| config.ctx.saturating_sub(decode).max(1))
}

/// One configuration to measure.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The model.
    pub model: &'a ModelInfo,
    /// The configuration.
    pub config: RunConfig,
    /// Prompt tokens per sequence.
    pub prompt: u32,
    /// Decode steps.
    pub decode: u32,
}

impl Job<'_> {
    /// The record key of this job (what a resumed sweep looks for).
    pub fn key(&self) -> String {
        Record::make_key(
            BACKEND,
            &self.model.file.hash,
            &self.config,
            self.prompt,
            self.decode,
        )
    }

    /// The analytic prediction, or why there is none.
    pub fn predicted(&self) -> Result<Predicted, predictor::Error> {
        // The run's own prompt and decode lengths decide its chunk schedule.
        let config = predictor::RunConfig {
            prompt: Some(self.prompt.min(self.config.ctx)),
            decode: self.decode,
            ..self.config.clone()
        };
        let e = predictor::backend::reference::analytic(&self.model.profile, &config)?;
        Ok(Predicted {
            host: e.host,
            gpu: e.gpu,
        })
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An open CUDA device with its baseline.
struct OpenGpu {
    monitor: GpuMonitor,
    baseline: GpuBaseline,
}

/// Runs jobs, one fresh child each, keeping the machine description and GPU monitors.
pub struct Runner {
    opts: IsolateOptions,
    cpu_machine: Machine,
    gpus: HashMap<u32, OpenGpu>,
}

impl Runner {
    /// A runner re-executing the profiler binary with `opts`.
    pub fn new(opts: IsolateOptions) -> Runner {
        Runner {
            opts,
            cpu_machine: machine::describe(None),
            gpus: HashMap::new(),
        }
    }

    /// The machine as CPU records describe it.
    pub fn cpu_machine(&self) -> &Machine {
        &self.cpu_machine
    }

    /// Device memory a run on CUDA device `ordinal` may use: total minus what other
    /// processes held at the baseline (None before the device was opened).
    pub fn gpu_room(&self, ordinal: u32) -> Option<u64> {
        self.gpus.get(&ordinal).map(|g| {
            g.baseline
                .info
                .total_bytes
                .saturating_sub(g.baseline.others_used())
        })
    }

    /// The machine as records of `config` describe it (with the GPU on CUDA). Opens the
    /// device on first use; an error says there is no usable device.
    pub fn machine_for(&mut self, config: &RunConfig) -> Result<Machine, MeasureError> {
        match config.device {
            predictor::Device::Cpu => Ok(self.cpu_machine.clone()),
            predictor::Device::Cuda(ordinal) => {
                let info = self.open_gpu(ordinal)?.baseline.info.clone();
                Ok(machine::with_gpu(&self.cpu_machine, info))
            }
            predictor::Device::Rocm(_) => Err(MeasureError::Invalid(
                "the profiler measures GPUs through CUDA only (no ROCm memory readings)".into(),
            )),
        }
    }

    fn open_gpu(&mut self, ordinal: u32) -> Result<&OpenGpu, MeasureError> {
        match self.gpus.entry(ordinal) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(v) => {
                let monitor = GpuMonitor::open(ordinal).map_err(|e| MeasureError::Invalid(e.0))?;
                let baseline =
                    GpuBaseline::read(&monitor).map_err(|e| MeasureError::Invalid(e.0))?;
                Ok(v.insert(OpenGpu { monitor, baseline }))
            }
        }
    }

    /// Measures one job in a fresh child and returns its record (whatever the child's
    /// outcome: a crash or OOM is a record with that status). Errors are the profiler's
    /// own failures (no device, cannot start the child).
    pub fn measure(&mut self, job: &Job<'_>) -> Result<Record, MeasureError> {
        let machine = self.machine_for(&job.config)?;
        let gpu = match job.config.device {
            predictor::Device::Cuda(o) => self.gpus.get(&o).map(|g| &g.monitor),
            predictor::Device::Cpu | predictor::Device::Rocm(_) => None,
        };
        let spec = ChildSpec {
            model: PathBuf::from(&job.model.file.path),
            config: job.config.clone(),
            prompt: job.prompt,
            decode: job.decode,
            gpu_baseline_used: None,
            seed: 0,
        };
        let sys_available = machine::available_memory();
        let run = run_child(&spec, &self.opts, gpu)?;
        let (status, mut message) = run.classify();
        let predicted = match job.predicted() {
            Ok(p) => p,
            Err(e) => {
                let note = format!("no analytic estimate: {e}");
                message = Some(match message {
                    Some(m) => format!("{m}; {note}"),
                    None => note,
                });
                Predicted::default()
            }
        };
        let mut record = Record {
            schema: RECORD_SCHEMA_VERSION,
            key: job.key(),
            timestamp: now_secs(),
            backend: BACKEND.to_string(),
            machine,
            software: software::describe(),
            model: job.model.file.clone(),
            profile: job.model.profile.clone(),
            config: job.config.clone(),
            prompt_tokens: job.prompt,
            decode_tokens: job.decode,
            measured: run.measured(sys_available),
            predicted,
            status,
            message,
            engine: None,
            engine_key: None,
            role: Default::default(),
            device_name: None,
            workload: None,
        };
        // The model by its file name, size and hash: no path of this machine.
        record.make_portable();
        Ok(record)
    }
}

/// Whether a record's outcome means the configuration is settled (a resumed sweep skips
/// it): ok and oom are; an error is settled unless errors are to be retried.
pub fn is_settled(status: Status, retry_errors: bool) -> bool {
    match status {
        Status::Ok | Status::Oom => true,
        Status::Error => !retry_errors,
    }
}
