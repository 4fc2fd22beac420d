//! Synthetic records with a known correction, for tests of the fit, the validation and
//! the report. They are made in memory (or in temporary directories) and are never
//! written into `calibration/data`.
//!
//! A synthetic record's peak is the true correction applied to the analytic components
//! the current predictor computes for it, optionally with a deterministic relative noise,
//! so a fit on them must recover the truth.

use crate::analytic::{device_components, phase_components};
use crate::fit::component_values;
use crate::records::{sample_of, Sample};
use predictor::components::Components;
use predictor::config::{Device, KvDtype, RunConfig};
use predictor::profile::{ModelFormat, ModelProfile, ModelShape, TensorRole, TypeStats};
use predictor::record::{
    Machine, Measured, ModelFile, PhaseMeasure, Predicted, Record, Software, Status,
    RECORD_SCHEMA_VERSION,
};
use std::collections::BTreeMap;

/// The correction synthetic measurements are made with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// Factors on weights, KV cache, activations, overhead.
    pub factors: [f64; 4],
    /// Bytes added.
    pub additive_bytes: f64,
}

/// Stored bytes per weight of a quantization type (block overheads included).
fn bytes_per_weight(qtype: &str) -> f64 {
    match qtype {
        "I2_S" | "TL1" => 0.25,
        "TL2" => 5.0 / 24.0,
        "Q4_0" => 18.0 / 32.0,
        "Q8_0" => 34.0 / 32.0,
        "F16" => 2.0,
        _ => 4.0,
    }
}

/// The five synthetic shapes: (layers, hidden, heads, kv heads, ffn, vocab).
pub const SHAPES: [(u32, u64, u32, u32, u64, u64); 5] = [
    (4, 512, 8, 8, 1408, 8000),
    (8, 1024, 16, 4, 2816, 32000),
    (12, 1536, 12, 4, 4096, 32000),
    (16, 2048, 32, 8, 5632, 32002),
    (24, 2560, 20, 5, 6912, 128256),
];

/// A profile of synthetic shape `shape` (index into [`SHAPES`]) stored in `qtype`; the
/// embedding is F16 for the BitNet types (as in bitnet.cpp's conversions).
pub fn synthetic_profile(shape: usize, qtype: &str) -> ModelProfile {
    let (n_layers, hidden, n_heads, kv_heads, ffn, vocab) = SHAPES[shape % SHAPES.len()];
    let head_dim = (hidden / n_heads as u64) as u32;
    let kv_width = kv_heads as u64 * head_dim as u64;
    let bpw = bytes_per_weight(qtype);
    let bitnet = matches!(qtype, "I2_S" | "TL1" | "TL2");
    let embd_type = if bitnet { "F16" } else { qtype };
    let attn = 2 * hidden * hidden + 2 * hidden * kv_width;
    let ffn_params = 3 * hidden * ffn;
    let norms = 2 * hidden;
    let bytes = |elements: u64, per: f64| (elements as f64 * per).round() as u64;
    let layer = bytes(attn + ffn_params, bpw) + norms * 4;
    let embd = bytes(vocab * hidden, bytes_per_weight(embd_type));
    let mut by_type = BTreeMap::new();
    let mut add = |name: &str, tensors: u64, elements: u64, b: u64| {
        let t: &mut TypeStats = by_type
            .entry(name.parse().expect("a ggml type name"))
            .or_default();
        t.tensors += tensors;
        t.elements += elements;
        t.bytes += b;
    };
    add(
        qtype,
        7 * n_layers as u64,
        (attn + ffn_params) * n_layers as u64,
        bytes(attn + ffn_params, bpw) * n_layers as u64,
    );
    add(embd_type, 1, vocab * hidden, embd);
    add(
        "F32",
        2 * n_layers as u64 + 1,
        norms * n_layers as u64 + hidden,
        (norms * n_layers as u64 + hidden) * 4,
    );
    let tensor_data_bytes: u64 = by_type.values().map(|t| t.bytes).sum();
    let n_params: u64 = by_type.values().map(|t| t.elements).sum();
    let by_role = BTreeMap::from([
        (TensorRole::Embedding, embd),
        (TensorRole::Attention, bytes(attn, bpw) * n_layers as u64),
        (TensorRole::Ffn, bytes(ffn_params, bpw) * n_layers as u64),
        (TensorRole::Norm, (norms * n_layers as u64 + hidden) * 4),
    ]);
    ModelProfile {
        name: format!("synthetic-{shape}-{qtype}"),
        format: ModelFormat::Gguf,
        shape: ModelShape {
            architecture: if bitnet { "bitnet-b1.58" } else { "llama" }.into(),
            n_layers,
            hidden,
            n_heads,
            n_kv_heads: vec![kv_heads; n_layers as usize],
            head_dim_k: head_dim,
            head_dim_v: head_dim,
            ffn,
            vocab,
            ctx_train: 4096,
            tied_embeddings: true,
            sliding_window: None,
            sliding_layers: Vec::new(),
            experts: None,
            mla: None,
        },
        n_params,
        tensor_data_bytes,
        file_bytes: tensor_data_bytes + (1 << 20),
        dominant_type: qtype.parse().ok(),
        by_type,
        by_role,
        layer_bytes: vec![layer; n_layers as usize],
        layer_parts: Vec::new(),
        block_weights: Vec::new(),
        largest_tensor_bytes: embd.max(bytes(hidden * ffn, bpw)),
        largest_tensor_elements: (vocab * hidden).max(hidden * ffn),
        sequential_load_peak_bytes: 0,
        header: Default::default(),
        spans: None,
        repack_candidates: Default::default(),
        matmul_weights: Vec::new(),
        trailing_weights: Vec::new(),
        block_norms: None,
        fused_gate_up: false,
        fused_qkv: false,
        ungated_ffn: false,
        parallel_residual: false,
        notes: Vec::new(),
    }
}

