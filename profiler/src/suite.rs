//! The sweep grids: which synthetic models, and which configurations of each, a named suite
//! measures.
//!
//! - `default`: a quick look on every device present (what `cargo run --release -p
//!   profiler` runs): three tiny models, a few configurations each, a couple of minutes.
//! - `calibration-cpu`: the CPU calibration grid: 6 model shapes (BitNet, llama and qwen2
//!   of different widths, depths, head widths and GQA ratios) in 7 weight types (I2_S, TL2,
//!   Q4_0, Q4_K, Q8_0, F16, F32), 16 models, each run at the same 9 (context, batch) pairs
//!   with varied micro-batch and KV dtype (f16 and f32): 224 configurations, plus two off the grid
//!   per model (a context that is not a multiple of the micro-batch, an odd batch): 256. Every shape
//!   sees every (context, batch) pair, so calibration can hold out whole shapes or whole
//!   pairs.
//! - `cuda-default`: the GPU grid for a CUDA build, sized to finish in minutes on an H100:
//!   7 models (I2_S twice, Q4_0 twice, Q8_0, Q4_K, F16; llama, qwen2 and BitNet shapes of
//!   0.1 to 0.9 B parameters) x 8 configurations in rounds over every model (so that a run
//!   cut short still covers each model): contexts 1024 to 16384, batches 1 to 4, f16 and
//!   f32 KV, two off-grid configurations and two with half the blocks on the host.
//!
//! Prompt length: every run reaches the full context (the positions before the prompt
//! count as a cached prefix, see [`crate::measure::child`]); suites prefill two
//! micro-batches (or what fits), which gives the activation peak of a full-context run
//! without computing the whole context.

use crate::measure::filehash::Fnv1a64;
use crate::measure::MeasureError;
use crate::synth::{write_model, SynthSpec};
use predictor::ggml_type::GgmlType;
use predictor::{Device, KvDtype, RunConfig};
use std::path::{Path, PathBuf};

/// The named suites: name, description.
pub const SUITES: &[(&str, &str)] = &[
    (
        "default",
        "quick look on every device present: 3 tiny models x 4 configurations",
    ),
    (
        "calibration-cpu",
        "CPU calibration: 6 shapes x 7 weight types (16 models) x 16 configurations (2 off the grid)",
    ),
    (
        "calibration-cpu-off-grid",
        "the calibration-cpu models at their off-grid configurations only (32)",
    ),
    (
        "cuda-default",
        "GPU grid (CUDA build): 7 models x 8 configurations (contexts, batches, off-grid points, half offload)",
    ),
];

/// Decode steps of suite runs.
pub const SUITE_DECODE: u32 = 4;

/// One model of a suite.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteModel {
    /// File stem, unique per spec (`<shape>-<type>`).
    pub name: String,
    /// Shape name.
    pub shape: &'static str,
    /// What to write.
    pub spec: SynthSpec,
}

/// One configuration of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct SuitePoint {
    /// Index into [`Suite::models`].
    pub model: usize,
    /// Configuration.
    pub config: RunConfig,
    /// Prompt tokens per sequence.
    pub prompt: u32,
    /// Decode steps.
    pub decode: u32,
}

/// A suite: models and points.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// Name.
    pub name: String,
    /// Models to write.
    pub models: Vec<SuiteModel>,
    /// Configurations, grouped by model.
    pub points: Vec<SuitePoint>,
}

/// Prompt tokens of a suite run: two micro-batches, or what fits before the decode steps.
pub fn suite_prompt(ctx: u32, ubatch: u32, decode: u32) -> u32 {
    let fits = ctx.saturating_sub(decode).max(1);
    ubatch.min(ctx).saturating_mul(2).min(fits)
}

/// A configuration with the usual defaults.
pub fn config(device: Device, batch: u32, ctx: u32, ubatch: u32, kv: KvDtype) -> RunConfig {
    RunConfig {
        device,
        batch,
        ctx,
        ubatch,
        kv_dtype: kv,
        gpu_layers: None,
        margin_pct: 5.0,
        ..RunConfig::default()
    }
}

