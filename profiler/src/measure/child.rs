//! The child side of a measurement: runs the reference runtime through its phases and
//! reports each phase's memory on stdout (see [`super::protocol`]).
//!
//! Phases, each read from `/proc/self/status` at its end, `VmHWM` reset after each so the
//! next phase has its own peak:
//! - `start`: the process as exec'd (binary, libc, Rust runtime, the argument parsing);
//! - `baseline`: after starting the worker pools (the runtime's rayon pool and the global
//!   rayon pool candle uses) and, on CUDA, the device context: everything that is there
//!   before the model;
//! - `load`: the model loaded (weights resident; the peak holds the load transient);
//! - `kv_alloc`: the KV cache allocated and initialised;
//! - `prefill`: the prompts processed in micro-batches (the peak holds the activations);
//!   when the prompt is shorter than `ctx - decode`, the positions before it count as a
//!   cached prefix (their K/V are the cache's initial values), so every run attends over
//!   the whole context and its peak is that of a full-context run, at the cost of
//!   computing only the prompt;
//! - `decode`: the decode steps.

use super::gpu::{GpuMonitor, GpuSampler};
use super::procfs;
use super::protocol::{ChildEvent, ChildSpec};
use crate::runtime::{self, argmax_rows, LoadOptions, Model};
use predictor::record::PhaseMeasure;
use std::io::Write;
use std::time::{Duration, Instant};

/// Set (to anything) in a child's environment, it does not reset `VmHWM` between phases:
/// each phase's peak then counts from the process start and `wait4`'s `ru_maxrss` covers
/// the whole run. Used to check the per-phase peaks against an unreset whole-run peak.
pub const NO_RESET_ENV: &str = "MEMCAL_NO_PEAK_RESET";

/// Exit code of a child whose run failed with an error it reported.
pub const EXIT_FAILED: i32 = 2;

fn emit(ev: &ChildEvent) {
    let mut out = std::io::stdout().lock();
    // If the parent is gone there is nobody to tell; the run goes on and exits.
    let _ = writeln!(out, "{}", ev.to_line());
    let _ = out.flush();
}

struct Gpu {
    monitor: GpuMonitor,
    sampler: GpuSampler,
    baseline: u64,
}

/// Marks the end of phases.
struct Phases {
    last: Instant,
    /// Whether to reset VmHWM after each phase (see [`NO_RESET_ENV`]).
    reset: bool,
    gpu: Option<Gpu>,
}

impl Phases {
    fn mark(&mut self, name: &str) -> Result<(), String> {
        let s = procfs::read_self().map_err(|e| e.to_string())?;
        let (gpu_used, gpu_peak) = match &self.gpu {
            Some(g) => {
                let used = g
                    .monitor
                    .mem_info()
                    .map(|i| i.used())
                    .map_err(|e| e.to_string())?;
                let peak = g.sampler.take_phase_peak(used);
                (
                    Some(used.saturating_sub(g.baseline)),
                    Some(peak.saturating_sub(g.baseline)),
                )
            }
            None => (None, None),
        };
        let now = Instant::now();
        let phase = PhaseMeasure {
            name: name.to_string(),
            rss_bytes: s.vm_rss,
            peak_rss_bytes: s.vm_hwm.max(s.vm_rss),
            rss_anon_bytes: s.rss_anon,
            rss_file_bytes: s.rss_file,
            gpu_used_bytes: gpu_used,
            gpu_peak_used_bytes: gpu_peak,
            elapsed_ms: now.duration_since(self.last).as_secs_f64() * 1000.0,
        };
        let peak_reset = self.reset && procfs::reset_peak().map_err(|e| e.to_string())?;
        emit(&ChildEvent::Phase { phase, peak_reset });
        // The reset and the emit are not part of the next phase's time.
        self.last = Instant::now();
        Ok(())
    }
}

/// Deterministic prompt tokens: `batch` prompts of `len` ids in `0..vocab`.
pub fn prompts(batch: usize, len: usize, vocab: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = predictor::rng::SplitMix64::from_state(seed ^ predictor::rng::GOLDEN);
    (0..batch)
        .map(|_| {
            (0..len)
                .map(|_| (rng.next_u64() % vocab.max(1) as u64) as u32)
                .collect()
        })
        .collect()
}

/// Why a child's run failed, and whether memory ran out, from the error's type (a
/// [`runtime::RuntimeError`] says so itself; a refused allocation elsewhere is reported by
/// the child's allocator, `crate::oom_alloc`).
struct Failure {
    message: String,
    oom: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            oom: false,
        }
    }
}

