//! The compute graph a device runs for its blocks, as the tensors ggml's allocator lays
//! out (`llama-graph.cpp`'s builders, in the order the engine visits them): the split's
//! inputs (with their pipeline copies), each block's attention and feed-forward, the output
//! head or the residual passed on. [`super::compute_buffer`] allocates it.

use super::ggml_alloc::Tensor;
use super::graph::Graph;
use super::kv_cache::KvGeometry;
use crate::profile::ModelProfile;

mod block;

const F32: u64 = 4;
/// Alignment of a CPU buffer's tensors (and an RPC worker's).
pub const CPU_ALIGN: u64 = 32;

/// What one device of a split holds, as its graph sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSplit {
    /// The blocks it computes, in order.
    pub blocks: Vec<usize>,
    /// Whether its first block is block 0 (its input is the token embeddings).
    pub first: bool,
    /// Whether it computes the output layer.
    pub output: bool,
    /// Whether this is the client that keeps no block (its CPU holds the graph's inputs
    /// and gathers the embedding rows; `blocks` is then empty).
    pub client: bool,
    /// Whether the block before its first one runs on the client's CPU: the scheduler then
    /// hands it that block's last residual add, so it receives the add's two operands.
    pub after_cpu: bool,
    /// Copies of each split input the scheduler keeps (4 with pipeline parallelism, else 1).
    pub copies: u32,
    /// Whether the embeddings arrive with the build's mixed-embedding inputs (build 11434:
    /// the embeddings, a second embedding row set, its slot ids and a duplicate).
    pub mixed_embd_inputs: bool,
    /// Whether attention runs as flash attention (one fused node, an f16 mask).
    pub flash_attn: bool,
    /// The Hadamard rotations of a quantized KV cache: the sizes of the K and V rotation
    /// matrices (0: none). See [`super::cparams::kv_rotation`].
    pub rotation: (u64, u64),
    /// Alignment of the device's buffer (32 on a CPU, 128 on a GPU).
    pub align: u64,
    /// Tokens a KV mask's rows are padded to (the build's `GGML_KQ_MASK_PAD`).
    pub mask_pad: u64,
    /// Whether each flash-attention node holds the F16 copies of a quantized K and V
    /// (ggml-cuda's FLASH_ATTN_EXT alloc size from b9295).
    pub fa_f16_scratch: bool,
    /// Whether a fused gate/up projection's SwiGLU is one node (the build's
    /// [`super::build::Family::glu_op`]).
    pub glu_op: bool,
    /// Whether a fused QKV product's Q, K and V are views of it (the build's
    /// [`super::build::Family::qkv_views`]) rather than copies of its slices.
    pub qkv_views: bool,
    /// Whether flash attention reads an F16 cast of an F32 mask input (builds before
    /// [`super::build::GpuRules::fa_mask_f16`]): the cast is a node of the device that
    /// first attends, computed there and held to its last attention, and the F32 input
    /// it is cast from is freed after it.
    pub mask_cast: bool,
    /// The host blocks this device computes by op offload, one per leading entry of
    /// `blocks` (the first GPU with a micro-batch of 32 or more: see [`HostBlock`]);
    /// empty for a device that computes only its own blocks.
    pub host: Vec<HostBlock>,
}

/// What a block kept in host memory brings into the GPU that computes it by op offload.
///
/// With a micro-batch of at least `GGML_OP_OFFLOAD_MIN_BATCH` (32) tokens, ggml's
/// scheduler gives every operation on a weight in host memory to the first GPU
/// (`ggml_backend_sched_backend_id_from_cur`, "1.off"), and its expansion passes give that
/// GPU the block's other operations; only the KV stores stay on the CPU, whose cache they
/// write (and the products of weights the CPU repacked, which are not host memory to the
/// scheduler). The GPU then holds a copy of each weight for its product (a split of its own
/// starts at each such weight, so one copy at a time) and copies of the block's K and V
/// cache views for its attention (seen as split inputs in the `GGML_SCHED` dump of
/// ggml-org/llama.cpp#25800).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostBlock {
    /// Bytes of the weight copy each product reads (0: no copy, the product runs on the
    /// CPU and its result arrives as a copy of the same size).
    pub weights: ProductWeights,
    /// Bytes of the copy of the block's K cache view.
    pub k_view: u64,
    /// Bytes of the copy of the block's V cache view.
    pub v_view: u64,
}

