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

use super::llama_cpp::{
    buffer, config_notes, extra_buffer_bytes, graph_parts, graphs_of, kv_geometry, process_bytes,
    reserved_graph, run_sequence, Family, Graph, KvGeometry,
};
use super::llama_server;
use super::malloc_heap;
use super::worker_graph::{self, WorkerSplit};
use crate::buffer::BufferKind;
use crate::components::{Components, DeviceEstimate, Estimate};
use crate::config::{RunConfig, SplitDeviceKind, SplitMode, SplitOptions};
use crate::error::Result;
use crate::profile::{ModelProfile, TensorRole, TensorSpans};

const F32: u64 = 4;

/// Which device holds each block and the output layer (`None`: the client's CPU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Device of each block, in block order.
    pub layers: Vec<Option<usize>>,
    /// Device of the output layer (output norm and projection).
    pub output: Option<usize>,
}

impl Placement {
    /// The blocks device `d` holds (`None`: the client).
    pub fn layers_on(&self, d: Option<usize>) -> impl Iterator<Item = usize> + '_ {
        self.layers
            .iter()
            .enumerate()
            .filter(move |(_, x)| **x == d)
            .map(|(i, _)| i)
    }

    /// The first block on `d` and how many it holds (blocks of one device are contiguous).
    pub fn range_on(&self, d: Option<usize>) -> (u32, u32) {
        let mut it = self.layers_on(d);
        match it.next() {
            Some(first) => (first as u32, 1 + it.count() as u32),
            None => (0, 0),
        }
    }
}

/// Layers offloaded for `-ngl` = `gpu_layers` (None: all of them and the output layer).
pub fn offloaded(n_layers: u32, gpu_layers: Option<u32>) -> u32 {
    gpu_layers.map_or(n_layers + 1, |g| g.min(n_layers + 1))
}

/// llama.cpp's placement of `n_layers` blocks and the output layer over `split`'s devices.
pub fn placement(n_layers: u32, gpu_layers: Option<u32>, split: &SplitOptions) -> Placement {
    let n = n_layers as usize;
    let act = offloaded(n_layers, gpu_layers) as usize;
    let start = n + 1 - act;
    // Cumulative shares, normalised, in f32 like the engine.
    let mut cum: Vec<f32> = Vec::with_capacity(split.tensor_split.len());
    let mut sum = 0f32;
    for &s in &split.tensor_split {
        sum += s as f32;
        cum.push(sum);
    }
    for c in cum.iter_mut() {
        *c /= sum;
    }
    let device = |il: usize| -> Option<usize> {
        if il < start || il - start >= act || cum.is_empty() {
            return None;
        }
        let x = (il - start) as f32 / act as f32;
        // std::upper_bound: the first share strictly above x.
        let d = cum.iter().position(|&c| c > x).unwrap_or(cum.len() - 1);
        Some(d.min(cum.len() - 1))
    };
    Placement {
        layers: (0..n).map(device).collect(),
        output: device(n),
    }
}

/// Bytes of the output layer's tensors where it is placed: the output norm and the
/// projection, or (tied embeddings) a duplicate of the token embedding.
pub fn output_layer_bytes(profile: &ModelProfile) -> u64 {
    let projection = if profile.shape.tied_embeddings || profile.role_bytes(TensorRole::Output) == 0
    {
        profile.role_bytes(TensorRole::Embedding)
    } else {
        profile.role_bytes(TensorRole::Output)
    };
    projection + output_norm_bytes(profile)
}

/// Bytes of the final norm (the norms outside the blocks, and what else is outside them
/// besides the embedding and the output projection).
fn output_norm_bytes(profile: &ModelProfile) -> u64 {
    profile
        .non_layer_bytes()
        .saturating_sub(profile.role_bytes(TensorRole::Embedding))
        .saturating_sub(profile.role_bytes(TensorRole::Output))
}

/// What one place of a split (the client, or a device) holds for a configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    /// Weight bytes it holds.
    pub weights: u64,
    /// The largest tensor of its blocks (about one feed-forward matrix).
    pub block_tensor: u64,
    /// The output layer's projection when this place holds it (0 otherwise).
    pub projection: u64,
    /// KV bytes of its blocks.
    pub kv: u64,
    /// Compute bytes its graph touches.
    pub compute: u64,
    /// Compute bytes reserved for it (what the engine prints).
    pub compute_reserved: u64,
    /// Of `compute`, the CPU backend's work buffer (matmul inputs converted).
    pub work: u64,
    /// Whether `compute` replays the engine's allocator over this device's graph.
    pub replayed: bool,
}

