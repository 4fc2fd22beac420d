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
//!   [`repack`]), 2-D and merged-expert 3-D alike, are copied into a `CPU_REPACK`
//!   buffer of the same size; on builds with AMX, 2-D weights of the AMX types go first
//!   to an `AMX` buffer in a slightly larger VNNI layout. Under mmap the mapped pages stay
//!   as well, so the weights are held twice; without mmap those tensors are read into the
//!   extra buffer instead of the CPU buffer.
//! - **KV cache.** `-c` is padded to 256 cells; with `-np N` (not unified) each of the N
//!   streams has `pad(c / N, 256)` cells. Sliding-window layers keep
//!   `pad(min(cells, n_swa + n_ubatch), 256)` cells per stream. K and V rows are
//!   `kv_heads(layer) x head_dim` elements in the cache type; a multi-head latent
//!   attention model (DeepSeek-V3) caches K alone on builds from ≈b7870. The buffer is
//!   cleared at creation, so all of it is resident at once.
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

pub mod build;
pub mod compute_buffer;
pub mod context;
pub mod cparams;
pub mod ggml_alloc;
pub mod gpu;
pub mod graph;
pub mod graph_build;
pub mod kv_cache;
pub mod live_set;
pub mod malloc_heap;
pub mod model;
pub mod one_device;
pub mod repack;
pub mod server;
pub mod split;

pub use build::Family;

use crate::backend::memory_model::MemoryModel;
use crate::components::Estimate;
use crate::config::RunConfig;
use crate::error::Result;
use crate::profile::{ModelFormat, ModelProfile};

/// The analytic estimate of a llama.cpp-family engine: one machine ([`one_device`]) or a
/// split over several devices ([`split`]).
pub fn estimate(fam: &Family, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
    config.validate()?;
    profile.check_estimable()?;
    let on_gpus = match &config.split {
        Some(split) => split.on_gpus(),
        None => config.device.ordinal().is_some(),
    };
    if config.blas && !on_gpus {
        return Err(crate::error::Error::InvalidConfig(
            "--blas: the BLAS backend is modelled on GPU runs only (on a CPU-only or RPC \
             run it shares the graph with the CPU backend in a way memcal does not replay)"
                .into(),
        ));
    }
    let cp = cparams::Cparams::new(fam, profile, config);
    match &config.split {
        Some(split) if split.on_gpus() => gpu::estimate(&cp, split),
        Some(split) => split::estimate(&cp, split),
        None => match config.device.ordinal() {
            // One GPU: a split over it alone, named as llama.cpp names its first device.
            Some(_) => gpu::estimate(&cp, &one_gpu(config)?),
            None => one_device::estimate(&cp),
        },
    }
}

/// The run's one GPU as a split over it (llama.cpp numbers the devices it uses from 0).
fn one_gpu(config: &RunConfig) -> Result<crate::config::SplitOptions> {
    crate::config::SplitOptions::gpus(config.device, 1, &[1.0], Default::default())
}

/// Upstream llama.cpp (also under Ollama, LM Studio, llama-cpp-python): the rules of the
/// measured build nearest the one asked for (`--engine-build`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LlamaCpp;

impl MemoryModel for LlamaCpp {
    fn name(&self) -> &'static str {
        "llama.cpp"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["llama-cpp", "llamacpp", "llama_cpp"]
    }

    fn summary(&self) -> &'static str {
        "llama.cpp on CPUs and CUDA/ROCm GPUs: model buffers per buffer type (mapped file \
         pages, CPU_REPACK copies, padded GPU weights), padded KV cells incl. \
         sliding-window caches, compute buffers (ggml's allocator replayed; on a CPU the \
         touched part), output buffer, vocabulary and process base"
    }

    fn analytic(&self, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
        let (fam, note) = Family::upstream_for(config.engine_build);
        let mut est = estimate(&fam, profile, config)?;
        est.notes.extend(note);
        Ok(est)
    }

    fn load_problem(&self, profile: &ModelProfile) -> Option<String> {
        if profile.format == ModelFormat::Safetensors {
            return Some(gguf_only(self.name()));
        }
        profile.is_ternary().then(|| {
            "upstream llama.cpp has no I2_S/TL1/TL2 kernels: it cannot load this BitNet \
             file (use bitnet.cpp)"
                .into()
        })
    }

    fn rule_builds(&self) -> Vec<u32> {
        Family::UPSTREAM_BUILDS.iter().map(|(n, _)| *n).collect()
    }
}