/// Bytes of the weight of each of a block's products.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProductWeights {
    /// The query projection (or the fused QKV projection).
    pub q: u64,
    /// The key projection.
    pub k: u64,
    /// The value projection.
    pub v: u64,
    /// The attention output projection.
    pub o: u64,
    /// The feed-forward gate.
    pub gate: u64,
    /// The feed-forward up projection (or the fused gate/up, or an ungated FFN's one).
    pub up: u64,
    /// The feed-forward down projection.
    pub down: u64,
}

/// A device's graph as tensors, with which of them are copies of the split's inputs.
pub(crate) struct Plan {
    pub(crate) tensors: Vec<Tensor>,
    /// Whether tensor j is a copy of an input.
    pub(crate) is_copy: Vec<bool>,
    /// The tensors of each input copy.
    pub(crate) copy_of: Vec<Vec<usize>>,
    /// Whether tensor j is never computed (a branch the graph does not select).
    pub(crate) idle: Vec<bool>,
}

struct Builder {
    plan: Plan,
    /// The F16 cast of each attention kind's mask, once made ([`WorkerSplit::mask_cast`]).
    casts: [Option<usize>; 2],
}

impl Builder {
    fn push(&mut self, t: Tensor) -> usize {
        self.plan.tensors.push(t);
        self.plan.is_copy.push(false);
        self.plan.idle.push(false);
        self.plan.tensors.len() - 1
    }

    /// The F16 cast of attention kind `kind`'s F32 `mask` input, made at its first use
    /// (half the input's bytes), the same node for every later block.
    fn mask_cast(&mut self, kind: usize, mask: usize) -> usize {
        if let Some(c) = self.casts[kind] {
            return c;
        }
        let bytes = self.plan.tensors[mask].bytes / 2;
        let c = self.node(bytes, vec![mask], false);
        self.casts[kind] = Some(c);
        c
    }

    fn node(&mut self, bytes: u64, srcs: Vec<usize>, inplace: bool) -> usize {
        self.push(Tensor::node(bytes, srcs, inplace))
    }

    /// A product of `x` of `bytes`, reading the copy of its `weight` where one is made
    /// (op offload of a host weight: allocated at the start of the product's split and
    /// freed after it).
    fn product(&mut self, bytes: u64, x: usize, weight: u64) -> usize {
        if weight == 0 {
            return self.node(bytes, vec![x], false);
        }
        let w = self.node(weight, Vec::new(), false);
        self.node(bytes, vec![x, w], false)
    }

    /// A projection of `x` and the first operation over its reshaped view (RoPE with
    /// `pos`, or a q/k norm) in a tensor of its own: ggml never reuses a view's memory in
    /// place, so both exist until the projection is freed.
    fn projected(&mut self, bytes: u64, x: usize, pos: usize, weight: u64) -> usize {
        let m = self.product(bytes, x, weight);
        self.node(bytes, vec![m, pos], false)
    }
}

/// Bytes of one mask over `n_kv` cells for `t` tokens in `streams` streams.
fn mask_bytes(n_kv: u64, t: u64, streams: u64, flash_attn: bool, pad: u64) -> u64 {
    let pad = pad.max(1);
    let s = streams.clamp(1, t.max(1));
    let rows = t.div_ceil(s).div_ceil(pad) * pad * s;
    n_kv * rows * if flash_attn { 2 } else { F32 }
}

/// How an architecture's graph scales the token embeddings before its first block, on the
/// device that computes that block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EmbdScale {
    /// Not scaled.
    None,
    /// A scale operation over the embeddings (Gemma and Gemma 2 by `sqrt(n_embd)`, Granite
    /// by its `embedding_scale`; Gemma 3 before the mixed-embedding inputs).
    Op,
    /// A multiplication by a per-row scale input (`inp_scale_rows`: Gemma 3 and later with
    /// the mixed-embedding inputs, which scale token rows only).
    Rows,
}