/// The share of `place` (`None`: the client) for `config`, whose KV geometry is `geo`,
/// evaluated over the run's graphs `graphs` with the reserved graph `reserved`, the
/// scheduler keeping `copies` of each split input.
#[allow(clippy::too_many_arguments)]
pub fn share(
    fam: &Family,
    profile: &ModelProfile,
    config: &RunConfig,
    geo: &KvGeometry,
    placement: &Placement,
    place: Option<usize>,
    graphs: &[Graph],
    reserved: Graph,
    copies: u32,
) -> Share {
    let blocks: Vec<usize> = placement.layers_on(place).collect();
    let holds_output = placement.output == place;
    let mut weights: u64 = blocks
        .iter()
        .map(|&l| profile.layer_bytes.get(l).copied().unwrap_or(0))
        .sum();
    if holds_output {
        weights += output_layer_bytes(profile);
    }
    if place.is_none() {
        weights += profile.role_bytes(TensorRole::Embedding);
    }
    // The largest tensor of a block is about one feed-forward matrix (of all experts, for
    // a mixture of experts); the output layer's projection is one tensor.
    let block_tensor = if blocks.is_empty() {
        0
    } else {
        largest_block_tensor(profile)
    };
    let projection = if holds_output {
        output_layer_bytes(profile).saturating_sub(output_norm_bytes(profile))
    } else {
        0
    };
    let kv = super::llama_cpp::kv_bytes_of(profile, config, geo, blocks.iter().copied());
    let has_blocks = !blocks.is_empty();
    // An RPC worker runs its graphs in the layout the client planned for the reserved
    // worst case (the client allocates the worker's compute buffer): for dense blocks the
    // allocator is replayed over the worker's graph; otherwise its blocks' tensors add up
    // as in a smaller graph's reuse of that layout (one block's tensors summed).
    // The client that keeps no block holds the graph's inputs and the embedding rows,
    // laid out the same way; a client that keeps blocks (`-ngl` below the block count) is
    // the first device of the split, with the output head where it holds it (its printed
    // compute buffer: p95 35% off as one block's tensors summed, 4.3% replayed).
    let client = place.is_none() && !has_blocks && !holds_output;
    let replay = fam.keeps_reserved_layout && worker_graph::supported(profile);
    let (compute, compute_reserved, work) = if replay {
        let split = WorkerSplit {
            client,
            first: blocks.first() == Some(&0),
            after_cpu: blocks
                .first()
                .and_then(|&l| l.checked_sub(1))
                .is_some_and(|prev| placement.layers.get(prev) == Some(&None)),
            blocks: blocks.clone(),
            output: holds_output,
            copies,
            mixed_embd_inputs: fam.mixed_embd_inputs,
            flash_attn: fam.flash_attn(config),
            rotation: if fam.kv_rotation {
                worker_graph::kv_rotation(profile, config.kv_dtype.is_quantized())
            } else {
                (0, 0)
            },
        };
        // The run's graphs in order (the input copy each writes follows from its place).
        // A server evaluates many graphs as requests interleave: any of its bounding
        // graphs may land on any copy.
        let sequence: Vec<(usize, Graph)> = if config.serve.is_none() {
            run_sequence(fam, config, geo, copies)
        } else {
            let n = copies.max(1) as usize;
            graphs
                .iter()
                .flat_map(|&g| (0..n).map(move |c| (c, g)))
                .collect()
        };
        let c = worker_graph::compute(profile, &split, geo, reserved, &sequence);
        // The CPU backend converts each matmul's input into a work buffer of its own (the
        // client gathers rows: no matmul).
        let work = if client {
            0
        } else {
            graphs
                .iter()
                .map(|&g| graph_parts(fam, profile, config, g, reserved).work)
                .max()
                .unwrap_or(0)
        };
        (c.touched + work, c.reserved, work)
    } else {
        let touched = |g: Graph| {
            let mut parts = graph_parts(fam, profile, config, g, reserved);
            if place.is_some() && fam.keeps_reserved_layout {
                parts.sum_layout = true;
                parts.ffn += parts.ffn_product;
            }
            parts.touched(has_blocks, holds_output)
        };
        (
            graphs.iter().map(|&g| touched(g)).max().unwrap_or(0),
            graph_parts(fam, profile, config, reserved, reserved).touched(has_blocks, holds_output),
            0,
        )
    };
    Share {
        weights,
        block_tensor,
        projection,
        kv,
        compute,
        compute_reserved,
        work,
        replayed: replay,
    }
}

