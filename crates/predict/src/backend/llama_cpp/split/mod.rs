//! Where llama.cpp puts a model split over several devices (RPC workers or GPUs), and what
//! each device then holds.
//!
//! The placement is llama.cpp's own (`llama_model_base::load_tensors`): the input layer
//! (token embedding) always stays on the client's CPU; of the `n_layer + 1` layers (the
//! blocks and the output layer), the last `-ngl` are offloaded, and offloaded layer `j`
//! (counted from the first offloaded one) goes to the first device whose cumulative
//! `--tensor-split` share exceeds `j / offloaded`, computed in `f32` as the engine does.
//! A tied output layer is a duplicate of the token embedding on the output layer's device.
//! Each layer's KV cache lives with the layer; each device computes its own layers, and the
//! client computes the input embedding and whatever it keeps.

pub mod placement;
pub mod share;

use self::placement::{
    client_mapped, offloaded, output_first, pipeline_copies, placement, Placement,
};
use self::share::{block_tensor_sizes, share, Graphs, Share};
use super::context::{config_notes, graphs_of, process_bytes};
use super::cparams::Cparams;
use super::graph::reserved_graph;
use super::malloc_heap;
use super::model::extra_buffer_bytes;
use super::server;
use crate::buffer::{BufferKind, EngineBuffer};
use crate::components::{Components, DeviceEstimate, Estimate};
use crate::config::SplitOptions;
use crate::device;
use crate::error::Result;

const F32: u64 = 4;

/// The analytic estimate of a llama.cpp-family engine split over `split`'s devices: the
/// client's process as `host`, each device in `devices`.
pub fn estimate(cp: &Cparams, split: &SplitOptions) -> Result<Estimate> {
    let (fam, profile, config) = (cp.build, cp.profile, cp.config);
    let place = placement(
        profile.shape.n_layers,
        config.gpu_layers,
        split,
        fam.output_layer_first,
    );
    let run = graphs_of(cp);
    let graphs = Graphs {
        run: &run,
        reserved: reserved_graph(cp),
        copies: pipeline_copies(cp, split),
    };
    let client = share(cp, &place, None, graphs);
    let shares: Vec<Share> = (0..split.devices.len())
        .map(|i| share(cp, &place, Some(i), graphs))
        .collect();
    let (host, buffers) = client_process(cp, &place, &client, &shares);
    let devices = shares
        .iter()
        .enumerate()
        .map(|(i, s)| device_estimate(cp, split, &place, i, s))
        .collect();
    Ok(Estimate {
        backend: fam.name.to_string(),
        config: config.clone(),
        gpu_layers: offloaded(profile.shape.n_layers, config.gpu_layers),
        host: host.with_headroom(config.margin_pct),
        gpu: None,
        calibration: None,
        notes: split_notes(cp, &place),
        buffers,
        devices,
    })
}

/// The client's process: its components and its buffers. It keeps the blocks the split
/// leaves on its CPU (moved into the build's extra buffers like a CPU run's, in
/// proportion), maps the file while it loads, and copies each tensor it sends into a
/// message.
fn client_process(
    cp: &Cparams,
    place: &Placement,
    client: &Share,
    shares: &[Share],
) -> (Components, Vec<EngineBuffer>) {
    let (profile, config) = (cp.profile, cp.config);
    let (_, client_blocks) = place.range_on(None);
    let repack = if client_blocks > 0 {
        let extra = extra_buffer_bytes(cp);
        (extra.repack + extra.amx) * u64::from(client_blocks)
            / u64::from(profile.shape.n_layers.max(1))
    } else {
        0
    };
    let (loading, kept, transient) = client_load(cp, place, client, shares, repack);
    let cache = server::cache_bytes(cp);
    let logits = cp.n_seq * profile.shape.vocab * F32;
    let run_extra = client.kv + cache + client.compute + logits;
    // The peak is the larger of the load (the mapped file and one tensor's copies) and the
    // run (what stays mapped, the KV, the compute): the model bytes of the larger one are
    // the weights, and the load's copies the overhead where it is the peak.
    let load_peak = loading + transient;
    let peak = load_peak.max(kept + run_extra);
    // The model bytes of the peak's phase: what stays mapped when the run is the peak; when
    // the load is, the mapped file less what the run adds later (the components add up to
    // the peak, and the file's share of it grows with the file).
    let weights = kept.max(load_peak.saturating_sub(run_extra));
    let host = Components {
        weights,
        kv_cache: client.kv + cache,
        activations: client.compute + logits,
        overhead: process_bytes(cp) + peak.saturating_sub(weights + run_extra),
        headroom: 0,
    };
    let model = if config.mmap { "CPU_Mapped" } else { "CPU" };
    let mut buffers = vec![
        EngineBuffer::new(BufferKind::Model, model, client.weights),
        EngineBuffer::new(BufferKind::Kv, "CPU", client.kv),
        EngineBuffer::new(BufferKind::Output, "CPU", logits),
        EngineBuffer::new(BufferKind::Compute, "CPU", client.compute_reserved),
    ];
    if repack > 0 {
        buffers.push(EngineBuffer::new(
            BufferKind::Model,
            crate::backend::llama_cpp::model::repack_buffer_name(cp),
            repack,
        ));
    }
    if config.serve.is_some() {
        buffers.push(EngineBuffer::new(BufferKind::PromptCache, "CPU", cache));
    }
    (host, buffers)
}