impl From<runtime::RuntimeError> for Failure {
    fn from(e: runtime::RuntimeError) -> Failure {
        Failure {
            oom: e.is_out_of_memory(),
            message: e.to_string(),
        }
    }
}

fn run_phases(spec: &ChildSpec, phases: &mut Phases, t0: Instant) -> Result<ChildEvent, Failure> {
    let cfg = &spec.config;
    cfg.validate().map_err(|e| e.to_string())?;
    if spec.prompt == 0 || spec.prompt as u64 + spec.decode as u64 > cfg.ctx as u64 {
        return Err(Failure::from(format!(
            "prompt {} + decode {} must be at least 1 and fit the context {}",
            spec.prompt, spec.decode, cfg.ctx
        )));
    }
    let opts = LoadOptions {
        device: cfg.device,
        gpu_layers: cfg.gpu_layers,
    };
    let model = Model::load(&spec.model, &opts)?;
    phases.mark("load")?;

    let batch = cfg.batch as usize;
    let mut cache = model.alloc_cache(batch, cfg.ctx as usize, cfg.kv_dtype)?;
    phases.mark("kv_alloc")?;

    // The run always reaches the full context: positions before the prompt are taken as
    // an already cached prefix (as after a prefix-cache hit), so the last prefill chunk
    // attends over `ctx - decode` positions whatever the prompt length.
    let prefix = (cfg.ctx - spec.prompt - spec.decode) as usize;
    for len in cache.lens.iter_mut() {
        *len = prefix;
    }
    let prompts = prompts(batch, spec.prompt as usize, model.hp.vocab, spec.seed);
    let logits = model.prefill(&mut cache, &prompts, cfg.effective_ubatch() as usize)?;
    let mut next = argmax_rows(&logits)?;
    drop(logits);
    drop(prompts);
    phases.mark("prefill")?;

    let t_decode = Instant::now();
    for _ in 0..spec.decode {
        let logits = model.decode_step(&mut cache, &next)?;
        next = argmax_rows(&logits)?;
    }
    let decode_secs = t_decode.elapsed().as_secs_f64();
    phases.mark("decode")?;

    let tokens = spec.decode as f64 * batch as f64;
    Ok(ChildEvent::Done {
        wall_ms: t0.elapsed().as_secs_f64() * 1000.0,
        decode_tokens_per_s: (spec.decode > 0 && decode_secs > 0.0).then(|| tokens / decode_secs),
        threads: runtime::threads::thread_count(),
        gpu_peak_used_bytes: None,
    })
}

/// Runs `spec` in this process (which must be a fresh child) and returns the exit code.
pub fn run(spec: &ChildSpec) -> i32 {
    let t0 = Instant::now();
    let mut phases = Phases {
        last: t0,
        reset: std::env::var_os(NO_RESET_ENV).is_none(),
        gpu: None,
    };
    let result = (|| {
        phases.mark("start")?;
        // Start the worker pools now so that their threads (stacks, per-thread arenas)
        // are in the baseline rather than in the first phase that computes.
        runtime::pool().broadcast(|_| ());
        rayon::broadcast(|_| ());
        if let predictor::Device::Cuda(ordinal) = spec.config.device {
            let monitor = GpuMonitor::open(ordinal).map_err(|e| e.to_string())?;
            let sampler = monitor.sampler(Duration::from_millis(1));
            phases.gpu = Some(Gpu {
                monitor,
                sampler,
                baseline: spec.gpu_baseline_used.unwrap_or(0),
            });
        }
        phases.mark("baseline")?;
        let mut done = run_phases(spec, &mut phases, t0)?;
        if let (
            Some(g),
            ChildEvent::Done {
                gpu_peak_used_bytes,
                ..
            },
        ) = (phases.gpu.take(), &mut done)
        {
            *gpu_peak_used_bytes = Some(g.sampler.stop().saturating_sub(g.baseline));
        }
        Ok::<ChildEvent, Failure>(done)
    })();
    match result {
        Ok(done) => {
            emit(&done);
            0
        }
        Err(Failure { message, oom }) => {
            emit(&ChildEvent::Failed { message, oom });
            EXIT_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_deterministic_and_in_range() {
        let a = prompts(3, 50, 17, 7);
        assert_eq!(a, prompts(3, 50, 17, 7));
        assert_ne!(a, prompts(3, 50, 17, 8));
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|p| p.len() == 50 && p.iter().all(|&t| t < 17)));
        assert_ne!(a[0], a[1]);
    }
}