/// The embedding scale of `arch` (read from llama.cpp's graph builders: which call
/// `build_inp_embd` with a scale, or scale its result).
fn embedding_scale(arch: &str, mixed_embd_inputs: bool) -> EmbdScale {
    match arch {
        "gemma3" | "gemma3n" | "gemma4" | "gemma-embedding" if mixed_embd_inputs => EmbdScale::Rows,
        "gemma" | "gemma2" | "gemma3" | "gemma3n" | "gemma-embedding" | "granite"
        | "granitemoe" | "granitehybrid" => EmbdScale::Op,
        _ => EmbdScale::None,
    }
}

/// Whether llama.cpp's graph for `arch` normalises with LayerNorm (`LLM_NORM`, a
/// `GGML_OP_NORM`, which ggml-alloc never computes in place) rather than an RMS norm: the
/// builders in src/models of build 11434 that call `build_norm` with `LLM_NORM` only.
fn layer_norm(arch: &str) -> bool {
    matches!(
        arch,
        "bert"
            | "bloom"
            | "codeshell"
            | "cohere2"
            | "command-r"
            | "dbrx"
            | "falcon"
            | "gpt2"
            | "gptneox"
            | "jais"
            | "jais2"
            | "modern-bert"
            | "mpt"
            | "nemotron"
            | "olmo"
            | "orion"
            | "phi2"
            | "stablelm"
            | "starcoder"
            | "starcoder2"
    )
}

/// Where the inputs of each attention kind (`[full, sliding]`) sit in an input list.
struct AttnInputs {
    mask: [usize; 2],
    idx: [usize; 2],
    rot: [[usize; 2]; 2],
}

/// Appends each attention kind's inputs, in order of first use: the rotation matrices of
/// a quantized cache, the K and V cell indices, the mask.
fn attn_inputs(
    inputs: &mut Vec<u64>,
    kinds: &[bool],
    split: &WorkerSplit,
    geo: &KvGeometry,
    g: Graph,
    swa_kv: u64,
) -> AttnInputs {
    let t = g.tokens.max(1);
    let mut at = AttnInputs {
        mask: [usize::MAX; 2],
        idx: [usize::MAX; 2],
        rot: [[usize::MAX; 2]; 2],
    };
    for &k in kinds {
        let kv = if k { swa_kv } else { g.n_kv };
        for (r, &n) in [split.rotation.0, split.rotation.1].iter().enumerate() {
            if n > 0 {
                at.rot[usize::from(k)][r] = inputs.len();
                inputs.push(n * n * F32);
            }
        }
        at.idx[usize::from(k)] = inputs.len();
        inputs.extend([t * 8, t * 8]);
        at.mask[usize::from(k)] = inputs.len();
        inputs.push(mask_bytes(
            kv,
            t,
            geo.streams,
            split.flash_attn && !split.mask_cast,
            split.mask_pad,
        ));
    }
    at
}

/// The attention kinds (`true`: sliding window) of `blocks`, in order of first use.
fn attention_kinds(profile: &ModelProfile, blocks: &[usize]) -> Vec<bool> {
    let mut kinds: Vec<bool> = Vec::new();
    for &l in blocks {
        let swa = profile.shape.is_swa(l);
        if !kinds.contains(&swa) {
            kinds.push(swa);
        }
    }
    kinds
}

