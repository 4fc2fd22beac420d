//! BitNet-rs's `bitnet run` on the CPU (EffortlessMetrics/BitNet-rs, measured at commit
//! f2ae3adc), from its source and measured against its peak RSS.
//!
//! Its memory has its own mechanisms, none of them llama.cpp's:
//!
//! - **Start-up reads the file several times.** A performance check reads it whole into
//!   the heap, metadata extraction maps it and hashes every page, and the loader maps it
//!   again and hashes it again; that mapping (the whole file, resident) stays until the
//!   load returns. The parsed metadata (about 32 bytes per array element plus a string
//!   chunk) lives as long.
//! - **The F16 token embedding becomes f32, twice.** It is transposed into an f32 vector
//!   (4 bytes x vocab x hidden) and copied into a tensor; both are live at once. This is
//!   the load peak: `file + 2 x E + metadata + base` with `E = 4 x vocab x hidden`, plus
//!   whatever was loaded before the embedding (nothing in microsoft's layout, where it
//!   comes first). A vocabulary under 32768 takes another path that keeps a second f32
//!   copy, and an untied F16 `output.weight` is converted too (and never used).
//! - **I2_S stays packed** (a heap copy at file size) beside an f32 placeholder of the
//!   dense shape that is allocated zeroed and never written: reserved, not resident,
//!   except that on the small-vocabulary path the K and V placeholders were measured
//!   resident (they come from reused heap memory, which calloc clears).
//! - **Norms become f32**; **RoPE sin/cos tables are built per layer** for the file's
//!   context (`layers x ctx x head_dim x 4` bytes).
//! - **The KV cache is f32 and grows by concatenation** with each generated token. A
//!   full-context f32 cache is preallocated zeroed and dropped at the first step; about
//!   half of it (the keys') was measured resident until then. There is no prefill: only
//!   the last prompt token runs, so the cache holds the generated tokens. Concatenation
//!   keeps old and new alive per layer; the heap fragments.
//! - **No context flag.** The context comes from `bitnet-b1.58.context_length` or
//!   `llama.context_length`; other architecture names (`bitnet`, what bitnet.cpp's
//!   converter writes) fall back to 2048 positions and 32 heads, with the KV heads
//!   inferred from the K projection at that head width: the same K width in more,
//!   narrower heads (measured on two `bitnet`-architecture shapes).
//!
//! The peak is the largest of the load peak, the end of the load (file still mapped,
//! model resident), the first step (model, RoPE, the touched part of the preallocated
//! cache) and the generation (model, RoPE, KV of the generated tokens).

use crate::backend::common::no_moe_note;
use crate::backend::memory_model::MemoryModel;
use crate::components::{headroom, Components, Estimate};
use crate::config::RunConfig;
use crate::error::Result;
use crate::profile::{ModelProfile, TensorRole};

const F32: u64 = 4;

/// Resident bytes of the process before the model: binary, libc, tokio and rayon
/// workers.
pub const PROCESS_BASE_BYTES: u64 = 12 << 20;
/// Bytes of parsed metadata per array element (`GgufValue`) and per string chunk.
pub const METADATA_BYTES_PER_ELEMENT: u64 = 32;
/// Below this vocabulary BitNet-rs takes its other embedding path: the [hidden, vocab]
/// tensor stays and a transposed f32 copy is made (two f32 copies held), and the K and V
/// projections' f32 placeholders were measured resident (calloc'd from reused heap).
pub const SMALL_VOCAB: u64 = 32768;
/// Transient and per-step buffers of a decode step (row copies of the packed weights,
/// GQA expansion, logits), bytes.
pub const DECODE_WORK_BYTES: u64 = 10 << 20;

/// The phases whose largest peak is the run's peak, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    /// Converting the embedding: mapped file, metadata, two f32 copies of it.
    pub load: u64,
    /// End of the load: mapped file, metadata and the whole model resident.
    pub loaded: u64,
    /// Before the first step: the model, RoPE tables and the touched part of the
    /// preallocated KV cache.
    pub first_step: u64,
    /// Generating: model, RoPE tables and the KV cache of the generated tokens.
    pub decode: u64,
}