/// The client's model bytes resident while loading and afterwards, and the load's
/// transient copies.
///
/// With mmap the whole file is populated while loading, with one message copy beside it;
/// afterwards only the span of the tensors the client keeps stays mapped (all of it once
/// the client keeps blocks, as their tensors are spread over the file). Without mmap each
/// tensor sent is read into a buffer and copied into its message, before the client's own
/// tensors are read. The heap keeps what the messages (and read buffers) of the block
/// tensors sent before leave at its top (see [`malloc_heap`]): beside the largest message
/// while loading.
fn client_load(
    cp: &Cparams,
    place: &Placement,
    client: &Share,
    shares: &[Share],
    repack: u64,
) -> (u64, u64, u64) {
    let profile = cp.profile;
    // The client copies each tensor it sends into a message: one at a time.
    let largest_sent = shares
        .iter()
        .map(|s| s.block_tensor.max(s.projection))
        .max()
        .unwrap_or(0);
    let file = profile.file_bytes.max(profile.tensor_data_bytes);
    let buffers_per_tensor = if cp.config.mmap { 1 } else { 2 };
    let sends_blocks = shares.iter().any(|s| s.block_tensor > 0);
    let retained = if sends_blocks {
        malloc_heap::retained(
            &block_tensor_sizes(profile),
            buffers_per_tensor,
            malloc_heap::threshold_after_vocabulary(profile.shape.vocab),
        )
    } else {
        0
    };
    if cp.config.mmap {
        // Repacked copies of the kept blocks are made while loading and stay.
        let kept = client_mapped(profile, place, file);
        (file + repack, kept + repack, largest_sent + retained)
    } else {
        (
            repack,
            client.weights + repack,
            buffers_per_tensor * largest_sent + retained,
        )
    }
}

/// What device `i` of the split holds.
///
/// A GPU allocates its whole compute reservation, beside its context. A worker's CPU
/// touches what its graphs use, and each tensor it is sent arrives as a message it reads
/// into a buffer of its own: the heap keeps the largest one (measured: a block's largest
/// tensor stays resident after loading, and the matmul work buffer reuses it when that is
/// smaller), and the output projection (which files store before the blocks) briefly sits
/// there twice. Without the allocator's replay, about two block tensors' worth were
/// measured beside the summed layout.
fn device_estimate(
    cp: &Cparams,
    split: &SplitOptions,
    place: &Placement,
    i: usize,
    s: &Share,
) -> DeviceEstimate {
    let dev = device::for_split(split.devices[i].kind);
    let name = dev.buffer_name(i, &split.devices[i].name);
    let (first_layer, n_layers) = place.range_on(Some(i));
    let activations = dev.compute_resident(s.compute_reserved, s.compute);
    let mut overhead = dev.context_bytes();
    if dev.is_remote() {
        let residue = if s.replayed {
            s.block_tensor.saturating_sub(s.work)
        } else {
            2 * s.block_tensor
        };
        let run = s.weights + residue + s.kv + s.compute;
        // The projection's message beside it: alone when it is loaded first, on top of the
        // blocks when last.
        let load = if output_first(cp.profile, place, i) {
            2 * s.projection
        } else {
            s.weights + s.projection
        };
        overhead += cp.build.rpc_server_base_bytes + residue + load.saturating_sub(run);
    }
    let memory = Components {
        weights: s.weights,
        kv_cache: s.kv,
        activations,
        overhead,
        headroom: 0,
    };
    DeviceEstimate {
        name: split.devices[i].name.clone(),
        kind: split.devices[i].kind,
        first_layer,
        n_layers,
        output_layer: place.output == Some(i),
        memory: memory.with_headroom(cp.config.margin_pct),
        calibration: None,
        buffers: vec![
            EngineBuffer::new(BufferKind::Model, &name, s.weights),
            EngineBuffer::new(BufferKind::Kv, &name, s.kv),
            EngineBuffer::new(BufferKind::Compute, &name, s.compute_reserved),
        ],
        runtime: Vec::new(),
    }
}

/// The notes of a split estimate.
fn split_notes(cp: &Cparams, place: &Placement) -> Vec<String> {
    let (profile, config) = (cp.profile, cp.config);
    let mut notes = config_notes(cp);
    let (_, client_blocks) = place.range_on(None);
    if config.mmap && client_blocks == 0 {
        let file = profile.file_bytes.max(profile.tensor_data_bytes);
        notes.push(format!(
            "the client maps and reads the whole file ({}) while it loads, then keeps only the \
             token embedding: --mmap off loads with one tensor's copy instead",
            crate::units::human_bytes(file)
        ));
    }
    notes
}
