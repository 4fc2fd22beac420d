//! What one GPU of a run holds: the weights placed on it (in its buffer type's padded
//! sizes), the KV cache of its blocks, its compute buffer (ggml's allocator replayed over
//! its part of the graph for dense blocks, the live set otherwise; on the first GPU the
//! copy of the largest host weight op offload brings in), and what the device holds
//! beyond llama.cpp's buffers.

use super::residence::Residence;
use super::runtime::runtime_memory;
use crate::backend::llama_cpp::compute_buffer;
use crate::backend::llama_cpp::cparams::Cparams;
use crate::backend::llama_cpp::graph::Graph;
use crate::backend::llama_cpp::graph_build::WorkerSplit;
use crate::backend::llama_cpp::kv_cache::kv_bytes_of;
use crate::backend::llama_cpp::live_set::graph_parts;
use crate::buffer::{BufferKind, EngineBuffer};
use crate::components::{Components, DeviceEstimate};
use crate::config::SplitOptions;
use crate::device::{self, DeviceModel};
use crate::profile::{MatmulWeight, ModelProfile};

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

/// The largest weight op offload copies into the first GPU for one micro-batch, with what
/// its product runs beside: a host-resident expert stack or block matrix with the block's
/// FFN live set, the GPU's masks and the residual; the output projection with the logits
/// of the reserved outputs and the normed rows it multiplies, or the residual's copy and
/// its output rows where those are wider (printed: weight + logits + one micro-batch of
/// normed rows on the held-out ggml-ci runs with `-ngl 10`, 203.99 MiB).
fn offload_copy(cp: &Cparams, res: &Residence, reserved: Graph) -> u64 {
    if !res.host_matmul_weights() || cp.n_ubatch < 32 {
        return 0;
    }
    let p = cp.profile;
    let vocab = p.shape.vocab;
    let experts_host = res.parts.iter().any(|x| x[2].is_none());
    // A build's BLAS backend takes the plain products of host weights (not the experts).
    let blas = super::blas::takes_host_products(cp);
    let dense_host = !blas && res.parts.iter().any(|x| x[0].is_none() || x[1].is_none());
    let output_host = !blas && res.place.output.is_none();
    // Repacked host weights are not host memory to the scheduler: op offload leaves them.
    let repacked = |w: &MatmulWeight| {
        super::host_repack::host_rules(cp).is_some_and(|r| r.repacks(&cp.isa, w))
    };
    let largest = |head: bool| {
        p.matmul_weights
            .iter()
            .filter(|w| w.count > 0 && !repacked(w))
            .filter(|w| super::host_repack::is_head(p, w) == head)
            .filter(|w| head || (w.ne2 > 1 && experts_host) || (w.ne2 == 1 && dense_host))
            .map(|w| w.bytes / w.count)
            .max()
            .unwrap_or(0)
    };
    let residual = cp.n_ubatch * p.shape.hidden * F32;
    let block = match largest(false) {
        0 => 0,
        w => w + graph_parts(cp, reserved, reserved).ffn + gpu_masks(cp) + residual,
    };
    let head = match largest(true) {
        w if w > 0 && output_host => {
            // The residual's copy and its output rows, then the normed rows and logits.
            let (t, o, e) = (
                cp.n_ubatch,
                cp.n_outputs_max.min(cp.n_ubatch),
                p.shape.hidden,
            );
            w + ((t + o) * e).max(o * (e + vocab)) * F32
        }
        _ => 0,
    };
    block.max(head)
}

/// GPU `i`'s compute buffer for the reserved graph: ggml's allocator replayed over its
/// blocks where they are dense, their live set otherwise; on the first GPU at least what
/// op offload's largest weight copy needs.
fn compute_bytes(
    cp: &Cparams,
    res: &Residence,
    dev: &dyn DeviceModel,
    i: usize,
    blocks: &[usize],
    copies: u32,
) -> u64 {
    let reserved = Graph {
        tokens: cp.n_ubatch,
        n_kv: cp.kv.cells,
        outputs: cp.n_outputs_max,
    };
    let output = res.place.output == Some(i);
    let replay = cp.build.keeps_reserved_layout && compute_buffer::supported(cp.profile);
    let activations = if blocks.is_empty() && !output {
        0
    } else if replay {
        let split = WorkerSplit {
            blocks: blocks.to_vec(),
            first: blocks.first() == Some(&0),
            output,
            client: false,
            after_cpu: blocks
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
        };
        compute_buffer::compute(cp.profile, &split, &cp.kv, reserved, &[]).reserved
    } else {
        live_set(cp, reserved, !blocks.is_empty(), output)
    };
    if i == 0 {
        activations.max(offload_copy(cp, res, reserved))
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
