//! llama.cpp on one CPU machine: the host's buffers. (GPUs, one or several, are
//! [`super::gpu`]'s; RPC workers [`super::split`]'s.)

use super::context::{config_notes, graphs_of, process_bytes, reserved_compute};
use super::cparams::Cparams;
use super::graph::reserved_graph;
use super::kv_cache::kv_bytes;
use super::live_set::touched_bytes;
use super::model::{extra_buffer_bytes, read_buffers_retained, unmapped_tail};
use super::repack::ExtraBuffers;
use super::server;
use crate::buffer::{BufferKind, EngineBuffer};
use crate::components::{Components, Estimate};
use crate::error::Result;

const F32: u64 = 4;

/// The host's model buffers as the engine names them, and the weight bytes they keep
/// resident: the mapped file (less the tail given back) or the `CPU` buffer, and the
/// extra buffers' copies.
fn model_buffers(cp: &Cparams, extra: &ExtraBuffers, tail: u64) -> (Vec<EngineBuffer>, u64) {
    let mut buffers = Vec::new();
    let repack = extra.repack;
    let host_weights = if cp.config.mmap {
        // The mapped range stays populated; repacked copies come on top.
        let mapped = cp.profile.tensor_data_bytes - tail;
        buffers.push(EngineBuffer::new(BufferKind::Model, "CPU_Mapped", mapped));
        mapped + repack + extra.amx
    } else {
        let moved = extra.moved_from_model();
        buffers.push(EngineBuffer::new(
            BufferKind::Model,
            "CPU",
            cp.profile.tensor_data_bytes.saturating_sub(moved),
        ));
        cp.profile.tensor_data_bytes.saturating_sub(moved) + repack + extra.amx
    };
    if extra.amx > 0 {
        buffers.push(EngineBuffer::new(BufferKind::Model, "AMX", extra.amx));
    }
    if repack > 0 {
        buffers.push(EngineBuffer::new(
            BufferKind::Model,
            super::model::repack_buffer_name(cp),
            repack,
        ));
    }
    (buffers, host_weights)
}

/// The note naming the ISA planned for and what it moves into the extra buffers.
fn isa_note(cp: &Cparams, extra: &ExtraBuffers) -> String {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let mut what = format!("{:.1} MiB repacked (CPU_REPACK)", mib(extra.repack));
    if extra.amx > 0 {
        what.push_str(&format!(", {:.1} MiB in the AMX buffer", mib(extra.amx)));
    }
    format!(
        "ISA {}{}: {what}; --isa plans for another CPU",
        cp.isa,
        if cp.config.isa.is_none() {
            " (the measured build's)"
        } else {
            ""
        }
    )
}

/// What one machine's estimate adds up, for its components.
struct Sizes {
    kv_host: u64,
    /// The server's prompt cache.
    cache: u64,
    /// Compute bytes the run's graphs touch.
    touched: u64,
    logits: u64,
    /// The process's fixed part.
    fixed: u64,
    /// Weight bytes resident on the host with every block there.
    host_weights: u64,
    /// The mapped file's tail given back after loading.
    tail: u64,
}

/// The host's components.
fn components(cp: &Cparams, s: &Sizes) -> Components {
    // The load's peak (the whole file and the copies) where it exceeds the run's.
    let load_excess = s.tail.saturating_sub(s.kv_host + s.touched + s.logits);
    Components {
        weights: s.host_weights,
        kv_cache: s.kv_host + s.cache,
        activations: s.touched + s.logits,
        overhead: s.fixed + load_excess + read_buffers_retained(cp),
        headroom: 0,
    }
}

/// The analytic estimate of a llama.cpp-family engine on one machine (the configuration
/// validated, the profile checked).
pub fn estimate(cp: &Cparams) -> Result<Estimate> {
    let (fam, profile, config) = (cp.build, cp.profile, cp.config);
    let n = profile.shape.n_layers as usize;
    let (k_host, v_host) = kv_bytes(profile, config, &cp.kv, 0..n);
    let extra = extra_buffer_bytes(cp);
    // Loading maps and populates the whole file and copies the moved tensors out of it;
    // then the tail that moved is unmapped, before the cache and compute buffers exist.
    let tail = unmapped_tail(cp);
    let (mut buffers, host_weights) = model_buffers(cp, &extra, tail);
    buffers.push(EngineBuffer::new(BufferKind::Kv, "CPU", k_host + v_host));
    buffers.push(EngineBuffer::new(BufferKind::KvK, "CPU", k_host));
    buffers.push(EngineBuffer::new(BufferKind::KvV, "CPU", v_host));
    // One output row per sequence is reserved, and written.
    let logits = cp.n_seq * profile.shape.vocab * F32;
    buffers.push(EngineBuffer::new(BufferKind::Output, "CPU", logits));
    let reserved = reserved_compute(cp);
    buffers.push(EngineBuffer::new(BufferKind::Compute, "CPU", reserved));
    // A server's prompt cache and checkpoints: copies of KV rows in host RAM.
    let cache = server::cache_bytes(cp);
    if config.serve.is_some() {
        buffers.push(EngineBuffer::new(BufferKind::PromptCache, "CPU", cache));
    }
    let touched = graphs_of(cp)
        .into_iter()
        .map(|gr| touched_bytes(cp, gr, reserved_graph(cp)))
        .max()
        .unwrap_or(0);
    let fixed = process_bytes(cp);
    let mut notes = config_notes(cp);
    if fam.extra_buffers.is_some() && config.repack {
        notes.push(isa_note(cp, &extra));
    }
    let sizes = Sizes {
        kv_host: k_host + v_host,
        cache,
        touched,
        logits,
        fixed,
        host_weights,
        tail,
    };
    let host = components(cp, &sizes);
    Ok(Estimate {
        backend: fam.name.to_string(),
        config: config.clone(),
        gpu_layers: 0,
        host: host.with_headroom(config.margin_pct),
        gpu: None,
        calibration: None,
        notes,
        buffers,
        devices: Vec::new(),
    })
}