/// bitnet.cpp: microsoft/BitNet on its 2024 llama.cpp fork.
#[derive(Debug, Clone, Copy, Default)]
pub struct BitnetCpp;

impl MemoryModel for BitnetCpp {
    fn name(&self) -> &'static str {
        "bitnet.cpp"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["bitnet-cpp", "bitnetcpp", "bitnet_cpp"]
    }

    fn summary(&self) -> &'static str {
        "bitnet.cpp (microsoft/BitNet's llama.cpp fork) CPU: I2_S kernels, the fork's KV \
         padding and buffers, no repacking"
    }

    fn analytic(&self, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
        estimate(&Family::BITNET_FORK, profile, config)
    }

    fn load_problem(&self, profile: &ModelProfile) -> Option<String> {
        if profile.format == ModelFormat::Safetensors {
            return Some(gguf_only(self.name()));
        }
        // (BitNet architectures are left to bitnet.cpp's own list: its releases move the
        // fork to commits that add them, e.g. `bitnet-b1.58`.)
        let arch = profile.shape.architecture.as_str();
        (!crate::gguf::is_bitnet_architecture(arch)
            && !build::BITNET_FORK_ARCHITECTURES.contains(&arch))
        .then(|| {
            format!(
                "bitnet.cpp's llama.cpp fork as measured (406a5036, build 3947) has no \
                 architecture {arch:?}: it will not load this file"
            )
        })
    }
}

/// The note of an engine that loads GGUF files only.
fn gguf_only(engine: &str) -> String {
    format!("{engine} loads GGUF files only; convert the checkpoint first")
}

#[cfg(test)]
mod tests {
    use super::cparams::Cparams;
    use super::graph::run_graphs;
    use super::kv_cache::kv_geometry;
    use super::model::{extra_buffer_bytes, repacked_bytes};
    use super::*;
    use crate::buffer::BufferKind;
    use crate::config::FlashAttn;
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
        // Older than every measured build: 10001's rules less what came after 9000.
        let (f, note) = Family::upstream_for(Some(9000));
        let note = note.unwrap();
        assert!(note.contains("using build 10001"), "{note}");
        assert!(
            note.contains("an F32 KV mask with flash attention"),
            "{note}"
        );
        assert!(!f.gpu.fa_f16_scratch && !f.gpu.kq_f32_pool && !f.gpu.fa_mask_f16);
        assert!(!f.server_limits_outputs && f.output_layer_first);
        let rules = Family::UPSTREAM_10001
            .extra_buffers
            .map(|r| r.at_build(9000));
        assert_eq!(f.extra_buffers, rules);
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
        let repack = repacked_bytes(&Cparams::new(&Family::UPSTREAM, &p, &cfg(4096, 1, 512)));
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
        let dup = extra_buffer_bytes(&Cparams::new(&Family::UPSTREAM, &p, &off)).duplicate;
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
            repacked_bytes(&Cparams::new(&Family::BITNET_FORK, &p, &cfg(4096, 1, 512))),
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
        let run = RunConfig {
            prompt: Some(1000),
            ..cfg(4096, 1, 384)
        };
        let g = run_graphs(&Cparams::new(&Family::UPSTREAM, &p, &run));
        let tokens: Vec<u64> = g.iter().map(|g| g.tokens).collect();
        assert_eq!(tokens, [384, 384, 232, 1]);
        assert_eq!(g[2].n_kv, 1024);
        assert_eq!(g[2].outputs, 1);
    }
}