/// The terms of BitNet-rs's memory for a profile and configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// f32 embedding, `4 x vocab x hidden`.
    pub embedding_f32: u64,
    /// f32 copies kept beyond the one embedding (small-vocabulary path, untied output).
    pub extra_f32_copies: u64,
    /// Packed ternary (and other kept-as-stored) weights.
    pub packed: u64,
    /// f32 placeholders measured resident: the K and V projections' on the
    /// small-vocabulary path (0 otherwise).
    pub resident_placeholders: u64,
    /// The part of the preallocated f32 KV cache that becomes resident before the first
    /// step drops it (measured: about half, the keys', which calloc clears in reused heap).
    pub kv_prealloc_touched: u64,
    /// Norms and other small tensors as f32.
    pub small_f32: u64,
    /// RoPE tables of every layer.
    pub rope: u64,
    /// KV cache of the generated tokens.
    pub kv: u64,
    /// Parsed metadata.
    pub metadata: u64,
    /// The mapped file.
    pub file: u64,
}

/// Context, query heads and KV heads the engine will use. It reads hyperparameters only
/// under the `bitnet-b1.58` and `llama` prefixes; for another architecture (`bitnet`, what
/// bitnet.cpp's converter writes) it falls back to 2048 positions and 32 heads, and infers
/// the KV heads from the K projection's rows at that head width (`extract_config`,
/// `infer_kv_heads_from_tensors`): the cache and the K/V placeholders keep the file's K
/// width, split into more, narrower heads.
fn engine_shape(profile: &ModelProfile) -> (u64, u64, u64) {
    let reads_keys = matches!(
        profile.shape.architecture.as_str(),
        "bitnet-b1.58" | "llama"
    );
    let ctx = if reads_keys && profile.shape.ctx_train > 0 {
        profile.shape.ctx_train
    } else {
        2048
    };
    let file_kv = profile.shape.max_kv_heads() as u64;
    if reads_keys {
        return (ctx, (profile.shape.n_heads as u64).max(1), file_kv);
    }
    let heads = 32;
    let head_dim = (profile.shape.hidden / heads).max(1);
    let kv = (file_kv * profile.shape.head_dim_k as u64 / head_dim).max(1);
    (ctx, heads, kv)
}

/// The terms for a configuration.
pub fn terms(profile: &ModelProfile, config: &RunConfig) -> Terms {
    let (ctx, heads, kv_heads) = engine_shape(profile);
    let head_dim = profile.shape.hidden / heads;
    let layers = profile.shape.n_layers as u64;
    let embedding_f32 = F32 * profile.shape.vocab * profile.shape.hidden;
    let emb_elems = profile
        .by_type
        .iter()
        .filter(|(t, _)| matches!(t.name(), "F16" | "F32" | "BF16"))
        .map(|(_, s)| s.elements)
        .sum::<u64>();
    let output_bytes = profile.role_bytes(TensorRole::Output);
    let untied_output = output_bytes > 0;
    // Elements of the embedding (and an untied output) among the float tensors.
    let big_float = profile.shape.vocab * profile.shape.hidden * if untied_output { 2 } else { 1 };
    let small_f32 = F32 * emb_elems.saturating_sub(big_float);
    let small_vocab = profile.shape.vocab < SMALL_VOCAB;
    let extra_f32_copies = embedding_f32 * (u64::from(small_vocab) + u64::from(untied_output));
    let kv_dim = kv_heads * head_dim;
    let resident_placeholders = if small_vocab {
        2 * layers * profile.shape.hidden * kv_dim * F32
    } else {
        0
    };
    // `KVCache::new` allocates `[1, kv_heads, ctx, head_dim]` f32 zeros for K and V of
    // every layer; about half of it was measured resident until the first step drops it.
    let kv_prealloc_touched = layers * kv_heads * ctx * head_dim * F32;
    let float_bytes: u64 = profile
        .by_type
        .iter()
        .filter(|(t, _)| matches!(t.name(), "F16" | "F32" | "BF16"))
        .map(|(_, s)| s.bytes)
        .sum();
    let packed = profile.tensor_data_bytes.saturating_sub(float_bytes);
    let rope = layers * ctx * head_dim * F32;
    // Generated tokens (the prompt's last token runs first); the planning case, a prompt
    // that fills the context, generates up to the context.
    let generated = match config.prompt {
        Some(_) => config.decode as u64,
        None => ctx,
    }
    .min(ctx);
    let kv = 2 * layers * kv_heads * head_dim * F32 * generated;
    let metadata =
        METADATA_BYTES_PER_ELEMENT * (4 * profile.header.tokens + 2 * profile.header.merges);
    let file = if profile.file_bytes > 0 {
        profile.file_bytes
    } else {
        profile.tensor_data_bytes
    };
    Terms {
        embedding_f32,
        extra_f32_copies,
        packed,
        resident_placeholders,
        kv_prealloc_touched,
        small_f32,
        rope,
        kv,
        metadata,
        file,
    }
}

