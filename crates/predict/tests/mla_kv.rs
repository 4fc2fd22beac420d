//! Multi-head latent attention (DeepSeek-V3's shape): the header's `key_length_mla` and
//! `value_length_mla` make the model MLA, and llama.cpp's cache then holds K and V apart on
//! older builds (b5331's log of DeepSeek-V3-0324, ik_llama.cpp discussion #394: "KV self
//! size = 2074.00 MiB, K (f16): 1098.00 MiB, V (f16): 976.00 MiB" at 16384 cells) and K
//! alone on builds with the V-less cache (ggml-org/llama.cpp#19067; b11434's
//! llama-kv-cache.cpp: `has_v = !is_mla`).

use memcal_predict::backend::Backend;
use memcal_predict::buffer::BufferKind;
use memcal_predict::config::FlashAttn;
use memcal_predict::ggml_type::GgmlType;
use memcal_predict::gguf::writer::GgufWriter;
use memcal_predict::gguf::GgufFile;
use memcal_predict::profile::ModelProfile;
use memcal_predict::RunConfig;
use std::path::Path;

const MIB: u64 = 1 << 20;

/// DeepSeek-V3's attention and sizes, with `mla` the two MLA keys (a file converted
/// before llama.cpp's MLA support has neither, and 128 KV heads of 192/128).
fn deepseek_v3(mla: bool) -> ModelProfile {
    let mut w = GgufWriter::new();
    let a = "deepseek2";
    let (kv_heads, k, v) = if mla { (1, 576, 512) } else { (128, 192, 128) };
    let u32s = [
        ("block_count", 61),
        ("context_length", 163840),
        ("embedding_length", 7168),
        ("feed_forward_length", 18432),
        ("attention.head_count", 128),
        ("attention.head_count_kv", kv_heads),
        ("attention.key_length", k),
        ("attention.value_length", v),
        ("expert_count", 256),
        ("expert_used_count", 8),
        ("expert_feed_forward_length", 2048),
        ("vocab_size", 129280),
    ];
    w.add_string("general.architecture", a).unwrap();
    for (key, val) in u32s {
        w.add_u32(&format!("{a}.{key}"), val).unwrap();
    }
    if mla {
        w.add_u32(&format!("{a}.attention.key_length_mla"), 192)
            .unwrap();
        w.add_u32(&format!("{a}.attention.value_length_mla"), 128)
            .unwrap();
    }
    w.add_tensor_info("token_embd.weight", &[7168, 129280], GgmlType::Q4K)
        .unwrap();
    w.add_tensor_info("output.weight", &[7168, 129280], GgmlType::Q6K)
        .unwrap();
    for l in 0..61 {
        let n = |s: &str| format!("blk.{l}.{s}");
        w.add_tensor_info(&n("attn_norm.weight"), &[7168], GgmlType::F32)
            .unwrap();
        w.add_tensor_info(&n("attn_kv_a_mqa.weight"), &[7168, 576], GgmlType::Q8_0)
            .unwrap();
        w.add_tensor_info(&n("ffn_up_exps.weight"), &[7168, 2048, 256], GgmlType::Q4K)
            .unwrap();
    }
    let bytes = w.header_bytes().unwrap();
    let (_, data) = w.layout().unwrap();
    let g = GgufFile::parse(Path::new("dsv3.gguf"), &bytes, bytes.len() as u64 + data).unwrap();
    memcal_predict::read::profile_from_gguf(&g).unwrap()
}

/// The KV buffer bytes llama.cpp (build `build`) holds for 16384 cells, f16, FA on.
fn kv(p: &ModelProfile, build: u32) -> u64 {
    let config = RunConfig {
        ctx: 16384,
        flash_attn: FlashAttn::On,
        engine_build: Some(build),
        ..RunConfig::default()
    };
    let est = Backend::LlamaCpp.analytic(p, &config).unwrap();
    est.buffers
        .iter()
        .filter(|b| b.component == BufferKind::Kv)
        .map(|b| b.bytes)
        .sum()
}

#[test]
fn an_mla_file_caches_k_and_v_before_the_v_less_cache_and_k_alone_after() {
    let p = deepseek_v3(true);
    let m = p
        .shape
        .mla
        .expect("key_length_mla and value_length_mla make it MLA");
    assert_eq!((m.k, m.v), (192, 128));
    // b5331 printed K 1098.00 + V 976.00 MiB.
    assert_eq!(kv(&p, 5331), (1098 + 976) * MIB);
    // The measured builds keep K alone: V is the first 512 of each latent row.
    assert_eq!(kv(&p, 11434), 1098 * MIB);
    assert_eq!(kv(&p, 10001), 1098 * MIB);
}

#[test]
fn a_file_without_the_mla_keys_caches_every_head() {
    let p = deepseek_v3(false);
    assert!(p.shape.mla.is_none());
    // 128 heads of 192 (K) and 128 (V) per cell, every build.
    let per_build = 61 * 16384 * 128 * (192 + 128) * 2;
    assert_eq!(kv(&p, 5331), per_build);
    assert_eq!(kv(&p, 11434), per_build);
}
