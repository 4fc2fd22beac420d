//! Text and JSON rendering of estimates and plans.

use crate::cli_args::human_bytes;
use predictor::components::{Components, Estimate};
use predictor::profile::ModelProfile;
use serde::Serialize;
use std::fmt::Write as _;

/// The model fields every JSON answer repeats.
#[derive(Serialize)]
pub struct ModelSummary<'a> {
    name: &'a str,
    format: predictor::profile::ModelFormat,
    architecture: &'a str,
    dominant_type: &'a str,
    n_params: u64,
    tensor_data_bytes: u64,
    n_layers: u32,
}

impl<'a> ModelSummary<'a> {
    /// Summarises a profile.
    pub fn of(p: &'a ModelProfile) -> ModelSummary<'a> {
        ModelSummary {
            name: &p.name,
            format: p.format,
            architecture: &p.architecture,
            dominant_type: &p.dominant_type,
            n_params: p.n_params,
            tensor_data_bytes: p.tensor_data_bytes,
            n_layers: p.n_layers,
        }
    }
}

/// One device's components with their sums.
#[derive(Serialize)]
pub struct DeviceJson {
    #[serde(flatten)]
    components: Components,
    used: u64,
    total: u64,
}

impl DeviceJson {
    fn of(c: &Components) -> DeviceJson {
        DeviceJson {
            components: *c,
            used: c.used(),
            total: c.total(),
        }
    }
}

/// Components per device, in bytes.
#[derive(Serialize)]
pub struct ComponentsJson {
    host: DeviceJson,
    gpu: Option<DeviceJson>,
}

impl ComponentsJson {
    /// The components of an estimate.
    pub fn of(e: &Estimate) -> ComponentsJson {
        ComponentsJson {
            host: DeviceJson::of(&e.host),
            gpu: e.gpu.as_ref().map(DeviceJson::of),
        }
    }
}

/// A one-line description of the model.
pub fn model_line(p: &ModelProfile) -> String {
    format!(
        "{} ({:?}, {}, {}, {:.2} B params, {} of tensors, {} layers)",
        p.name,
        p.format,
        p.architecture,
        p.dominant_type,
        p.n_params as f64 / 1e9,
        human_bytes(p.tensor_data_bytes),
        p.n_layers
    )
}

/// `on` or `off`.
fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// A line of the component table: its label and how to read it from the components.
type Row = (&'static str, fn(&Components) -> u64);

/// A readable table of an estimate.
pub fn estimate_text(p: &ModelProfile, e: &Estimate, uncalibrated: bool) -> String {
    let c = &e.config;
    let mut s = String::new();
    let _ = writeln!(s, "backend:     {}", e.backend);
    let _ = writeln!(s, "model:       {}", model_line(p));
    let _ = writeln!(
        s,
        "config:      {}, batch {}, context {}, micro-batch {}, KV {}, flash attention {}, mmap {}, repack {}, prompt {}, decode {}, {} of {} layers on GPU, margin {}%",
        c.device, c.batch, c.ctx, c.effective_ubatch(), c.kv_dtype, c.flash_attn,
        on_off(c.mmap), on_off(c.repack),
        c.prompt.map_or_else(|| format!("{} (fills the context)", c.prompt_tokens()), |p| p.to_string()),
        c.decode, e.gpu_layers, p.n_layers, c.margin_pct
    );
    match (&e.calibration, uncalibrated) {
        (_, true) => {
            let _ = writeln!(
                s,
                "calibration: none (--uncalibrated: pure analytic numbers)"
            );
        }
        (Some(cal), false) => {
            let _ = writeln!(
                s,
                "calibration: {}{} (held-out p95 error {:.1}%)",
                cal.name,
                if cal.exact_match {
                    ""
                } else {
                    " [nearest fallback]"
                },
                cal.expected_p95_error * 100.0
            );
        }
        (None, false) => {
            let _ = writeln!(s, "calibration: no table matched (see notes)");
        }
    }
    let _ = writeln!(s);
    let gpu = e.gpu;
    let _ = writeln!(
        s,
        "{:<13} {:>14} {:>14}",
        "component",
        "host",
        if gpu.is_some() { "gpu" } else { "" }
    );
    let rows: [Row; 7] = [
        ("weights", |c| c.weights),
        ("kv cache", |c| c.kv_cache),
        ("activations", |c| c.activations),
        ("overhead", |c| c.overhead),
        ("= predicted", |c| c.used()),
        ("headroom", |c| c.headroom),
        ("= plan for", |c| c.total()),
    ];
    for (name, f) in rows {
        let g = gpu.as_ref().map(|g| human_bytes(f(g))).unwrap_or_default();
        let _ = writeln!(s, "{:<13} {:>14} {:>14}", name, human_bytes(f(&e.host)), g);
    }
    for n in p.notes.iter().chain(e.notes.iter()) {
        let _ = writeln!(s, "note: {n}");
    }
    s
}
