//! The host side of a GPU run: the weights left in host memory (the mapped file's span,
//! or pinned buffers without mmap), the KV of blocks kept there, the output buffer and the
//! CPU backend's compute buffer, which llama.cpp allocates in the GPU's pinned host buffer
//! type (`CUDA_Host`) and which holds every graph input.

use super::host_cpu;
use super::host_repack::host_repack;
use super::op_offload;
use super::residence::Residence;
use crate::backend::llama_cpp::context::process_bytes;
use crate::backend::llama_cpp::cparams::Cparams;
use crate::backend::llama_cpp::kv_cache::kv_bytes_of;
use crate::buffer::{BufferKind, EngineBuffer};
use crate::components::Components;
use crate::config::overrides::BlockPart;
use crate::device::DeviceModel;
use crate::profile::{TensorRole, TensorSpans};

const F32: u64 = 4;

/// Bytes of the host's compute buffer: the graph inputs (token ids, positions, the KV
/// mask of each attention kind, the KV cell indices, the output ids, the rotation
/// matrices of a quantized cache) and the embedding rows the CPU gathers, with the
/// placeholders of the build's other input branches (docs/llama-cpp-cuda-memory.md, C5;
/// checked against the printed `CUDA_Host compute` lines of the corpus). The gathered
/// rows are freed once the first GPU has their copy: with host blocks op offload runs on
/// that GPU, what the CPU computes for them ([`op_offload::cpu_share`]) takes their place
/// where it is wider. Where the CPU computes host graph parts itself (op offload off), its
/// share is [`host_cpu::share`], and its buffer for the blocks kept whole on the host
/// ([`host_cpu::whole_blocks`]) where that is wider.
pub fn host_compute_bytes(cp: &Cparams, res: &Residence) -> u64 {
    let s = &cp.profile.shape;
    let (t, e) = (cp.n_ubatch, s.hidden);
    let n_kv = cp.kv.cells;
    let streams = cp.kv.streams.max(1);
    let rows = t.div_ceil(streams).div_ceil(cp.build.kq_mask_pad) * cp.build.kq_mask_pad * streams;
    let mask_elem = if cp.flash_attn && cp.build.gpu.fa_mask_f16 {
        2
    } else {
        F32
    };
    let kinds = 1 + u64::from(s.is_swa_any());
    let swa_kv = n_kv.min(cp.kv.swa_cells.max(1));
    let masks = if kinds == 2 { n_kv + swa_kv } else { n_kv } * rows * mask_elem;
    let (rk, rv) = cp.rotation;
    let rotations = kinds * (rk * rk + rv * rv) * F32;
    // Token ids, positions, output ids; K and V cell indices (i64) per attention kind.
    let small = 3 * 4 * t + kinds * 2 * 8 * t;
    let mut rows_e = 1; // the embedding rows gathered
    if cp.build.gpu.embd_input_placeholder {
        rows_e += 1;
    }
    let mut mixed = 0;
    if cp.build.mixed_embd_inputs {
        // The mixed batch's token ids, slots and embeddings; their duplicate and rows.
        rows_e += 3;
        mixed = 4 * t + 8 * t;
    }
    let gathered = F32 * e * t;
    let share = if host_cpu::computes(cp, res) {
        host_cpu::share(cp, res)
    } else {
        op_offload::cpu_share(cp, res)
    };
    let inputs = masks + rotations + small + mixed + (rows_e - 1) * gathered;
    let bytes = inputs + gathered.max(share);
    host_cpu::whole_blocks(cp, res).map_or(bytes, |w| w.max(bytes))
}

/// The file span of the tensors the host keeps (what stays mapped and resident: llama.cpp
/// unmaps the rest after uploading it): the token embedding, every block with a part on
/// the host (less the trailing weights `cut` of each moved into an extra buffer), the
/// output layer when it stays. Without the file's layout, the whole file once any block
/// part stays.
fn host_span(cp: &Cparams, res: &Residence, cut: &[u64]) -> u64 {
    let p = cp.profile;
    let file = p.file_bytes.max(p.tensor_data_bytes);
    let host_blocks: Vec<usize> = (0..res.parts.len())
        .filter(|&l| res.host_holds_part_of(l))
        .collect();
    let Some(sp) = &p.spans else {
        return if host_blocks.is_empty() {
            p.role_bytes(TensorRole::Embedding)
        } else {
            file
        };
    };
    let mut parts = vec![sp.embedding];
    parts.extend(
        host_blocks
            .iter()
            .filter_map(|&l| sp.layers.get(l).copied())
            .zip(host_blocks.iter())
            .map(|(s, &l)| {
                [
                    s[0],
                    s[1] - cut.get(l).copied().unwrap_or(0).min(s[1] - s[0]),
                ]
            }),
    );
    if res.place.output.is_none() {
        parts.push(sp.output);
    }
    let c = TensorSpans::covering(parts);
    c[1] - c[0]
}

