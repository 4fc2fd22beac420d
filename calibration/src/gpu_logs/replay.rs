//! A corpus run replayed through memcal's estimate: which runs the model covers (and why
//! the others are left out), the run configuration its flags give, and each printed
//! buffer held against the predicted one.

use super::corpus::Run;
use super::rebuild::rebuild;
use predictor::backend::llama_cpp::build::Family;
use predictor::backend::llama_cpp::gpu::blas::HOST_ATTENTION_NOTE;
use predictor::backend::llama_cpp::gpu::host::HOST_BLOCKS_NOTE;
use predictor::backend::Backend;
use predictor::components::Estimate;
use predictor::config::{Device, FlashAttn, KvDtype, RunConfig, SplitMode, SplitOptions};
use predictor::profile::ModelProfile;
use std::collections::BTreeMap;

/// The oldest build whose GPU rules memcal has read (the KV-mask padding of 64 came about
/// b4600; older rules differ in ways not read).
pub const OLDEST_COVERED_BUILD: u32 = 4600;
const MIB: f64 = (1u64 << 20) as f64;

/// One printed buffer held against the prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The run.
    pub run: String,
    /// Its build (the first of its bounds where none was printed; 0 for neither).
    pub build: u32,
    /// Its build as reports name it ([`super::corpus::Build::label`]).
    pub build_label: String,
    /// Whether the run is held out (see [`Run::held_out`]).
    pub held_out: bool,
    /// Its first GPU's name.
    pub gpu: String,
    /// The buffer type (`CUDA0`, `CUDA_Host`, `CPU_Mapped`, ...).
    pub device: String,
    /// `model`, `kv`, `output` or `compute`.
    pub kind: String,
    /// Printed bytes (the lines of this device and kind summed).
    pub printed: f64,
    /// Predicted bytes.
    pub predicted: f64,
    /// Where the printed figure comes from: a buffer line, or a row of the exit memory
    /// breakdown (whole MiB, rounded down by the engine).
    pub source: Source,
}

/// Where a printed figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `CUDA0 model buffer size = ... MiB`.
    BufferLine,
    /// A row of `llama_memory_breakdown_print`'s table.
    Breakdown,
}

impl Outcome {
    /// The distance of the prediction from the band of bytes the printed figure stands
    /// for, over the figure: a buffer line's MiB rounded to two decimals (the band of one
    /// line, ±0.005 MiB), a breakdown row's whole MiB rounded down and held as its middle
    /// (±0.5 MiB); 0 inside the band.
    pub fn rel(&self) -> f64 {
        let half = match self.source {
            Source::BufferLine => MIB / 200.0,
            Source::Breakdown => MIB / 2.0,
        };
        let (lo, hi) = (self.printed - half, self.printed + half);
        let off = if self.predicted < lo {
            self.predicted - lo
        } else if self.predicted >= hi {
            self.predicted - hi
        } else {
            0.0
        };
        off / lo.max(half)
    }

    /// Whether this is a GPU's or the host's compute buffer.
    pub fn is_compute(&self) -> bool {
        self.kind == "compute"
    }

    /// Whether this is the host's compute buffer (pinned `CUDA_Host`, or a `CPU` one).
    pub fn is_host_compute(&self) -> bool {
        let d = &self.device;
        self.is_compute() && (d.starts_with("CPU") || d.ends_with("_Host") || d == "Host")
    }
}

/// A run the model covers: its rebuilt model and configuration.
#[derive(Debug, Clone)]
pub struct Covered {
    /// The run.
    pub run: Run,
    /// Its model rebuilt from the log.
    pub profile: ModelProfile,
    /// Its configuration.
    pub config: RunConfig,
    /// Whether its estimate says the host's compute buffer is not checked against any log
    /// (the CPU computes host graph parts: [`HOST_BLOCKS_NOTE`]); that buffer is then
    /// reported, not scored.
    pub host_compute_unchecked: bool,
    /// The analytic estimate of the rebuilt model under the configuration (made once,
    /// for the leave-out checks and the replay).
    pub estimate: Estimate,
}

fn flash_attn(v: &Option<serde_json::Value>) -> Result<FlashAttn, String> {
    let s = match v {
        None | Some(serde_json::Value::Null) => return Ok(FlashAttn::Auto),
        Some(serde_json::Value::Bool(b)) => {
            return Ok(if *b { FlashAttn::On } else { FlashAttn::Off })
        }
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let head = s
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c| c == '(' || c == ')');
    match head {
        "-fa" => Ok(FlashAttn::On),
        h => h.parse::<FlashAttn>().map_err(|e| e.to_string()),
    }
}

