//! Calibration applied on top of an engine's analytic estimate.

use super::table_set::{TableMatch, TableSet};
use crate::backend::Backend;
use crate::components::headroom;
use crate::components::{CalibrationInfo, Components, Estimate};
use crate::config::{DeviceKind, Role, RunConfig, SplitDeviceKind};
use crate::error::Result;
use crate::profile::ModelProfile;
use crate::weight_type::WeightType;

/// Extra headroom, in percent, when the table is a fallback for another quantization.
pub const FALLBACK_EXTRA_HEADROOM_PCT: f64 = 5.0;
/// Headroom, in percent, when no table exists for the device kind at all.
pub const UNCALIBRATED_HEADROOM_PCT: f64 = 15.0;

/// Stored bits per weight of type `weight_type` in a profile (0 when absent).
pub fn bits_per_weight(profile: &ModelProfile, weight_type: Option<WeightType>) -> f64 {
    weight_type
        .and_then(|t| profile.by_type.get(&t))
        .filter(|s| s.elements > 0)
        .map(|s| s.bytes as f64 * 8.0 / s.elements as f64)
        .unwrap_or(0.0)
}

/// Headroom percent a table asks for: its own figure for an exact match, doubled plus
/// [`FALLBACK_EXTRA_HEADROOM_PCT`] for a fallback.
fn table_headroom_pct(m: &TableMatch<'_>) -> f64 {
    if m.exact {
        m.table.headroom_pct
    } else {
        2.0 * m.table.headroom_pct + FALLBACK_EXTRA_HEADROOM_PCT
    }
}

/// Corrects one device's components with a table and sets its headroom: the margin plus
/// the table's error figure. A margin of 0 asks for the calibrated peak itself: no
/// headroom at all.
fn correct(c: &Components, m: Option<&TableMatch<'_>>, margin_pct: f64) -> Components {
    let (mut out, extra) = match m {
        Some(m) => (m.table.correction.apply(c), table_headroom_pct(m)),
        None => (*c, UNCALIBRATED_HEADROOM_PCT),
    };
    let pct = if margin_pct == 0.0 {
        0.0
    } else {
        margin_pct + extra
    };
    out.headroom = headroom(out.used(), pct);
    out
}

/// The calibrated estimate for the reference runtime with the given tables.
pub fn calibrated(
    profile: &ModelProfile,
    config: &RunConfig,
    tables: &TableSet,
) -> Result<Estimate> {
    calibrated_for(Backend::Memcal, profile, config, tables)
}

/// The calibrated estimate of `backend`'s memory.
///
/// The table is looked up by exact backend (never another engine's table): the one for
/// (backend, device kind, weight type), else the backend's table over all its weight
/// types, else its table of the nearest bits per weight, each fallback named in `notes`
/// with widened headroom. It corrects the components of the device the run is measured
/// on (host RAM on CPU, the GPU on CUDA); on CUDA the host side is corrected with the
/// backend's CPU table where one exists. Headroom is the configuration's margin plus the
/// table's held-out error figure; with no table at all, the analytic estimate with
/// [`UNCALIBRATED_HEADROOM_PCT`] more, and a note saying so.
pub fn calibrated_for(
    backend: Backend,
    profile: &ModelProfile,
    config: &RunConfig,
    tables: &TableSet,
) -> Result<Estimate> {
    let mut est = backend.analytic(profile, config)?;
    // Recomputed from the tensor bytes, so profiles stored by older versions (whose
    // dominant_type followed another rule) find the same table.
    let q_type = profile.weight_type();
    let q = q_type.as_ref().map_or("", WeightType::name);
    let bpw = bits_per_weight(profile, q_type);
    let kind = config.device.kind();
    let name = backend.name();
    let role = Role::of_client(config);
    let main = tables.find(name, role, kind, q, bpw);
    let host_table = if config.device.is_cuda() {
        tables.find(name, role, DeviceKind::Cpu, q, bpw)
    } else {
        main.clone()
    };
    let margin = config.margin_pct;
    est.host = correct(&est.host, host_table.as_ref(), margin);
    est.gpu = est.gpu.map(|g| correct(&g, main.as_ref(), margin));
    match &main {
        Some(m) => {
            if let Some(n) = &m.note {
                est.notes.push(n.clone());
            }
            est.calibration = Some(info(m));
        }
        None => est.notes.push(uncalibrated_note(name, role, kind)),
    }
    if config.device.is_cuda() && host_table.as_ref().is_none_or(|m| !m.exact) {
        est.notes
            .push("host side on CUDA is not calibrated for this quantization".into());
    }
    // Each device of a split: an RPC worker's process by the rpc-server tables, a GPU by
    // the backend's CUDA tables.
    let mut device_notes = Vec::new();
    for d in est.devices.iter_mut() {
        let (role, kind) = match d.kind {
            SplitDeviceKind::Rpc => (Role::RpcServer, DeviceKind::Cpu),
            SplitDeviceKind::Cuda => (Role::Cli, DeviceKind::Cuda),
            SplitDeviceKind::Rocm => (Role::Cli, DeviceKind::Rocm),
        };
        let m = tables.find(name, role, kind, q, bpw);
        d.memory = correct(&d.memory, m.as_ref(), margin);
        d.calibration = m.as_ref().map(info);
        if m.is_none() {
            device_notes.push(uncalibrated_note(name, role, kind));
        }
    }
    device_notes.dedup();
    // A GPU split's devices share the client's (CUDA) tables: their note is said once.
    device_notes.retain(|n| !est.notes.contains(n));
    est.notes.extend(device_notes);
    Ok(est)
}

fn info(m: &TableMatch<'_>) -> CalibrationInfo {
    CalibrationInfo {
        name: m.table.name.clone(),
        exact_match: m.exact,
        expected_p95_error: m.table.validation.p95_abs_rel,
        note: m.note.clone(),
    }
}

fn uncalibrated_note(backend: &str, role: Role, kind: DeviceKind) -> String {
    let who = if role.is_cli() {
        backend.to_string()
    } else {
        format!("{backend} ({role})")
    };
    format!(
        "no calibration table for {who} on {kind}: analytic estimate with \
         {UNCALIBRATED_HEADROOM_PCT}% extra headroom (uncalibrated)"
    )
}