/// Bytes of the largest weight tensor of a block (what one tensor message to a device
/// holds): from the file's matmul weights, less the vocabulary-sized embedding and output
/// projection; for a profile stored without them, a third of a block's feed-forward.
pub fn largest_block_tensor(profile: &ModelProfile) -> u64 {
    block_tensor_sizes(profile)
        .into_iter()
        .map(|(bytes, _)| bytes)
        .max()
        .unwrap_or_else(|| {
            (profile.role_bytes(TensorRole::Ffn) / u64::from(profile.shape.n_layers.max(1)))
                .div_ceil(3)
        })
}

/// The blocks' matmul weights as `(bytes of one tensor, tensors)`: the file's matmul
/// weights less the vocabulary-sized embedding and output projection.
fn block_tensor_sizes(profile: &ModelProfile) -> Vec<(u64, u64)> {
    profile
        .matmul_weights
        .iter()
        .filter(|w| w.ne0 != profile.shape.vocab && w.ne1 != profile.shape.vocab && w.count > 0)
        .map(|w| (w.bytes / w.count, w.count))
        .collect()
}

/// Bytes of the file the client keeps mapped once loaded: llama.cpp unmaps what lies before
/// its first and after its last CPU tensor (the token embedding, the blocks it keeps, the
/// output layer when it keeps it), so where the file puts them decides. Without the file's
/// layout, the whole file once the client keeps blocks.
fn client_mapped(profile: &ModelProfile, place: &Placement, file: u64) -> u64 {
    let Some(sp) = &profile.spans else {
        return if place.layers_on(None).next().is_some() {
            file
        } else {
            profile.role_bytes(TensorRole::Embedding)
        };
    };
    let mut parts = vec![sp.embedding];
    parts.extend(
        place
            .layers_on(None)
            .filter_map(|l| sp.layers.get(l).copied()),
    );
    if place.output.is_none() {
        parts.push(sp.output);
    }
    let c = TensorSpans::covering(parts);
    c[1] - c[0]
}

/// Whether the output layer lies before device `d`'s blocks in the file (it is then loaded,
/// and its message copied, before them). Unknown layout: after (the larger peak).
fn output_first(profile: &ModelProfile, place: &Placement, d: usize) -> bool {
    let Some(sp) = &profile.spans else {
        return false;
    };
    let blocks = TensorSpans::covering(
        place
            .layers_on(Some(d))
            .filter_map(|l| sp.layers.get(l).copied()),
    );
    // A tied output layer is a duplicate of the token embedding, loaded where it lies.
    let projection = if profile.shape.tied_embeddings || profile.role_bytes(TensorRole::Output) == 0
    {
        sp.embedding
    } else {
        sp.output
    };
    projection[1] > projection[0] && (blocks[1] == blocks[0] || projection[0] < blocks[0])
}

/// Copies of each split input the scheduler keeps: the family's pipeline copies when the
/// engine turns pipeline parallelism on (a layer split over more than one device that
/// offloads every block and the output layer), else one.
pub fn pipeline_copies(
    fam: &Family,
    profile: &ModelProfile,
    config: &RunConfig,
    split: &SplitOptions,
) -> u32 {
    let all = offloaded(profile.shape.n_layers, config.gpu_layers) > profile.shape.n_layers;
    if split.devices.len() > 1 && all && split.mode == SplitMode::Layer {
        fam.pipeline_copies.max(1)
    } else {
        1
    }
}

/// The name llama.cpp gives device `i`'s buffers: `RPC<i>[name]` for an RPC worker
/// (the engine prints `RPC0[host:port]`), `CUDA<n>` for a GPU.
fn buffer_name(split: &SplitOptions, i: usize) -> String {
    let d = &split.devices[i];
    match d.kind {
        SplitDeviceKind::Rpc => format!("RPC{i}[{}]", d.name),
        SplitDeviceKind::Cuda => format!("CUDA{i}"),
    }
}