/// The three phase peaks.
pub fn phases(t: &Terms) -> Phases {
    let base = PROCESS_BASE_BYTES;
    let model = model_bytes(t);
    Phases {
        load: base + t.metadata + t.file + 2 * t.embedding_f32,
        loaded: base + t.metadata + t.file + model,
        first_step: base + t.metadata + model + t.rope + t.kv_prealloc_touched,
        decode: base + t.metadata + model + t.rope + t.kv + DECODE_WORK_BYTES,
    }
}

/// What the loaded model holds: f32 embedding copies, packed weights, f32 norms and the
/// resident placeholders.
fn model_bytes(t: &Terms) -> u64 {
    t.embedding_f32 + t.extra_f32_copies + t.packed + t.small_f32 + t.resident_placeholders
}

/// The analytic estimate of BitNet-rs's memory (host only: its CUDA path is not modelled).
pub fn estimate(profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
    config.validate()?;
    profile.check_estimable()?;
    let t = terms(profile, config);
    let p = phases(&t);
    let peak = p.load.max(p.loaded).max(p.first_step).max(p.decode);
    let weights = model_bytes(&t);
    // What the engine holds while generating; the overhead is the rest of the peak: the
    // process base, the metadata and, when the load is the peak, its transients (the
    // mapped file, the second f32 copy of the embedding). The components add up to the
    // peak because the generation phase is never above it.
    let kv = t.kv;
    let activations = t.rope + DECODE_WORK_BYTES;
    let overhead = peak.saturating_sub(weights + kv + activations);
    let mut notes = vec![format!(
        "bitnet-rs: peak at {} (load {} MiB, end of load {} MiB, first step {} MiB, \
         generation {} MiB)",
        if p.load == peak {
            "load, converting the F16 embedding to f32 while the file is mapped"
        } else if p.loaded == peak {
            "the end of the load (file still mapped)"
        } else if p.first_step == peak {
            "the first step (the preallocated KV cache, before it is dropped)"
        } else {
            "generation"
        },
        p.load >> 20,
        p.loaded >> 20,
        p.first_step >> 20,
        p.decode >> 20
    )];
    let (ctx, _, _) = engine_shape(profile);
    if config.ctx as u64 != ctx {
        notes.push(format!(
            "bitnet-rs has no context flag: it uses the file's context, {ctx} positions"
        ));
    }
    if crate::device::for_device(config.device).holds_offloaded_layers() {
        notes.push("bitnet-rs on CUDA is not modelled: host figures only".into());
    }
    let host = Components {
        weights,
        kv_cache: kv,
        activations,
        overhead,
        headroom: headroom(peak, config.margin_pct),
    };
    Ok(Estimate {
        backend: "bitnet-rs".into(),
        config: config.clone(),
        gpu_layers: 0,
        host,
        gpu: None,
        calibration: None,
        notes,
        buffers: Vec::new(),
        devices: Vec::new(),
    })
}