/// A deterministic value in `[-1, 1)` from an integer (a SplitMix64 step).
pub fn unit_noise(i: u64) -> f64 {
    let z = predictor::rng::SplitMix64::from_state(i).next_u64();
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// `truth` applied to components, in bytes.
fn apply_truth(truth: &Truth, c: &Components) -> f64 {
    component_values(c)
        .iter()
        .zip(truth.factors)
        .map(|(v, f)| v * f)
        .sum::<f64>()
        + truth.additive_bytes
}

/// How synthetic peaks arise from the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peaks {
    /// The truth applied to the summed analytic components (what [`crate::fit::Model::Summed`]
    /// assumes); no phase figures in the record.
    Summed,
    /// The larger of the truth applied to the load and to the run phase (what
    /// [`crate::fit::Model::Phased`] assumes), with `load` and `prefill` phase figures.
    Phased,
}

/// A completed CPU record for `profile` at `config`, whose measured peak is `truth`
/// applied to the analytic components (as `peaks` says) times `1 + noise`, floored at
/// 1 MiB.
pub fn synthetic_record(
    profile: &ModelProfile,
    config: &RunConfig,
    truth: &Truth,
    noise: f64,
    peaks: Peaks,
) -> Record {
    let backend = "memcal-candle";
    // The planning case (the prompt fills the context), then 4 decoded tokens, as the
    // record says.
    let config = &RunConfig {
        prompt: None,
        decode: 4,
        ..config.clone()
    };
    let components = device_components(profile, config, backend).unwrap_or_default();
    let scaled = |bytes: f64| (bytes * (1.0 + noise)).max(1048576.0).round() as u64;
    let (peak, phases) = match (
        peaks,
        phase_components(profile, config, backend, &components),
    ) {
        (Peaks::Phased, Some((load, run))) => {
            let (l, r) = (
                scaled(apply_truth(truth, &load)),
                scaled(apply_truth(truth, &run)),
            );
            let phase = |name: &str, peak: u64| PhaseMeasure {
                name: name.into(),
                peak_rss_bytes: peak,
                ..PhaseMeasure::default()
            };
            (l.max(r), vec![phase("load", l), phase("prefill", r)])
        }
        _ => (scaled(apply_truth(truth, &components)), Vec::new()),
    };
    let hash = format!("{:016x}", profile.file_bytes);
    Record {
        schema: RECORD_SCHEMA_VERSION,
        key: Record::make_key(backend, &hash, config, 0, 4),
        timestamp: 0,
        backend: backend.into(),
        machine: Machine {
            fingerprint: "synthetic-machine".into(),
            ..Machine::default()
        },
        software: Software {
            git_commit: "synthetic".into(),
            ..Software::default()
        },
        model: ModelFile {
            path: format!("{}.gguf", profile.name),
            bytes: profile.file_bytes,
            hash,
        },
        profile: profile.clone(),
        config: config.clone(),
        prompt_tokens: 0,
        decode_tokens: 4,
        measured: Measured {
            peak_rss_bytes: peak,
            phases,
            ..Measured::default()
        },
        predicted: Predicted {
            host: components,
            gpu: None,
        },
        status: Status::Ok,
        message: None,
        engine: None,
        engine_key: None,
        role: Default::default(),
        device_name: None,
        workload: None,
    }
}

/// The configurations of a synthetic sweep: contexts x batches x micro-batches.
pub fn synthetic_configs() -> Vec<RunConfig> {
    let mut out = Vec::new();
    for ctx in [256u32, 512, 1024, 2048, 4096] {
        for batch in [1u32, 2, 4] {
            for ubatch in [128u32, 512] {
                out.push(RunConfig {
                    device: Device::Cpu,
                    batch,
                    ctx,
                    ubatch,
                    kv_dtype: KvDtype::F16,
                    gpu_layers: None,
                    margin_pct: 5.0,
                    ..RunConfig::default()
                });
            }
        }
    }
    out
}

/// Records of every synthetic shape and configuration for one quantization, with
/// relative noise of amplitude `noise` (0: exact).
pub fn synthetic_records(qtype: &str, truth: &Truth, noise: f64, peaks: Peaks) -> Vec<Record> {
    let mut out = Vec::new();
    for shape in 0..SHAPES.len() {
        let profile = synthetic_profile(shape, qtype);
        for config in synthetic_configs() {
            let n = unit_noise(out.len() as u64) * noise;
            out.push(synthetic_record(&profile, &config, truth, n, peaks));
        }
    }
    out
}

/// [`synthetic_records`] with summed peaks, as fit samples.
pub fn synthetic_group(qtype: &str, truth: &Truth, noise: f64) -> Vec<Sample> {
    synthetic_samples(&synthetic_records(qtype, truth, noise, Peaks::Summed))
}

/// Records as fit samples.
pub fn synthetic_samples(records: &[Record]) -> Vec<Sample> {
    records
        .iter()
        .filter_map(|r| sample_of(r, "synthetic.jsonl"))
        .collect()
}