/// `-sm row` over GPUs on a build whose CUDA backend has no split buffers: the engine
/// refuses to load, so there is no memory to predict.
fn refuse_missing_row_split(fam: &Family, config: &RunConfig, split: &SplitOptions) -> Result<()> {
    let Some(at) = fam.cuda_row_split_removed_at else {
        return Ok(());
    };
    let removed = config.engine_build.is_none_or(|b| b >= at);
    if split.mode == SplitMode::Row && split.on_gpus() && removed {
        return Err(crate::error::Error::InvalidConfig(format!(
            "-sm row: {} from build {at} on fails to load it (\"device CUDA0 does not support \
             split buffers\"): its CUDA backend dropped split buffers \
             (ggml-org/llama.cpp#24216); use -sm layer, or give --engine-build below {at}",
            fam.name
        )));
    }
    Ok(())
}

/// The analytic estimate of a llama.cpp-family engine split over `split`'s devices: the
/// client's process as `host`, each device in `devices`.
pub fn estimate(
    fam: &Family,
    profile: &ModelProfile,
    config: &RunConfig,
    split: &SplitOptions,
) -> Result<Estimate> {
    refuse_missing_row_split(fam, config, split)?;
    let geo = kv_geometry(fam, profile, config);
    let place = placement(profile.shape.n_layers, config.gpu_layers, split);
    let graphs = graphs_of(fam, config, &geo);
    let reserved = reserved_graph(config, &geo);
    let copies = pipeline_copies(fam, profile, config, split);
    let at = |d: Option<usize>| {
        share(
            fam, profile, config, &geo, &place, d, &graphs, reserved, copies,
        )
    };
    let client = at(None);
    let shares: Vec<Share> = (0..split.devices.len()).map(|i| at(Some(i))).collect();
    let (_, client_blocks) = place.range_on(None);

    // The client: the blocks it keeps (moved into the build's extra buffers like a CPU
    // run's, in proportion), the mapped file while it loads, the transient copy of each
    // tensor it sends.
    let repack = if client_blocks > 0 {
        let extra = extra_buffer_bytes(fam, profile, config);
        (extra.repack + extra.amx) * u64::from(client_blocks)
            / u64::from(profile.shape.n_layers.max(1))
    } else {
        0
    };
    // The client copies each tensor it sends into a message: one at a time.
    let largest_sent = shares
        .iter()
        .map(|s| s.block_tensor.max(s.projection))
        .max()
        .unwrap_or(0);
    let file = profile.file_bytes.max(profile.tensor_data_bytes);
    // With mmap the whole file is populated while loading, with one message copy beside it;
    // afterwards only the span of the tensors the client keeps stays mapped (all of it once
    // the client keeps blocks, as their tensors are spread over the file). Without mmap each
    // tensor sent is read into a buffer and copied into its message, before the client's
    // own tensors are read.
    // Model bytes resident while loading and afterwards, and the load's transient copies.
    // The heap keeps what the messages (and read buffers) of the block tensors sent before
    // leave at its top (see `malloc_heap`): beside the largest message while loading.
    let buffers_per_tensor = if config.mmap { 1 } else { 2 };
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
    let (loading, kept, transient) = if config.mmap {
        // Repacked copies of the kept blocks are made while loading and stay.
        let kept = client_mapped(profile, &place, file);
        (file + repack, kept + repack, largest_sent + retained)
    } else {
        (
            repack,
            client.weights + repack,
            buffers_per_tensor * largest_sent + retained,
        )
    };
    let cache = llama_server::cache_bytes(fam, profile, config);
    let logits = config.batch.max(1) as u64 * profile.shape.vocab * F32;
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
        overhead: process_bytes(fam, profile, config) + peak.saturating_sub(weights + run_extra),
        headroom: 0,
    };
    let mut buffers = vec![
        buffer(
            BufferKind::Model,
            if config.mmap { "CPU_Mapped" } else { "CPU" },
            client.weights,
        ),
        buffer(BufferKind::Kv, "CPU", client.kv),
        buffer(BufferKind::Output, "CPU", logits),
        buffer(BufferKind::Compute, "CPU", client.compute_reserved),
    ];
    if repack > 0 {
        buffers.push(buffer(BufferKind::Model, "CPU_REPACK", repack));
    }
    if config.serve.is_some() {
        buffers.push(buffer(BufferKind::PromptCache, "CPU", cache));
    }

    let cuda_context = crate::backend::reference::Constants::memcal_candle().cuda_context_bytes;
    let devices = shares
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let name = buffer_name(split, i);
            let (first_layer, n_layers) = place.range_on(Some(i));
            let memory = match split.devices[i].kind {
                // A worker's CPU backend touches what its graphs use. Each tensor it is
                // sent arrives as a message it reads into a buffer of its own: the heap
                // keeps the largest one (measured: a block's largest tensor stays
                // resident after loading, and the matmul work buffer reuses it when that
                // is smaller), and the output projection (which files store before the
                // blocks) briefly sits there twice. Without the allocator's replay, about
                // two block tensors' worth were measured beside the summed layout.
                SplitDeviceKind::Rpc => {
                    let residue = if s.replayed {
                        s.block_tensor.saturating_sub(s.work)
                    } else {
                        2 * s.block_tensor
                    };
                    let run = s.weights + residue + s.kv + s.compute;
                    // The projection's message beside it: alone when it is loaded first,
                    // on top of the blocks when last.
                    let load = if output_first(profile, &place, i) {
                        2 * s.projection
                    } else {
                        s.weights + s.projection
                    };
                    Components {
                        weights: s.weights,
                        kv_cache: s.kv,
                        activations: s.compute,
                        overhead: fam.rpc_server_base_bytes + residue + load.saturating_sub(run),
                        headroom: 0,
                    }
                }
                // A GPU allocates its whole compute reservation, and a context.
                SplitDeviceKind::Cuda => Components {
                    weights: s.weights,
                    kv_cache: s.kv,
                    activations: s.compute_reserved,
                    overhead: cuda_context,
                    headroom: 0,
                },
            };
            DeviceEstimate {
                name: split.devices[i].name.clone(),
                kind: split.devices[i].kind,
                first_layer,
                n_layers,
                output_layer: place.output == Some(i),
                memory: memory.with_headroom(config.margin_pct),
                calibration: None,
                buffers: vec![
                    buffer(BufferKind::Model, &name, s.weights),
                    buffer(BufferKind::Kv, &name, s.kv),
                    buffer(BufferKind::Compute, &name, s.compute_reserved),
                ],
            }
        })
        .collect();

    let mut notes = config_notes(fam, profile, config);
    if split
        .devices
        .iter()
        .any(|d| d.kind == SplitDeviceKind::Cuda)
    {
        notes.push(format!(
            "{} split over GPUs is analytic only: no GPU records of this engine yet",
            fam.name
        ));
    }
    if split.mode == SplitMode::Row {
        notes.push(
            "-sm row (a build before llama.cpp#24216) is modelled as -sm layer (whole blocks \
             per GPU); row splitting spreads each block's matrices instead and keeps the KV \
             cache on the main GPU"
                .into(),
        );
    }
    if config.mmap && client_blocks == 0 && !split.on_gpus() {
        notes.push(format!(
            "the client maps and reads the whole file ({}) while it loads, then keeps only the \
             token embedding: --mmap off loads with one tensor's copy instead",
            crate::units::human_bytes(file)
        ));
    }
    Ok(Estimate {
        backend: fam.name.to_string(),
        config: config.clone(),
        gpu_layers: offloaded(profile.shape.n_layers, config.gpu_layers),
        host: host.with_headroom(config.margin_pct),
        gpu: None,
        calibration: None,
        notes,
        buffers,
        devices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::calibrate::calibrated_for;
    use crate::calibrate::TableSet;
    use crate::config::Device;
    use crate::presets;

    fn over_gpus(mode: SplitMode, engine_build: Option<u32>) -> Result<Estimate> {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        let config = RunConfig {
            device: Device::Cuda(0),
            ctx: 2048,
            split: Some(SplitOptions::gpus(2, &[1.0, 1.0], mode).unwrap()),
            engine_build,
            ..RunConfig::default()
        };
        calibrated_for(Backend::LlamaCpp, &p, &config, &TableSet::empty())
    }

    #[test]
    fn row_split_over_gpus_is_refused_where_the_build_has_no_split_buffers() {
        for build in [None, Some(9890), Some(11434), Some(20000)] {
            let e = over_gpus(SplitMode::Row, build).unwrap_err().to_string();
            assert!(
                e.contains("does not support split buffers"),
                "{build:?}: {e}"
            );
        }
        // Before the removal the estimate is given (as a layer split, with a note).
        let old = over_gpus(SplitMode::Row, Some(9000)).unwrap();
        assert!(
            old.notes.iter().any(|n| n.contains("-sm row")),
            "{:?}",
            old.notes
        );
        assert_eq!(old.devices.len(), 2);
        assert!(over_gpus(SplitMode::Layer, None).is_ok());
    }
}