/// A model shape as a spec (weight type F32 until a suite sets it; seed 0, trained context
/// 8192). `dims`: layers, hidden, heads, KV heads, FFN, vocab.
fn shape(arch: &str, dims: [usize; 6], head_dim: Option<usize>, tied: bool) -> SynthSpec {
    let [layers, hidden, heads, kv_heads, ffn, vocab] = dims;
    SynthSpec {
        arch: arch.to_string(),
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        ffn,
        vocab,
        ctx_train: 8192,
        qtype: GgmlType::F32,
        tied,
        seed: 0,
        moe: None,
        sliding_window: None,
        embd_type: None,
        fast_blocks: false,
    }
}

/// Adds the model `shape` in `qtype` to `models`; returns its index.
fn add_model(
    models: &mut Vec<SuiteModel>,
    shape: &'static str,
    spec: &SynthSpec,
    qtype: GgmlType,
) -> usize {
    models.push(SuiteModel {
        name: format!("{shape}-{}", qtype.name().to_ascii_lowercase()),
        shape,
        spec: SynthSpec {
            qtype,
            ..spec.clone()
        },
    });
    models.len() - 1
}

/// The calibration shapes: (name, shape, weight types). Sizes: 25 to 200 MB files;
/// attention kept small (few layers x heads) so long contexts stay affordable on two cores.
pub fn calibration_shapes() -> Vec<(&'static str, SynthSpec, Vec<GgmlType>)> {
    use GgmlType::*;
    vec![
        // BitNet b1.58, GQA 4, tied F16 embedding.
        (
            "bn-a",
            shape("bitnet-b1.58", [2, 512, 8, 2, 1536, 32000], None, true),
            vec![I2S, TL2],
        ),
        // BitNet (older arch name), MHA with 128-wide heads, untied output.
        (
            "bn-b",
            shape("bitnet", [3, 768, 6, 6, 2048, 16000], None, false),
            vec![I2S, TL2],
        ),
        // llama, GQA 8.
        (
            "ll-a",
            shape("llama", [2, 512, 8, 1, 1536, 32000], None, true),
            vec![Q4_0, Q8_0, F16, F32],
        ),
        // llama, deeper and narrower, MHA, large vocabulary.
        (
            "ll-b",
            shape("llama", [4, 256, 4, 4, 768, 50000], None, true),
            vec![Q4_0, Q4K, F32],
        ),
        // qwen2 (q/k/v biases), GQA 6, untied.
        (
            "qw-a",
            shape("qwen2", [2, 768, 12, 2, 2048, 32000], None, false),
            vec![Q8_0, Q4K, F16],
        ),
        // llama with 128-wide heads, GQA 2.
        (
            "ll-c",
            shape("llama", [2, 512, 4, 2, 1024, 24000], Some(128), true),
            vec![Q4_0, F16],
        ),
    ]
}

/// The (context, batch) pairs every calibration model runs at.
pub const CALIBRATION_PAIRS: &[(u32, u32)] = &[
    (128, 1),
    (256, 4),
    (512, 2),
    (512, 8),
    (1024, 1),
    (1024, 4),
    (2048, 2),
    (4096, 1),
    (8192, 1),
];

/// Configurations off the grid, run by every calibration model too: contexts that are not
/// a multiple of the micro-batch (so the last prefill chunk is a partial one) and odd
/// batches, as (ctx, batch, micro-batch, KV dtype). Validation sees them; nothing is tuned
/// on them alone.
pub const OFF_GRID: &[(u32, u32, u32, KvDtype)] =
    &[(700, 3, 512, KvDtype::F16), (1500, 1, 1000, KvDtype::F32)];

/// Micro-batch and KV dtype variants per pair: the pair's first variant always, the
/// second for the pairs at odd positions and the last two (14 configurations per model).
fn calibration_variants(i: usize) -> Vec<(u32, KvDtype)> {
    let ub = [128, 64, 256, 32, 512, 128, 256, 64, 128];
    let first = (ub[i % ub.len()], [KvDtype::F16, KvDtype::F32][i % 2]);
    let mut v = vec![first];
    if i % 2 == 1 || i + 2 >= CALIBRATION_PAIRS.len() {
        let other = if first.1 == KvDtype::F16 {
            KvDtype::F32
        } else {
            KvDtype::F16
        };
        v.push((ub[(i + 3) % ub.len()], other));
    }
    v
}

