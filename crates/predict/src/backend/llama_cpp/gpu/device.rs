//! What one GPU of a run holds: the weights placed on it (in its buffer type's padded
//! sizes), the KV cache of its blocks, its compute buffer (ggml's allocator replayed over
//! its part of the graph for dense blocks, the live set otherwise; on the first GPU what
//! op offload brings in, see [`super::op_offload`]), and what the device holds beyond
//! llama.cpp's buffers.

use super::op_offload;
use super::residence::Residence;
use super::runtime::runtime_memory;
use crate::backend::llama_cpp::compute_buffer;
use crate::backend::llama_cpp::cparams::Cparams;
use crate::backend::llama_cpp::graph::{reserved_graph, Graph};
use crate::backend::llama_cpp::graph_build::WorkerSplit;
use crate::backend::llama_cpp::kv_cache::kv_bytes_of;
use crate::backend::llama_cpp::live_set::graph_parts;
use crate::buffer::{BufferKind, EngineBuffer};
use crate::components::{Components, DeviceEstimate};
use crate::config::SplitOptions;
use crate::device::{self, DeviceModel};
use crate::profile::ModelProfile;

const F32: u64 = 4;

/// The padding a GPU buffer adds to `bytes` of weights in `tensors` tensors: each
/// tensor aligned (half the alignment on average) and, in proportion, the one partial
/// row each quantized tensor whose width is not a multiple of the row padding gets.
fn padding(profile: &ModelProfile, dev: &dyn DeviceModel, bytes: u64, tensors: u64) -> u64 {
    let align = tensors * dev.buffer_alignment() / 2;
    let pad = dev.row_padding_elements();
    if pad == 0 || profile.tensor_data_bytes == 0 {
        return align;
    }
    let rows: u64 = profile
        .matmul_weights
        .iter()
        .filter(|w| w.ne0 % pad != 0)
        .filter_map(|w| {
            let t = w.ty.ggml().filter(|t| t.is_quantized())?;
            let elems = pad - w.ne0 % pad;
            Some(w.count * elems.div_ceil(t.block_elems()) * t.block_bytes())
        })
        .sum();
    align + rows * bytes / profile.tensor_data_bytes
}

/// Bytes of the KV masks a GPU's compute buffer holds: the copy of each attention kind's
/// mask input, and with flash attention on a build whose input is F32 its F16 cast too (the
/// two printed as one mask's worth twice on builds 5192-5622).
fn gpu_masks(cp: &Cparams) -> u64 {
    let s = &cp.profile.shape;
    let (t, n_kv) = (cp.n_ubatch, cp.kv.cells);
    let kinds = if s.is_swa_any() {
        n_kv + n_kv.min(cp.kv.swa_cells.max(1))
    } else {
        n_kv
    };
    let per = if !cp.flash_attn {
        F32
    } else if cp.build.gpu.fa_mask_f16 {
        2
    } else {
        2 * F32
    };
    kinds * t * per
}

/// The live set of the reserved graph on a GPU that holds blocks and/or the output layer:
/// the residual with the wider of one block's attention (its masks as the GPU holds
/// them) and FFN, or the output head alone where that is wider (logits and normed rows,
/// never freed); no CPU work buffer.
fn live_set(cp: &Cparams, reserved: Graph, blocks: bool, output: bool) -> u64 {
    let parts = graph_parts(cp, reserved, reserved);
    let attention = parts.attention - parts.mask + gpu_masks(cp);
    let block = if blocks {
        parts.residual + attention.max(parts.ffn)
    } else {
        0
    };
    let head = if output { parts.head } else { 0 };
    block.max(head)
}

