//! The engines' own memory reports held against the analytic components: for every
//! record whose engine printed its buffers (llama.cpp's `-lv 4` lines, bitnet.cpp's
//! default log), the predicted size of each buffer beside the reported one.

use crate::records::Sample;
use crate::stats::{error_stats, Outcome};
use predictor::backend::Backend;
use predictor::calibrate::table::ErrorStats;
use std::collections::BTreeMap;

/// The components compared, in report order, with what they mean. `compute_dense` is the
/// `compute` buffer of the records whose model has no experts (where the predictor replays
/// ggml's allocator over the graph).
pub const COMPONENTS: [(&str, &str); 6] = [
    (
        "model",
        "model buffers (all buffer types: mapped, CPU, CPU_REPACK)",
    ),
    ("kv", "KV cache buffers (full and sliding-window caches)"),
    ("kv_k", "K part of the KV cache"),
    ("output", "output (logits) buffer"),
    (
        "compute",
        "compute buffer as reserved (the engine's worst case)",
    ),
    (
        "compute_dense",
        "the same, models without experts (for llama.cpp: ggml's allocator replayed)",
    ),
];

/// Predicted against reported sizes of one component over a backend's records.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentCheck {
    /// Component name (see [`COMPONENTS`]).
    pub component: &'static str,
    /// Error figures of the prediction against the engine's figure.
    pub stats: ErrorStats,
}

/// Compares the predicted buffers of every sample of `backend` with what the engine
/// reported (each process of a split with its own buffers); components no record reported
/// are left out.
pub fn component_checks(backend: &str, samples: &[Sample]) -> Vec<ComponentCheck> {
    let Ok(engine) = backend.parse::<Backend>() else {
        return Vec::new();
    };
    let mut by: BTreeMap<&'static str, Vec<Outcome>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.group.backend == backend) {
        if s.engine_buffers.is_empty() {
            continue;
        }
        let Ok(est) = engine.analytic(&s.profile, &s.config) else {
            continue;
        };
        // A split's processes: a worker's buffers are the ones the client placed on it;
        // the client's are its CPU ones. The KV summary lines name no device there.
        let split = s.config.split.is_some();
        let predicted_buffers = match &s.device_name {
            Some(d) => match est.device(d) {
                Some(d) => d.buffers.clone(),
                None => continue,
            },
            None => est.buffers.clone(),
        };
        let reported: Vec<predictor::buffer::EngineBuffer> = s
            .engine_buffers
            .iter()
            .filter(|b| s.device_name.is_some() || !b.buffer.starts_with("RPC"))
            .cloned()
            .collect();
        let dense = s.profile.shape.experts.is_none_or(|e| e.total == 0);
        for (c, _) in COMPONENTS {
            if split && matches!(c, "kv_k" | "kv_v") {
                continue;
            }
            let buffer = match c {
                "compute_dense" if dense => "compute",
                "compute_dense" => continue,
                c => c,
            };
            let sum = |bs: &[predictor::buffer::EngineBuffer]| -> Option<u64> {
                let v: Vec<u64> = bs
                    .iter()
                    .filter(|b| b.component.as_str() == buffer)
                    .map(|b| b.bytes)
                    .collect();
                (!v.is_empty()).then(|| v.iter().sum())
            };
            if let (Some(reported), Some(predicted)) = (sum(&reported), sum(&predicted_buffers)) {
                if reported > 0 {
                    by.entry(c).or_default().push(Outcome {
                        predicted: predicted as f64,
                        measured: reported as f64,
                    });
                }
            }
        }
    }
    // The dense-only row only where some records have experts.
    if by.get("compute_dense").map(Vec::len) == by.get("compute").map(Vec::len) {
        by.remove("compute_dense");
    }
    COMPONENTS
        .iter()
        .filter_map(|(c, _)| {
            by.get(c).map(|o| ComponentCheck {
                component: c,
                stats: error_stats(o),
            })
        })
        .collect()
}