fn calibration_cpu() -> Suite {
    let mut models = Vec::new();
    let mut points = Vec::new();
    for (name, spec, types) in calibration_shapes() {
        for qtype in types {
            let m = add_model(&mut models, name, &spec, qtype);
            let grid = CALIBRATION_PAIRS
                .iter()
                .enumerate()
                .flat_map(|(i, &(ctx, batch))| {
                    calibration_variants(i)
                        .into_iter()
                        .map(move |(u, kv)| (Device::Cpu, batch, ctx, u, kv, None))
                })
                .chain(
                    OFF_GRID
                        .iter()
                        .map(|&(ctx, batch, u, kv)| (Device::Cpu, batch, ctx, u, kv, None)),
                );
            add_points(&mut points, m, grid);
        }
    }
    Suite {
        name: "calibration-cpu".into(),
        models,
        points,
    }
}

/// Adds one point per `(device, batch, ctx, ubatch, kv, gpu layers)` of `grid` for model `m`.
fn add_points(
    points: &mut Vec<SuitePoint>,
    m: usize,
    grid: impl IntoIterator<Item = (Device, u32, u32, u32, KvDtype, Option<u32>)>,
) {
    for (device, batch, ctx, ubatch, kv, gpu_layers) in grid {
        let mut config = config(device, batch, ctx, ubatch, kv);
        config.gpu_layers = gpu_layers;
        points.push(SuitePoint {
            model: m,
            config,
            prompt: suite_prompt(ctx, ubatch, SUITE_DECODE),
            decode: SUITE_DECODE,
        });
    }
}

fn default_suite(devices: &[Device]) -> Suite {
    use GgmlType::*;
    let tiny = [
        (
            "tiny-bn",
            shape("bitnet-b1.58", [2, 256, 4, 2, 512, 2048], None, true),
            I2S,
        ),
        (
            "tiny-tl2",
            shape("bitnet-b1.58", [2, 256, 4, 2, 768, 2048], None, true),
            TL2,
        ),
        (
            "tiny-ll",
            shape("llama", [2, 256, 4, 1, 512, 4096], None, false),
            Q8_0,
        ),
    ];
    let grid = [
        (1, 256, 64, KvDtype::F16),
        (2, 512, 128, KvDtype::F32),
        (4, 1024, 128, KvDtype::F16),
        (1, 4096, 256, KvDtype::F16),
    ];
    let mut models = Vec::new();
    let mut points = Vec::new();
    for (name, spec, qtype) in tiny {
        let m = add_model(&mut models, name, &spec, qtype);
        let all = devices
            .iter()
            .flat_map(|&d| grid.map(|(b, c, u, kv)| (d, b, c, u, kv, None)));
        add_points(&mut points, m, all);
    }
    Suite {
        name: "default".into(),
        models,
        points,
    }
}