/// GPU `i`'s compute buffer for the reserved graph: ggml's allocator replayed over its
/// blocks where they are dense (on the first GPU with the host blocks op offload runs
/// there ahead of them), their live set otherwise; on the first GPU at least what op
/// offload's largest weight copy needs ([`op_offload::offload_copy`]).
fn compute_bytes(
    cp: &Cparams,
    res: &Residence,
    dev: &dyn DeviceModel,
    i: usize,
    blocks: &[usize],
    copies: u32,
) -> u64 {
    let reserved = reserved_graph(cp);
    let output = res.place.output == Some(i);
    let replay = cp.build.keeps_reserved_layout && compute_buffer::supported(cp.profile);
    let host: Vec<usize> = if i == 0 && replay {
        op_offload::replayed_host_blocks(cp, res, blocks)
    } else {
        Vec::new()
    };
    let all: Vec<usize> = host.iter().chain(blocks).copied().collect();
    let activations = if all.is_empty() && !output {
        0
    } else if replay {
        let split = WorkerSplit {
            first: all.first() == Some(&0),
            output,
            client: false,
            after_cpu: all
                .first()
                .and_then(|&l| l.checked_sub(1))
                .is_some_and(|prev| res.place.layers.get(prev) == Some(&None)),
            copies,
            mixed_embd_inputs: cp.build.mixed_embd_inputs,
            flash_attn: cp.flash_attn,
            rotation: cp.rotation,
            align: dev.buffer_alignment(),
            mask_pad: cp.build.kq_mask_pad,
            fa_f16_scratch: cp.build.gpu.fa_f16_scratch && cp.config.kv_dtype.is_quantized(),
            glu_op: cp.build.glu_op,
            qkv_views: cp.build.qkv_views,
            mask_cast: cp.flash_attn && !cp.build.gpu.fa_mask_f16,
            host: host
                .iter()
                .map(|&l| op_offload::host_block(cp, l))
                .collect(),
            blocks: all,
        };
        compute_buffer::compute(cp.profile, &split, &cp.kv, reserved, &[]).reserved
    } else {
        live_set(cp, reserved, !blocks.is_empty(), output)
    };
    if i == 0 {
        let masks = gpu_masks(cp);
        activations.max(op_offload::offload_copy(
            cp,
            res,
            reserved,
            masks,
            !host.is_empty(),
        ))
    } else {
        activations
    }
}

/// What GPU `i` of `split` holds.
pub fn device_estimate(
    cp: &Cparams,
    split: &SplitOptions,
    res: &Residence,
    i: usize,
    copies: u32,
) -> DeviceEstimate {
    let (profile, config) = (cp.profile, cp.config);
    let dev = device::for_split(split.devices[i].kind);
    let name = dev.buffer_name(i, &split.devices[i].name);
    let (bytes, tensors) = res.weights_on(profile, Some(i));
    let weights = bytes + padding(profile, dev, bytes, tensors);
    let blocks: Vec<usize> = res.place.layers_on(Some(i)).collect();
    let kv = if config.kv_offload {
        kv_bytes_of(profile, config, &cp.kv, blocks.iter().copied())
    } else {
        0
    };
    let compute = compute_bytes(cp, res, dev, i, &blocks, copies);
    let runtime = runtime_memory(cp, dev, blocks.len().max(usize::from(i == 0)));
    let memory = Components {
        weights,
        kv_cache: kv,
        activations: dev.compute_resident(compute, compute),
        overhead: runtime.iter().map(|r| r.bytes).sum(),
        headroom: 0,
    };
    let (first_layer, n_layers) = res.place.range_on(Some(i));
    let mut buffers = vec![EngineBuffer::new(BufferKind::Model, &name, weights)];
    if kv > 0 {
        buffers.push(EngineBuffer::new(BufferKind::Kv, &name, kv));
    }
    buffers.push(EngineBuffer::new(BufferKind::Compute, &name, compute));
    DeviceEstimate {
        name: split.devices[i].name.clone(),
        kind: split.devices[i].kind,
        first_layer,
        n_layers,
        output_layer: res.place.output == Some(i),
        memory: memory.with_headroom(config.margin_pct),
        calibration: None,
        buffers,
        runtime,
    }
}
