//! llama.cpp on one machine: the host's buffers, and with `--gpu-layers` the blocks
//! offloaded to one GPU.

use super::build::Family;
use super::context::{buffer, config_notes, graphs_of, process_bytes, reserved_compute};
use super::graph::reserved_graph;
use super::kv_cache::{kv_bytes, kv_geometry};
use super::live_set::touched_bytes;
use super::model::{extra_buffer_bytes, read_buffers_retained, unmapped_tail};
use super::repack::ExtraBuffers;
use super::server;
use crate::backend::offload;
use crate::buffer::BufferKind;
use crate::components::{Components, Estimate};
use crate::config::RunConfig;
use crate::error::Result;
use crate::profile::ModelProfile;

const F32: u64 = 4;

/// The analytic estimate of a llama.cpp-family engine on one machine (the configuration
/// validated, the profile checked).
pub fn estimate(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
    let n = profile.shape.n_layers as usize;
    let g = config.gpu_layers_for(profile.shape.n_layers) as usize;
    let geo = kv_geometry(fam, profile, config);
    let (k_host, v_host) = kv_bytes(profile, config, &geo, 0..n - g);
    let (k_gpu, v_gpu) = kv_bytes(profile, config, &geo, n - g..n);
    let split = offload::split(profile, g as u32);
    let extra = if g == 0 {
        extra_buffer_bytes(fam, profile, config)
    } else {
        ExtraBuffers::default()
    };
    let repack = extra.repack;

    // Model buffers as the engine names them.
    let mut buffers = Vec::new();
    // Loading maps and populates the whole file and copies the moved tensors out of it;
    // then the tail that moved is unmapped, before the cache and compute buffers exist.
    let tail = if g == 0 {
        unmapped_tail(fam, profile, config)
    } else {
        0
    };
    let host_weights = if config.mmap {
        // The mapped range stays populated; repacked copies come on top.
        let mapped = profile.tensor_data_bytes - tail;
        buffers.push(buffer(BufferKind::Model, "CPU_Mapped", mapped));
        mapped + repack + extra.amx
    } else {
        let moved = extra.moved_from_model();
        buffers.push(buffer(
            BufferKind::Model,
            "CPU",
            split.host.saturating_sub(moved),
        ));
        split.host - moved.min(split.host) + repack + extra.amx
    };
    if extra.amx > 0 {
        buffers.push(buffer(BufferKind::Model, "AMX", extra.amx));
    }
    if repack > 0 {
        buffers.push(buffer(BufferKind::Model, "CPU_REPACK", repack));
    }
    buffers.push(buffer(BufferKind::Kv, "CPU", k_host + v_host));
    buffers.push(buffer(BufferKind::KvK, "CPU", k_host));
    buffers.push(buffer(BufferKind::KvV, "CPU", v_host));
    let outputs_reserved = config.batch.max(1) as u64;
    buffers.push(buffer(
        BufferKind::Output,
        "CPU",
        outputs_reserved * profile.shape.vocab * F32,
    ));
    let reserved = reserved_compute(fam, profile, config, &geo, g as u32);
    buffers.push(buffer(BufferKind::Compute, "CPU", reserved));
    // A server's prompt cache and checkpoints: copies of KV rows in host RAM.
    let cache = server::cache_bytes(fam, profile, config);
    if config.serve.is_some() {
        buffers.push(buffer(BufferKind::PromptCache, "CPU", cache));
    }

    let touched = graphs_of(fam, config, &geo)
        .into_iter()
        .map(|gr| touched_bytes(fam, profile, config, gr, reserved_graph(config, &geo)))
        .max()
        .unwrap_or(0);
    // One output row per sequence is written.
    let logits = outputs_reserved * profile.shape.vocab * F32;
    let fixed = process_bytes(fam, profile, config);

    let mut notes = config_notes(fam, profile, config);
    if fam.extra_buffers.is_some() && config.repack && g == 0 {
        let isa = config.cpu_isa();
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        let mut what = format!("{:.1} MiB repacked (CPU_REPACK)", mib(extra.repack));
        if extra.amx > 0 {
            what.push_str(&format!(", {:.1} MiB in the AMX buffer", mib(extra.amx)));
        }
        notes.push(format!(
            "ISA {isa}{}: {what}; --isa plans for another CPU",
            if config.isa.is_none() {
                " (the measured build's)"
            } else {
                ""
            }
        ));
    }
    let (host, gpu) = if config.device.is_cuda() {
        notes.push(format!(
            "{} on CUDA is analytic only: no GPU records of this engine yet",
            fam.name
        ));
        let host = Components {
            weights: if config.mmap {
                profile.tensor_data_bytes
            } else {
                split.host
            },
            kv_cache: k_host + v_host + cache,
            activations: touched + logits,
            overhead: fixed,
            headroom: 0,
        };
        let gpu = Components {
            weights: split.gpu,
            kv_cache: k_gpu + v_gpu,
            activations: if g > 0 { reserved } else { 0 },
            overhead: crate::backend::reference::Constants::memcal_candle().cuda_context_bytes,
            headroom: 0,
        };
        (host, Some(gpu))
    } else {
        // The load's peak (the whole file and the copies) where it exceeds the run's.
        let load_excess = tail.saturating_sub(k_host + v_host + touched + logits);
        let host = Components {
            weights: host_weights,
            kv_cache: k_host + v_host + cache,
            activations: touched + logits,
            overhead: fixed + load_excess + read_buffers_retained(fam, profile, config),
            headroom: 0,
        };
        (host, None)
    };
    let with_headroom = |c: Components| c.with_headroom(config.margin_pct);
    Ok(Estimate {
        backend: fam.name.to_string(),
        config: config.clone(),
        gpu_layers: g as u32,
        host: with_headroom(host),
        gpu: gpu.map(with_headroom),
        calibration: None,
        notes,
        buffers,
        devices: Vec::new(),
    })
}