fn cuda_default(ordinal: u32) -> Suite {
    use GgmlType::*;
    let shapes = [
        (
            "gpu-bn",
            shape("bitnet-b1.58", [24, 1536, 16, 4, 4096, 32000], None, true),
            I2S,
        ),
        (
            "gpu-ll",
            shape("llama", [16, 2048, 16, 4, 5632, 32000], None, false),
            Q4_0,
        ),
        (
            "gpu-qw",
            shape("qwen2", [12, 1024, 16, 2, 2816, 65536], None, false),
            Q8_0,
        ),
        (
            "gpu-bs",
            shape("bitnet-b1.58", [16, 1024, 8, 8, 2816, 32000], None, false),
            I2S,
        ),
        (
            "gpu-lk",
            shape("llama", [12, 1536, 12, 4, 4096, 32000], None, true),
            Q4K,
        ),
        (
            "gpu-qf",
            shape("qwen2", [8, 896, 14, 2, 4864, 32000], None, true),
            F16,
        ),
        (
            "gpu-l0",
            shape("llama", [10, 1280, 10, 2, 3456, 32000], None, false),
            Q4_0,
        ),
    ];
    let device = Device::Cuda(ordinal);
    let mut models = Vec::new();
    let blocks: Vec<u32> = shapes.iter().map(|(_, s, _)| s.layers as u32).collect();
    for (name, spec, qtype) in &shapes {
        add_model(&mut models, name, spec, *qtype);
    }
    // Rounds, each over every model, so that a sweep cut short still covers every model:
    // (ctx, batch, ubatch, KV, whether half the blocks stay on the host). The last two
    // rounds are off the grid (contexts that are not a multiple of the micro-batch, odd
    // batches, a micro-batch of 384) and the partial offloads.
    let rounds = [
        (1024, 1, 512, KvDtype::F16, false),
        (4096, 4, 512, KvDtype::F16, false),
        (16384, 1, 512, KvDtype::F16, false),
        (8192, 2, 256, KvDtype::F32, false),
        (3000, 3, 512, KvDtype::F16, false),
        (6000, 1, 384, KvDtype::F32, false),
        (4096, 1, 512, KvDtype::F16, true),
        (2048, 4, 512, KvDtype::F32, true),
    ];
    let mut points = Vec::new();
    for (ctx, batch, ubatch, kv, half) in rounds {
        for (m, &n) in blocks.iter().enumerate() {
            let g = half.then_some(n / 2);
            add_points(&mut points, m, [(device, batch, ctx, ubatch, kv, g)]);
        }
    }
    Suite {
        name: "cuda-default".into(),
        models,
        points,
    }
}

/// Builds suite `name`. `devices` are the devices present (the default suite runs on each;
/// the others choose their own device).
pub fn build(name: &str, devices: &[Device]) -> Result<Suite, MeasureError> {
    match name {
        "default" => Ok(default_suite(devices)),
        "calibration-cpu" => Ok(calibration_cpu()),
        "calibration-cpu-off-grid" => {
            // The same models, only the off-grid points (to add them on another machine
            // without re-running the grid).
            let mut s = calibration_cpu();
            let off = |p: &SuitePoint| {
                OFF_GRID.iter().any(|&(ctx, batch, u, kv)| {
                    (
                        p.config.ctx,
                        p.config.batch,
                        p.config.ubatch,
                        p.config.kv_dtype,
                    ) == (ctx, batch, u, kv)
                })
            };
            s.points.retain(off);
            s.name = name.into();
            Ok(s)
        }
        "cuda-default" => {
            let ordinal = devices
                .iter()
                .find_map(|d| match d {
                    Device::Cuda(o) => Some(*o),
                    Device::Cpu | Device::Rocm(_) => None,
                })
                .unwrap_or(0);
            Ok(cuda_default(ordinal))
        }
        _ => {
            let names: Vec<&str> = SUITES.iter().map(|s| s.0).collect();
            Err(MeasureError::Invalid(format!(
                "unknown suite {name:?} (known: {})",
                names.join(", ")
            )))
        }
    }
}

/// Where synthetic models are cached: `$MEMCAL_MODEL_DIR`, else `memcal-models` in the
/// cargo target directory the binary runs from (`target/memcal-models`), else
/// `$XDG_CACHE_HOME/memcal/models` (or `~/.cache/memcal/models`), else a temp directory.
pub fn default_models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MEMCAL_MODEL_DIR") {
        return PathBuf::from(d);
    }
    // target/<profile>/profiler or target/<profile>/deps/<test binary>
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(3) {
            if dir.join("CACHEDIR.TAG").is_file() {
                return dir.join("memcal-models");
            }
        }
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("memcal/models");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache/memcal/models");
    }
    std::env::temp_dir().join("memcal-models")
}

