//! llama.cpp's context (`llama-context.cpp`): the compute buffer it reserves, the graphs
//! of a run or a served workload, the process's fixed part (binary, threads, vocabulary,
//! a server's slots) and the notes every estimate of the family carries.

use super::build::Family;
use super::compute_buffer::{self, kv_rotation};
use super::graph::{reserved_graph, run_graphs, Graph};
use super::graph_build::WorkerSplit;
use super::kv_cache::KvGeometry;
use super::live_set::graph_bytes;
use super::server;
use crate::backend::common::context_note;
use crate::buffer::{BufferKind, EngineBuffer};
use crate::config::{KvDtype, RunConfig};
use crate::profile::ModelProfile;

/// The compute buffer the engine reserves (and prints) for a run on one device: for dense
/// blocks of an upstream build with every block on the CPU, ggml's allocator replayed over
/// the whole graph ([`super::worker_graph`], one device holding every block and the
/// output); otherwise the live-set estimate of the reserved graph.
pub(crate) fn reserved_compute(
    fam: &Family,
    profile: &ModelProfile,
    config: &RunConfig,
    geo: &KvGeometry,
    gpu_layers: u32,
) -> u64 {
    let reserved = reserved_graph(config, geo);
    if gpu_layers > 0 || !fam.keeps_reserved_layout || !compute_buffer::supported(profile) {
        return graph_bytes(fam, profile, config, reserved);
    }
    let split = WorkerSplit {
        blocks: (0..profile.shape.n_layers as usize).collect(),
        first: true,
        output: true,
        client: false,
        after_cpu: false,
        copies: 1,
        mixed_embd_inputs: fam.mixed_embd_inputs,
        flash_attn: fam.flash_attn(config),
        rotation: if fam.kv_rotation {
            kv_rotation(profile, config.kv_dtype.is_quantized())
        } else {
            (0, 0)
        },
    };
    compute_buffer::compute(profile, &split, geo, reserved, &[]).reserved
}

/// The graphs of a run: a command-line run's ([`run_graphs`]) or a served workload's
/// ([`super::llama_server::graphs`]).
pub fn graphs_of(fam: &Family, config: &RunConfig, geo: &KvGeometry) -> Vec<Graph> {
    if config.serve.is_some() {
        server::graphs(fam, config, geo)
    } else {
        run_graphs(fam, config, geo)
    }
}

/// The fixed part of the process that runs `config`: [`fixed_bytes`], and the server's
/// own when it is served.
pub fn process_bytes(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> u64 {
    let server = if config.serve.is_some() {
        let slots = config.batch.max(1) as u64;
        fam.server_base_bytes
            + slots
                * (profile.shape.vocab * fam.server_slot_bytes_per_token + fam.server_slot_bytes)
    } else {
        0
    };
    fixed_bytes(fam, profile) + server
}

/// The notes every llama.cpp-family estimate carries for a configuration.
pub fn config_notes(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> Vec<String> {
    let mut notes: Vec<String> = context_note(profile, config).into_iter().collect();
    if fam.rejects_f32_kv && config.kv_dtype == KvDtype::F32 {
        notes.push(format!(
            "{} fails to create a context with an f32 KV cache (measured): use f16 or q8_0",
            fam.name
        ));
    }
    if config.kv_dtype.is_quantized() && !fam.flash_attn(config) {
        notes.push(format!(
            "{}: a quantized V cache needs flash attention (--flash-attn on)",
            fam.name
        ));
    }
    if config.serve.is_some() && !fam.server_prompt_cache {
        notes.push(format!(
            "{}'s llama-server keeps no prompt cache (--cache-ram and --ctx-checkpoints do not \
             exist there): nothing beyond the slots' KV is counted for earlier requests",
            fam.name
        ));
    }
    if let Some(s) = config.serve.as_ref().filter(|_| fam.server_prompt_cache) {
        match (s.requests_per_slot, s.cache_limit_bytes()) {
            (_, Some(0)) => {}
            (None, limit) => notes.push(format!(
                "llama-server's prompt cache keeps earlier requests' states in host RAM and a \
                 long-running server fills it to {}: counted in the KV cache; size it with \
                 --cache-ram (0 turns it off)",
                limit.map_or("-c tokens".to_string(), |l| format!(
                    "--cache-ram {} MiB",
                    l >> 20
                ))
            )),
            (Some(r), _) => notes.push(format!(
                "llama-server's prompt cache: the states of {} earlier request(s) per slot, in \
                 the KV cache figure",
                r.saturating_sub(1)
            )),
        }
    }
    notes
}

/// The fixed part: process base and vocabulary structures.
pub fn fixed_bytes(fam: &Family, profile: &ModelProfile) -> u64 {
    let tokens = if profile.header.tokens > 0 {
        profile.header.tokens
    } else {
        profile.shape.vocab
    };
    fam.process_base_bytes
        + tokens * fam.bytes_per_token
        + profile.header.merges * fam.bytes_per_merge
}

/// An engine buffer line: what it holds, the engine's buffer type name, its size.
pub fn buffer(component: BufferKind, buffer: &str, bytes: u64) -> EngineBuffer {
    EngineBuffer::new(component, buffer, bytes)
}
