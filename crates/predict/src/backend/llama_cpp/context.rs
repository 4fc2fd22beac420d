//! llama.cpp's context (`llama-context.cpp`): the compute buffer it reserves, the graphs
//! of a run or a served workload, the process's fixed part (binary, threads, vocabulary,
//! a server's slots) and the notes every estimate of the family carries.

use super::build::Family;
use super::compute_buffer;
use super::cparams::Cparams;
use super::graph::{reserved_graph, run_graphs, Graph};
use super::graph_build::WorkerSplit;
use super::live_set::graph_bytes;
use super::server;
use crate::backend::common::context_note;
use crate::config::KvDtype;
use crate::profile::ModelProfile;

/// The compute buffer the engine reserves (and prints) for a run on one CPU: for dense
/// blocks of an upstream build, ggml's allocator replayed over
/// the whole graph ([`super::compute_buffer`], one device holding every block and the
/// output); otherwise the live-set estimate of the reserved graph.
pub(crate) fn reserved_compute(cp: &Cparams) -> u64 {
    let (fam, profile) = (cp.build, cp.profile);
    let reserved = reserved_graph(cp);
    if !fam.keeps_reserved_layout || !compute_buffer::supported(profile) {
        return graph_bytes(cp, reserved);
    }
    let split = WorkerSplit {
        first: true,
        output: true,
        ..compute_buffer::cpu_split(cp, (0..profile.shape.n_layers as usize).collect())
    };
    compute_buffer::compute(profile, &split, &cp.kv, reserved, &[]).reserved
}

/// The graphs of a run: a command-line run's ([`run_graphs`]) or a served workload's
/// ([`super::server::graphs`]).
pub fn graphs_of(cp: &Cparams) -> Vec<Graph> {
    if cp.config.serve.is_some() {
        server::graphs(cp)
    } else {
        run_graphs(cp)
    }
}

/// The fixed part of the process that runs `config`: [`fixed_bytes`], and the server's
/// own when it is served.
pub fn process_bytes(cp: &Cparams) -> u64 {
    let (fam, profile) = (cp.build, cp.profile);
    let server = if cp.config.serve.is_some() {
        let slots = cp.n_seq;
        fam.server_base_bytes
            + slots
                * (profile.shape.vocab * fam.server_slot_bytes_per_token + fam.server_slot_bytes)
    } else {
        0
    };
    fixed_bytes(fam, profile) + server
}

/// The notes every llama.cpp-family estimate carries for a configuration.
pub fn config_notes(cp: &Cparams) -> Vec<String> {
    let (fam, profile, config) = (cp.build, cp.profile, cp.config);
    let mut notes: Vec<String> = context_note(profile, config).into_iter().collect();
    if fam.rejects_f32_kv && config.kv_dtype == KvDtype::F32 {
        notes.push(format!(
            "{} fails to create a context with an f32 KV cache (measured): use f16 or q8_0",
            fam.name
        ));
    }
    if config.kv_dtype.is_quantized() && !cp.flash_attn {
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