/// The client's part of a split's graph when it keeps no block: every graph input (the
/// scheduler keeps `copies` of each on the CPU, never freed) and the embedding rows it
/// gathers for the first device. The inputs are those of the whole model: tokens, the
/// embedding and mixed-embedding inputs, a row scale, positions, each attention kind's
/// rotations, cell indices and mask, and the output row ids.
fn build_client(profile: &ModelProfile, split: &WorkerSplit, geo: &KvGeometry, g: Graph) -> Plan {
    let t = g.tokens.max(1);
    let d = profile.shape.hidden;
    let copies = split.copies.max(1) as usize;
    let mut b = Builder {
        plan: Plan {
            tensors: Vec::new(),
            is_copy: Vec::new(),
            copy_of: vec![Vec::new(); copies],
            idle: Vec::new(),
        },
        casts: [None; 2],
    };
    let mut inputs: Vec<u64> = vec![t * 4, t * d * F32];
    let mixed_tokens = inputs.len();
    if split.mixed_embd_inputs {
        inputs.extend([t * 4, t * 8, t * d * F32]);
    }
    if embedding_scale(&profile.shape.architecture, split.mixed_embd_inputs) == EmbdScale::Rows {
        inputs.push(t * F32);
    }
    inputs.push(t * 4);
    let blocks: Vec<usize> = (0..profile.shape.n_layers as usize).collect();
    let kinds = attention_kinds(profile, &blocks);
    let swa_kv = g.n_kv.min(geo.swa_cells.max(1));
    attn_inputs(&mut inputs, &kinds, split, geo, g, swa_kv);
    inputs.push(t * 4);
    // The engine writes only the inputs of the batch's kind: token batches leave the
    // embedding inputs and the mixed path's inputs unwritten (the copies sent to the
    // first device read untouched pages).
    let unwritten = 1..mixed_tokens + if split.mixed_embd_inputs { 3 } else { 0 };
    let mut first_copy = Vec::with_capacity(inputs.len());
    for c in 0..copies {
        for (k, &bytes) in inputs.iter().enumerate() {
            let i = b.push(Tensor::input(bytes, copies > 1));
            b.plan.is_copy[i] = true;
            b.plan.idle[i] = unwritten.contains(&k);
            b.plan.copy_of[c].push(i);
            if c == 0 {
                first_copy.push(i);
            }
        }
    }
    // The token rows, then (not computed for token batches) the mixed path's rows; the
    // first device copies them, so nothing here reads them again.
    b.node(t * d * F32, vec![first_copy[0]], false);
    if split.mixed_embd_inputs {
        let rows = b.node(t * d * F32, vec![first_copy[mixed_tokens]], false);
        b.plan.idle[rows] = true;
    }
    b.plan
}

/// The sizes one graph's tensors are made of.
struct Dims {
    /// Tokens.
    t: u64,
    d: u64,
    h: u64,
    dk: u64,
    dv: u64,
    f: u64,
    /// Rows of logits computed.
    out_rows: u64,
    /// Cells a full-attention block attends.
    n_kv: u64,
    /// Cells a sliding-window block attends.
    swa_kv: u64,
    /// Whether the KV lives in two caches (full and sliding-window), whose attention
    /// builds its nodes in another order.
    iswa: bool,
    /// Whether the norms are LayerNorms (see [`layer_norm`]), which ggml computes into a
    /// tensor of their own where an RMS norm may reuse its input's memory.
    layer_norm: bool,
}

impl Dims {
    fn new(profile: &ModelProfile, geo: &KvGeometry, g: Graph) -> Dims {
        let s = &profile.shape;
        let t = g.tokens.max(1);
        Dims {
            t,
            d: s.hidden,
            h: u64::from(s.n_heads),
            dk: u64::from(s.head_dim_k),
            dv: u64::from(s.head_dim_v),
            f: s.ffn,
            out_rows: g.outputs.min(t),
            n_kv: g.n_kv,
            swa_kv: g.n_kv.min(geo.swa_cells.max(1)),
            iswa: s.has_swa_cache(),
            layer_norm: layer_norm(&s.architecture),
        }
    }
}

/// Where a device's inputs sit in its tensor list (their first copy, which the graph
/// reads).
struct DeviceInputs {
    first_copy: Vec<usize>,
    residual_in: usize,
    embd_in: usize,
    residual_parts: bool,
    scale: EmbdScale,
    scale_rows_in: usize,
    pos_in: usize,
    attn: AttnInputs,
    out_ids_in: usize,
}

