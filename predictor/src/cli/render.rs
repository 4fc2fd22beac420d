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
            architecture: &p.shape.architecture,
            dominant_type: p.dominant_name(),
            n_params: p.n_params,
            tensor_data_bytes: p.tensor_data_bytes,
            n_layers: p.shape.n_layers,
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
pub struct ComponentsJson<'a> {
    host: DeviceJson,
    gpu: Option<DeviceJson>,
    /// Each device of a split (RPC workers, GPUs), by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    devices: Vec<SplitDeviceJson<'a>>,
}

/// One device of a split: where it sits in the model and what it needs.
#[derive(Serialize)]
pub struct SplitDeviceJson<'a> {
    name: String,
    kind: predictor::config::SplitDeviceKind,
    first_layer: u32,
    n_layers: u32,
    output_layer: bool,
    #[serde(flatten)]
    memory: DeviceJson,
    calibration: Option<predictor::components::CalibrationInfo>,
    /// The buffers the engine prints for this device, under its names.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    buffers: &'a [predictor::buffer::EngineBuffer],
    /// What the device holds beyond them (a GPU's context, workspaces, memory pool).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    runtime: &'a [predictor::components::RuntimeMemory],
}

impl<'a> ComponentsJson<'a> {
    /// The components of an estimate.
    pub fn of(e: &'a Estimate) -> ComponentsJson<'a> {
        ComponentsJson {
            host: DeviceJson::of(&e.host),
            gpu: e.gpu.as_ref().map(DeviceJson::of),
            devices: e
                .devices
                .iter()
                .map(|d| SplitDeviceJson {
                    name: d.name.clone(),
                    kind: d.kind,
                    first_layer: d.first_layer,
                    n_layers: d.n_layers,
                    output_layer: d.output_layer,
                    memory: DeviceJson::of(&d.memory),
                    calibration: d.calibration.clone(),
                    buffers: &d.buffers,
                    runtime: &d.runtime,
                })
                .collect(),
        }
    }
}

/// A one-line description of the model.
pub fn model_line(p: &ModelProfile) -> String {
    format!(
        "{} ({:?}, {}, {}, {:.2} B params, {} of tensors, {} layers)",
        p.name,
        p.format,
        p.shape.architecture,
        p.dominant_name(),
        p.n_params as f64 / 1e9,
        human_bytes(p.tensor_data_bytes),
        p.shape.n_layers
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

/// The component table: one column per process or device (the host; the GPU; with a
/// split, the client and each device by name, with the blocks each holds).
pub fn component_table(p: &ModelProfile, e: &Estimate) -> String {
    let mut s = String::new();
    let mut cols: Vec<(String, Components)> = Vec::new();
    let split = !e.devices.is_empty();
    let remote = e.devices.iter().any(|d| !d.kind.is_gpu());
    cols.push((
        if remote {
            predictor::config::split::CLIENT.to_string()
        } else {
            "host".to_string()
        },
        e.host,
    ));
    // The GPUs' sum, unless one device column already says it.
    if let Some(g) = e.gpu.filter(|_| e.devices.len() != 1 || remote) {
        cols.push(("gpu".into(), g));
    }
    for d in &e.devices {
        cols.push((d.name.clone(), d.memory));
    }
    let _ = write!(s, "{:<13}", "component");
    for (name, _) in &cols {
        let _ = write!(s, " {name:>14}");
    }
    s.push('\n');
    if split {
        let client_blocks = p
            .shape
            .n_layers
            .saturating_sub(e.devices.iter().map(|d| d.n_layers).sum());
        let _ = write!(
            s,
            "{:<13} {:>14}",
            "blocks",
            layer_span(0, client_blocks, false)
        );
        for d in &e.devices {
            let _ = write!(
                s,
                " {:>14}",
                layer_span(d.first_layer, d.n_layers, d.output_layer)
            );
        }
        s.push('\n');
    }
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
        let _ = write!(s, "{name:<13}");
        for (_, c) in &cols {
            let _ = write!(s, " {:>14}", human_bytes(f(c)));
        }
        s.push('\n');
    }
    s
}

/// Blocks `first..first+n` (and the output layer), as a short label.
fn layer_span(first: u32, n: u32, output: bool) -> String {
    let blocks = match n {
        0 => "-".to_string(),
        1 => format!("{first}"),
        _ => format!("{first}-{}", first + n - 1),
    };
    if output {
        format!("{blocks} +out")
    } else {
        blocks
    }
}

/// A readable table of an estimate.
pub fn estimate_text(p: &ModelProfile, e: &Estimate, uncalibrated: bool) -> String {
    let c = &e.config;
    let mut s = String::new();
    let _ = writeln!(s, "backend:     {}", e.backend);
    let _ = writeln!(s, "model:       {}", model_line(p));
    let placement = match &c.split {
        Some(split) => format!(
            "{} of {} layers (blocks and the output layer) on the split's {} devices",
            e.gpu_layers,
            p.shape.n_layers + 1,
            split.devices.len()
        ),
        // llama.cpp counts the output layer as one more (`offloaded 33/33 layers`).
        None if !e.devices.is_empty() => format!(
            "{} of {} layers (blocks and the output layer) on GPU",
            e.gpu_layers,
            p.shape.n_layers + 1
        ),
        None => format!("{} of {} layers on GPU", e.gpu_layers, p.shape.n_layers),
    };
    let deployment = match &c.serve {
        Some(sv) => format!(
            "served by llama-server ({} slots, KV {}, --cache-ram {}, {}), ",
            c.batch,
            if sv.kv_unified { "unified" } else { "per slot" },
            sv.cache_ram_mib,
            sv.requests_per_slot
                .map_or("a long-running server".to_string(), |r| format!(
                    "{r} request(s) per slot"
                ))
        ),
        None => String::new(),
    };
    let _ = writeln!(
        s,
        "config:      {deployment}{}, batch {}, context {}, micro-batch {}, KV {}, flash attention {}, mmap {}, repack {}, prompt {}, decode {}, {placement}, margin {}%",
        c.device, c.batch, c.ctx, c.effective_ubatch(), c.kv_dtype, c.flash_attn,
        on_off(c.mmap), on_off(c.repack),
        c.prompt.map_or_else(|| format!("{} (fills the context)", c.prompt_tokens()), |p| p.to_string()),
        c.decode, c.margin_pct
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
    s.push_str(&component_table(p, e));
    s.push_str(&buffer_lines(e));
    for n in p.notes.iter().chain(e.notes.iter()) {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

/// The engine's buffers as its log prints them (`CUDA0 model buffer size = ... MiB`), the
/// host's then each device's, and what each device holds beyond them.
fn buffer_lines(e: &Estimate) -> String {
    use predictor::buffer::BufferKind;
    let mut s = String::new();
    let all = e
        .buffers
        .iter()
        .chain(e.devices.iter().flat_map(|d| d.buffers.iter()));
    let printed: Vec<_> = all
        .filter(|b| !matches!(b.component, BufferKind::KvK | BufferKind::KvV))
        .collect();
    if printed.is_empty() {
        return s;
    }
    let _ = writeln!(s, "\nbuffers (as the engine's log names them):");
    for b in printed {
        let kind = match b.component {
            BufferKind::Kv => "KV",
            BufferKind::PromptCache => "prompt cache",
            k => k.as_str(),
        };
        let _ = writeln!(
            s,
            "  {:>12} {kind:<7} buffer size = {:>10.2} MiB",
            b.buffer,
            b.bytes as f64 / (1u64 << 20) as f64
        );
    }
    for d in e.devices.iter().filter(|d| !d.runtime.is_empty()) {
        let _ = writeln!(s, "beyond the buffers on {}:", d.name);
        for r in &d.runtime {
            let _ = writeln!(
                s,
                "  {:<20} {:>12} +/- {}  ({})",
                r.name,
                human_bytes(r.bytes),
                human_bytes(r.uncertainty_bytes),
                r.basis
            );
        }
    }
    s
}