/// BitNet-rs's `bitnet` CLI.
#[derive(Debug, Clone, Copy, Default)]
pub struct BitnetRs;

impl MemoryModel for BitnetRs {
    fn name(&self) -> &'static str {
        "bitnet-rs"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["bitnet_rs", "bitnetrs", "bitnet-rs-cli"]
    }

    fn summary(&self) -> &'static str {
        "BitNet-rs `bitnet run` CPU: f32 embedding conversion, packed I2_S beside f32 \
         placeholders, whole-file reads at start-up, f32 KV grown by concatenation"
    }

    fn analytic(&self, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
        estimate(profile, config)
    }

    fn load_problem(&self, profile: &ModelProfile) -> Option<String> {
        if let Some(note) = no_moe_note(self.name(), profile) {
            return Some(note);
        }
        if !profile.is_ternary() {
            return Some(
                "BitNet-rs runs BitNet b1.58 models; this model has no ternary weights".into(),
            );
        }
        // What the measured version's GGUF loader takes (f2ae3adc; later versions read
        // some classic types too; scripts/engines/README.md).
        const LOADS: [&str; 4] = ["I2_S", "IQ2_S", "F16", "F32"];
        let other: Vec<&str> = profile
            .by_type
            .keys()
            .map(|t| t.name())
            .filter(|t| !LOADS.contains(t))
            .collect();
        (!other.is_empty()).then(|| {
            format!(
                "BitNet-rs f2ae3adc (the measured version) loads {} tensors only: this file's \
                 {} tensors will not load there",
                LOADS.join("/"),
                other.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    #[test]
    fn a_bitnet_architecture_file_runs_with_32_narrower_heads_over_the_same_k_width() {
        // bitnet_b1_58-large's shape: 16 heads of 96, no GQA, trained context 2048.
        let mut p = presets::profile("bitnet-b1.58-2b-4t").unwrap();
        p.shape.architecture = "bitnet".into();
        p.shape.hidden = 1536;
        p.shape.n_heads = 16;
        p.shape.n_kv_heads = vec![16; p.shape.n_layers as usize];
        p.shape.head_dim_k = 96;
        p.shape.head_dim_v = 96;
        p.shape.ctx_train = 4096;
        // No `bitnet.*` key is read: 2048 positions, 32 heads of 48, KV heads inferred from
        // the K projection's 1536 rows.
        assert_eq!(engine_shape(&p), (2048, 32, 32));
        let t = terms(&p, &RunConfig::default());
        let layers = p.shape.n_layers as u64;
        assert_eq!(t.kv_prealloc_touched, layers * 1536 * 2048 * 4);
        assert_eq!(t.rope, layers * 2048 * 48 * 4);
        p.shape.architecture = "bitnet-b1.58".into();
        assert_eq!(engine_shape(&p), (4096, 16, 16));
    }

    #[test]
    fn the_2b_4t_shape_peaks_at_load_with_two_f32_embeddings_and_the_mapped_file() {
        let p = presets::profile("bitnet-b1.58-2b-4t").unwrap();
        let t = terms(&p, &RunConfig::default());
        assert_eq!(t.embedding_f32, 4 * 128_256 * 2560);
        let ph = phases(&t);
        assert!(ph.load > ph.loaded && ph.load > ph.decode, "{ph:?}");
        let e = estimate(
            &p,
            &RunConfig {
                margin_pct: 0.0,
                ..RunConfig::default()
            },
        )
        .unwrap();
        assert_eq!(e.host.total(), ph.load);
        // About 3.6 GiB: what BitNet-rs's own validation run reports for this model.
        let gib = ph.load as f64 / (1u64 << 30) as f64;
        assert!((3.4..3.8).contains(&gib), "{gib}");
    }
}