/// The GPUs a run's buffers name (`CUDA0`, `ROCm1`...), by index.
fn gpus_used(run: &Run, api: &str) -> Vec<u32> {
    let mut v: Vec<u32> = run
        .buffers
        .iter()
        .filter_map(|b| b.device.strip_prefix(api)?.parse::<u32>().ok())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The micro-batch: printed, or llama.cpp's default (512) where the printed command line
/// does not set one.
fn ubatch_of(f: &super::corpus::Flags) -> Result<u32, String> {
    if let Some(u) = f.n_ubatch {
        return Ok(u);
    }
    match f.command_line.as_deref() {
        Some(c)
            if !c
                .split_whitespace()
                .any(|w| w == "-ub" || w.starts_with("--ubatch")) =>
        {
            Ok(512)
        }
        _ => Err("the log prints no n_ubatch".into()),
    }
}

/// The configuration a run's flags give.
fn config_of(run: &Run) -> Result<RunConfig, String> {
    let f = &run.flags;
    let (device, api) = match run.backend.as_str() {
        "CUDA" => (Device::Cuda(0), "CUDA"),
        "ROCm" => (Device::Rocm(0), "ROCm"),
        b => return Err(format!("GPU API {b} is not modelled")),
    };
    let n_ctx = f.n_ctx.ok_or("the log prints no n_ctx")?;
    let n_seq = f.n_seq_max.unwrap_or(1).max(1);
    let (k, v) = (
        f.type_k.clone().unwrap_or("f16".into()),
        f.type_v.clone().unwrap_or("f16".into()),
    );
    if k != v {
        return Err(format!(
            "K and V caches of different types ({k}, {v}) are not modelled"
        ));
    }
    // `offloaded X/Y layers` where printed, else the -ngl given (negative: every layer).
    let ngl = f
        .offloaded_printed
        .as_deref()
        .and_then(|s| s.split_whitespace().find(|w| w.contains('/')))
        .and_then(|w| w.split('/').next()?.parse::<u32>().ok())
        .or_else(|| f.n_gpu_layers.and_then(|n| u32::try_from(n).ok()));
    let used = gpus_used(run, api);
    let split = if used.len() > 1 {
        let free: Vec<f64> = used
            .iter()
            .map(|&i| {
                run.gpus
                    .iter()
                    .find(|g| g.index == i)
                    .and_then(|g| g.free_mib)
                    .unwrap_or(1.0)
            })
            .collect();
        Some(
            SplitOptions::gpus(device, used.len(), &free, SplitMode::Layer)
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    let overrides = predictor_cli::tensor_overrides::overrides(
        f.override_tensor.as_deref().unwrap_or(&[]),
        false,
        None,
    )
    .map_err(|e| e.to_string())?;
    let no_kvo = matches!(f.no_kv_offload, Some(serde_json::Value::Bool(true)));
    // A llama-server run: its slots are the sequences, with their KV unified or not as the
    // log printed.
    let serve = f
        .command_line
        .as_deref()
        .is_some_and(|c| c.contains("llama-server"))
        .then(|| predictor::config::ServeOptions {
            kv_unified: matches!(f.kv_unified, Some(serde_json::Value::Bool(true))),
            ..Default::default()
        });
    Ok(RunConfig {
        device,
        batch: n_seq,
        ctx: (n_ctx / n_seq as u64) as u32,
        ubatch: ubatch_of(f)?,
        kv_dtype: k.parse::<KvDtype>().map_err(|e| e.to_string())?,
        gpu_layers: ngl,
        margin_pct: 0.0,
        flash_attn: flash_attn(&f.flash_attn)?,
        mmap: f.mmap.unwrap_or(true),
        split,
        engine_build: run.build.replayed(),
        tensor_overrides: overrides,
        kv_offload: !no_kvo,
        serve,
        ..RunConfig::default()
    })
}

/// Whether the model covers `run`, with what it needs to replay it; else why not.
pub fn cover(run: &Run) -> Result<Covered, String> {
    if run.engine != "llama.cpp" {
        return Err(format!(
            "engine {:?}: not upstream llama.cpp (a fork, or a wrapper on a build of its own)",
            run.engine
        ));
    }
    if !matches!(run.backend.as_str(), "CUDA" | "ROCm") {
        return Err(format!("GPU API {} is not modelled", run.backend));
    }
    let build = run
        .build
        .replayed()
        .ok_or("the log prints no build number")?;
    if build < OLDEST_COVERED_BUILD {
        return Err(format!(
            "build {build} is older than the GPU rules read (b{OLDEST_COVERED_BUILD} on)"
        ));
    }
    if run.buffers.is_empty() && super::breakdown::exit_table(run).is_none() {
        return Err("no buffer line and no exit memory breakdown was printed".into());
    }
    // With a GPU, llama.cpp gives the CPU backend the GPU's pinned host buffer type: a
    // `CPU compute buffer` beside `CUDA_Host compute` is an ACCEL backend's (GGML_BLAS).
    let host_compute = |name: &str| {
        run.buffers
            .iter()
            .any(|b| b.kind == "compute" && b.device == name)
    };
    let blas = host_compute("CPU") && (host_compute("CUDA_Host") || host_compute("ROCm_Host"));
    let profile = rebuild(run)?;
    let mut config = config_of(run)?;
    config.blas = blas;
    // Left out where the estimate itself says the run is outside what is modelled.
    let est = Backend::LlamaCpp
        .analytic(&profile, &config)
        .map_err(|e| e.to_string())?;
    if let (None, Some([first, last])) = (run.build.number, run.build.bounds) {
        same_between(&profile, &config, &est, first, last)?;
    }
    if est.notes.iter().any(|n| n == HOST_ATTENTION_NOTE) {
        return Err(
            "a BLAS build with blocks on the CPU: the CPU backend's share of their attention \
             beside BLAS is not modelled (the estimate says so in a note)"
                .into(),
        );
    }
    let host_compute_unchecked = est.notes.iter().any(|n| n == HOST_BLOCKS_NOTE);
    Ok(Covered {
        run: run.clone(),
        profile,
        config,
        host_compute_unchecked,
        estimate: est,
    })
}

/// The widest build range a run's bounds may span (a wider one is refused rather than
/// walked build by build).
const MAX_BOUNDS_SPAN: u32 = 20_000;

/// For a run whose build is known only to lie between `first` and `last`: whether every
/// set of rules the builds of that range have gives it the buffers `est` (made at
/// `first`); else which build it was decides them, and the run is left out. The builds
/// are walked one by one, so a rule that holds only inside the range is seen too.
fn same_between(
    profile: &ModelProfile,
    config: &RunConfig,
    est: &Estimate,
    first: u32,
    last: u32,
) -> Result<(), String> {
    if first > last {
        return Err(format!("build bounds [{first}, {last}] are reversed"));
    }
    if last - first > MAX_BOUNDS_SPAN {
        return Err(format!(
            "build bounds [{first}, {last}] span more than {MAX_BOUNDS_SPAN} builds"
        ));
    }
    let buffers = |e: &Estimate| {
        e.buffers
            .iter()
            .chain(e.devices.iter().flat_map(|d| d.buffers.iter()))
            .map(|b| (b.buffer.clone(), b.component, b.bytes))
            .collect::<Vec<_>>()
    };
    let expected = buffers(est);
    let mut rules = Family::upstream_for(Some(first)).0;
    for b in first + 1..=last {
        let here = Family::upstream_for(Some(b)).0;
        if here == rules {
            continue;
        }
        rules = here;
        let at = RunConfig {
            engine_build: Some(b),
            ..config.clone()
        };
        let other = Backend::LlamaCpp
            .analytic(profile, &at)
            .map_err(|e| e.to_string())?;
        if buffers(&other) != expected {
            return Err(format!(
                "the log prints no build line, and within b{first}-{last} (the bounds its \
                 thread gives) the rules from b{b} on give it other buffers"
            ));
        }
    }
    Ok(())
}

/// The printed kind a buffer is compared as (the SWA cache's lines are KV).
fn kind_of(kind: &str) -> Option<&'static str> {
    match kind {
        "model" => Some("model"),
        "kv" | "kv_swa" => Some("kv"),
        "compute" => Some("compute"),
        "output" => Some("output"),
        _ => None,
    }
}

/// Every printed buffer of a covered run against its prediction (per buffer type and
/// kind, the lines summed), but those its estimate says are not checked.
pub fn replay(c: &Covered) -> Vec<Outcome> {
    replay_split(c).0
}

/// A covered run's outcomes as (scored, not scored): the host's compute buffer of a run
/// whose estimate says it is not checked ([`Covered::host_compute_unchecked`]) goes to
/// the second list, everything else to the first.
pub fn replay_split(c: &Covered) -> (Vec<Outcome>, Vec<Outcome>) {
    let mut out = buffer_lines(c, &c.estimate);
    out.extend(super::breakdown::outcomes(c, &c.estimate));
    out.into_iter()
        .partition(|o| !(c.host_compute_unchecked && o.is_host_compute()))
}

/// The printed buffer lines against the predicted buffers.
fn buffer_lines(c: &Covered, est: &Estimate) -> Vec<Outcome> {
    let mut predicted: BTreeMap<(String, &str), f64> = BTreeMap::new();
    let all = est
        .buffers
        .iter()
        .chain(est.devices.iter().flat_map(|d| d.buffers.iter()));
    for b in all {
        if let Some(k) = kind_of(b.component.as_str()) {
            *predicted.entry((b.buffer.clone(), k)).or_default() += b.bytes as f64;
        }
    }
    let mut printed: BTreeMap<(String, &str), f64> = BTreeMap::new();
    for b in &c.run.buffers {
        if let Some(k) = kind_of(&b.kind) {
            *printed.entry((b.device.clone(), k)).or_default() += b.mib * MIB;
        }
    }
    let gpu = gpu_name(&c.run);
    printed
        .into_iter()
        .filter(|(_, bytes)| *bytes > 0.0)
        .map(|((device, kind), bytes)| Outcome {
            run: c.run.id.clone(),
            build: c.run.build.replayed().unwrap_or(0),
            build_label: c.run.build.label(),
            held_out: c.run.held_out,
            gpu: gpu.clone(),
            predicted: predicted
                .get(&(device.clone(), kind))
                .copied()
                .unwrap_or(0.0),
            device,
            kind: kind.to_string(),
            printed: bytes,
            source: Source::BufferLine,
        })
        .collect()
}

/// The run's first GPU's name.
pub(super) fn gpu_name(run: &Run) -> String {
    run.gpus
        .first()
        .and_then(|g| g.name.clone())
        .unwrap_or_default()
}