/// The split's inputs, in the order its blocks first use them, each in every copy the
/// scheduler keeps.
fn device_inputs(
    b: &mut Builder,
    profile: &ModelProfile,
    split: &WorkerSplit,
    geo: &KvGeometry,
    g: Graph,
    dims: &Dims,
) -> DeviceInputs {
    let (t, d) = (dims.t, dims.d);
    let mut inputs: Vec<u64> = Vec::new();
    let residual_in = inputs.len();
    if split.first && split.mixed_embd_inputs {
        inputs.extend([t * d * F32, t * d * F32, t * 8]);
    }
    let embd_in = inputs.len();
    inputs.push(t * d * F32);
    let residual_parts = split.after_cpu && !split.first;
    if residual_parts {
        inputs.push(t * d * F32);
    }
    let scale = if split.first {
        embedding_scale(&profile.shape.architecture, split.mixed_embd_inputs)
    } else {
        EmbdScale::None
    };
    let scale_rows_in = inputs.len();
    if scale == EmbdScale::Rows {
        inputs.push(t * F32);
    }
    let pos_in = inputs.len();
    inputs.push(t * 4);
    // KV indices and the mask of each attention kind, by first use.
    let kinds = attention_kinds(profile, &split.blocks);
    let attn = attn_inputs(&mut inputs, &kinds, split, geo, g, dims.swa_kv);
    let out_ids_in = inputs.len();
    if split.output && !split.blocks.is_empty() {
        inputs.push(dims.out_rows.max(1) * 4);
    }
    // Every copy of every input; the graph reads the first.
    let copies = split.copies.max(1) as usize;
    let mut first_copy = Vec::with_capacity(inputs.len());
    for c in 0..copies {
        for &bytes in &inputs {
            let i = b.push(Tensor::input(bytes, copies > 1));
            b.plan.is_copy[i] = true;
            b.plan.copy_of[c].push(i);
            if c == 0 {
                first_copy.push(i);
            }
        }
    }
    DeviceInputs {
        first_copy,
        residual_in,
        embd_in,
        residual_parts,
        scale,
        scale_rows_in,
        pos_in,
        attn,
        out_ids_in,
    }
}

/// The tensors of the graph `g` a device of a split runs, in the engine's node order.
pub(crate) fn build(
    profile: &ModelProfile,
    split: &WorkerSplit,
    geo: &KvGeometry,
    g: Graph,
) -> Plan {
    if split.client {
        return build_client(profile, split, geo, g);
    }
    let dims = Dims::new(profile, geo, g);
    let (t, d) = (dims.t, dims.d);
    let mut b = Builder {
        plan: Plan {
            tensors: Vec::new(),
            is_copy: Vec::new(),
            copy_of: vec![Vec::new(); split.copies.max(1) as usize],
            idle: Vec::new(),
        },
        casts: [None; 2],
    };
    let inp = device_inputs(&mut b, profile, split, geo, g, &dims);
    let input = |k: usize| inp.first_copy[k];
    if split.first && split.mixed_embd_inputs {
        // The duplicate the mixed embeddings are scattered from.
        // Token batches select the token path: the mixed path's nodes are not computed.
        let dup = b.node(t * d * F32, vec![input(inp.residual_in + 1)], false);
        b.plan.idle[dup] = true;
        // The rows are set in place (a view of the duplicate nothing reads: it is never
        // freed).
        b.push(Tensor {
            srcs: vec![dup, input(inp.residual_in), input(inp.residual_in + 2)],
            ..Tensor::view(dup, t * d * F32)
        });
    }
    let mut x = input(inp.embd_in);
    match inp.scale {
        EmbdScale::None => {}
        EmbdScale::Op => x = b.node(t * d * F32, vec![x], true),
        EmbdScale::Rows => x = b.node(t * d * F32, vec![x, input(inp.scale_rows_in)], true),
    }
    if inp.residual_parts {
        x = b.node(t * d * F32, vec![x, input(inp.embd_in + 1)], true);
    }
    let last = split.blocks.len().saturating_sub(1);
    for (n, &l) in split.blocks.iter().enumerate() {
        x = block::block(
            &mut b,
            profile,
            split,
            &inp,
            &dims,
            l,
            x,
            n == last && split.output,
            split.host.get(n),
        );
    }
    if split.output {
        let rows = if split.blocks.is_empty() {
            t
        } else {
            dims.out_rows
        };
        let normed = b.node(rows * d * F32, vec![x], !dims.layer_norm);
        b.push(Tensor {
            output: true,
            ..Tensor::node(rows * profile.shape.vocab * F32, vec![normed], false)
        });
    } else {
        // The last residual is copied to the next device.
        b.push(Tensor::external(vec![x]));
    }
    b.plan
}