/// Host weight bytes that stay there only by a tensor override (their block is on a GPU).
fn overridden_host_bytes(cp: &Cparams, res: &Residence) -> u64 {
    (0..res.parts.len())
        .filter(|&l| res.place.layers[l].is_some())
        .map(|l| {
            let lp = Residence::layer_parts(cp.profile, l);
            BlockPart::ALL
                .into_iter()
                .zip(res.parts[l])
                .filter(|(_, d)| d.is_none())
                .map(|(p, _)| match p {
                    BlockPart::Attention => lp.attention,
                    BlockPart::Ffn => lp.ffn,
                    BlockPart::Experts => lp.experts,
                    BlockPart::Other => lp.other,
                })
                .sum::<u64>()
        })
        .sum()
}

/// The host's components and buffers on a GPU run whose first GPU is `gpu0`.
pub fn host_process(
    cp: &Cparams,
    res: &Residence,
    gpu0: &dyn DeviceModel,
) -> (Components, Vec<EngineBuffer>) {
    let (profile, config) = (cp.profile, cp.config);
    let pinned = gpu0.host_buffer_name().unwrap_or_else(|| "CPU".into());
    let (all_weights, _) = res.weights_on(profile, None);
    let repack = host_repack(cp, res).unwrap_or_default();
    let weights = all_weights.saturating_sub(repack.moved);
    let mut buffers = Vec::new();
    if repack.bytes > 0 {
        buffers.push(EngineBuffer::new(
            BufferKind::Model,
            repack.name,
            repack.bytes,
        ));
    }
    let resident_weights = repack.bytes
        + if config.mmap {
            let span = host_span(cp, res, &repack.cut);
            buffers.push(EngineBuffer::new(BufferKind::Model, "CPU_Mapped", span));
            span
        } else {
            let overridden = overridden_host_bytes(cp, res);
            if config.no_host {
                // No pinned host buffer type for weights: a plain CPU buffer.
                buffers.push(EngineBuffer::new(BufferKind::Model, "CPU", weights));
            } else if cp.build.gpu.override_host_pinned {
                buffers.push(EngineBuffer::new(BufferKind::Model, &pinned, weights));
            } else {
                buffers.push(EngineBuffer::new(
                    BufferKind::Model,
                    &pinned,
                    weights.saturating_sub(overridden),
                ));
                if overridden > 0 {
                    buffers.push(EngineBuffer::new(BufferKind::Model, "CPU", overridden));
                }
            }
            weights
        };
    let n = profile.shape.n_layers as usize;
    let kv_layers: Vec<usize> = (0..n)
        .filter(|&l| !config.kv_offload || res.place.layers[l].is_none())
        .collect();
    let kv = kv_bytes_of(profile, config, &cp.kv, kv_layers.iter().copied());
    if kv > 0 {
        buffers.push(EngineBuffer::new(BufferKind::Kv, "CPU", kv));
    }
    let output = cp.n_seq * profile.shape.vocab * F32;
    let output_buft = if res.ngl_output.is_some() {
        pinned.as_str()
    } else {
        "CPU"
    };
    buffers.push(EngineBuffer::new(BufferKind::Output, output_buft, output));
    let mut compute = host_compute_bytes(cp, res);
    buffers.push(EngineBuffer::new(BufferKind::Compute, &pinned, compute));
    // The BLAS backend's buffer is a plain CPU one.
    let blas = super::blas::blas_compute_bytes(cp, res);
    if blas > 0 {
        buffers.push(EngineBuffer::new(BufferKind::Compute, "CPU", blas));
        compute += blas;
    }
    // Pinned buffers are resident whole (BLAS's plain one is counted whole too).
    let host = Components {
        weights: resident_weights,
        kv_cache: kv,
        activations: compute + output,
        overhead: process_bytes(cp) + gpu0.host_bytes(),
        headroom: 0,
    };
    (host, buffers)
}

/// The note of a run whose CPU computes graph parts in host memory itself
/// ([`host_cpu::computes`]: op offload off, a micro-batch under 32 tokens or
/// `--no-op-offload`, and no BLAS backend; see [`super::blas::HOST_ATTENTION_NOTE`] for
/// that case): the CPU backend's share of the pinned host compute buffer is estimated
/// ([`host_cpu`]) but no printed log has checked it. With op offload on, the first GPU
/// runs those parts ([`super::op_offload`]). The corpus replay reports that buffer of the
/// runs whose estimate carries the note and does not score it.
pub const HOST_BLOCKS_NOTE: &str = "graph parts in host memory that op offload leaves to the \
     CPU (blocks, parts of blocks, the output layer): the CPU backend's share of the pinned \
     host compute buffer is estimated from its graph (ggml's allocator replayed over the \
     host blocks, the live set of parts of blocks), not checked against a printed log";

/// [`HOST_BLOCKS_NOTE`] where it applies.
pub fn host_blocks_note(cp: &Cparams, res: &Residence) -> Option<String> {
    host_cpu::computes(cp, res).then(|| HOST_BLOCKS_NOTE.to_string())
}