/// The file of `model` in `dir`: its name plus a hash of the whole spec, so a changed
/// spec never reuses a stale file.
pub fn model_path(dir: &Path, model: &SuiteModel) -> PathBuf {
    let mut h = Fnv1a64::default();
    h.update(format!("{:?}", model.spec).as_bytes());
    dir.join(format!("{}-{:08x}.gguf", model.name, h.finish() as u32))
}

/// Writes the suite's models that are not in `dir` yet (to a temporary name, then renamed,
/// so a killed sweep never leaves a half-written model) and returns every model's path.
pub fn ensure_models(dir: &Path, models: &[SuiteModel]) -> Result<Vec<PathBuf>, MeasureError> {
    std::fs::create_dir_all(dir).map_err(|e| MeasureError::io(dir, e))?;
    let mut out = Vec::new();
    for m in models {
        let path = model_path(dir, m);
        if !path.is_file() {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            write_model(&m.spec, &tmp)
                .map_err(|e| MeasureError::Invalid(format!("writing {}: {e}", m.name)))?;
            std::fs::rename(&tmp, &path).map_err(|e| MeasureError::io(&path, e))?;
        }
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn every_suite_model_is_a_valid_spec() {
        for (name, _) in SUITES {
            let s = build(name, &[Device::Cpu, Device::Cuda(0)]).unwrap();
            for m in &s.models {
                m.spec
                    .validate()
                    .unwrap_or_else(|e| panic!("{}: {e}", m.name));
            }
            for p in &s.points {
                p.config.validate().unwrap();
                assert!(
                    p.prompt >= 1 && p.prompt + p.decode <= p.config.ctx,
                    "{p:?}"
                );
            }
        }
    }

    #[test]
    fn calibration_grid_is_large_and_balanced_for_hold_outs() {
        let s = build("calibration-cpu", &[Device::Cpu]).unwrap();
        assert!(s.points.len() >= 200, "{} points", s.points.len());
        let shapes: BTreeSet<_> = s.models.iter().map(|m| m.shape).collect();
        assert!(shapes.len() >= 5);
        let types: BTreeSet<_> = s.models.iter().map(|m| m.spec.qtype.name()).collect();
        for t in ["I2_S", "TL2", "Q4_0", "Q8_0", "F16", "F32"] {
            assert!(types.contains(t), "{t} missing");
        }
        // Every shape sees every (ctx, batch) pair and the off-grid ones, in both KV dtypes
        // overall.
        let mut pairs: BTreeMap<&str, BTreeSet<(u32, u32)>> = BTreeMap::new();
        for p in &s.points {
            pairs
                .entry(s.models[p.model].shape)
                .or_default()
                .insert((p.config.ctx, p.config.batch));
        }
        for set in pairs.values() {
            assert_eq!(set.len(), CALIBRATION_PAIRS.len() + OFF_GRID.len());
        }
        let off = build("calibration-cpu-off-grid", &[Device::Cpu]).unwrap();
        assert_eq!(off.points.len(), s.models.len() * OFF_GRID.len());
        assert!(off
            .points
            .iter()
            .all(|p| p.config.ctx % p.config.ubatch != 0 && p.prompt % p.config.ubatch != 0));
        let kvs: BTreeSet<_> = s
            .points
            .iter()
            .map(|p| p.config.kv_dtype.as_str())
            .collect();
        assert_eq!(kvs.len(), 2);
        let batches: BTreeSet<_> = s.points.iter().map(|p| p.config.batch).collect();
        assert!(batches.contains(&1) && batches.contains(&8));
    }

    #[test]
    fn the_default_suite_runs_on_each_device_given() {
        let cpu = build("default", &[Device::Cpu]).unwrap();
        let both = build("default", &[Device::Cpu, Device::Cuda(0)]).unwrap();
        assert_eq!(both.points.len(), 2 * cpu.points.len());
        assert!(build("nope", &[Device::Cpu]).is_err());
    }

    #[test]
    fn prompts_take_two_micro_batches_or_what_fits() {
        assert_eq!(suite_prompt(4096, 256, 4), 512);
        assert_eq!(suite_prompt(128, 512, 4), 124);
        assert_eq!(suite_prompt(256, 128, 4), 252);
    }
}
