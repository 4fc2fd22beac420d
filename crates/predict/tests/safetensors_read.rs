//! SafeTensors headers (single and sharded) with config.json: profiles exact to the byte,
//! BitNet packed U8 weights, and the validation huggingface/safetensors applies.

#[path = "../../formats/tests/support/mod.rs"]
mod support;

use memcal_predict::profile::{ModelFormat, TensorRole};
use memcal_predict::read::load_profile;
use memcal_predict::safetensors::{Dtype, SafeTensorsFile};
use memcal_predict::weight_type::PACKED_TERNARY;
use serde_json::json;
use std::path::Path;
use support::{hf_llama_tensors, st_file, st_header, tempdir, write_st};

fn as_refs<'a>(
    t: &'a [(String, &'static str, Vec<u64>)],
) -> Vec<(&'a str, &'static str, Vec<u64>)> {
    t.iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.clone()))
        .collect()
}

fn llama_config(layers: u64, tied: bool) -> serde_json::Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "num_hidden_layers": layers,
        "hidden_size": 128,
        "intermediate_size": 352,
        "vocab_size": 1000,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": tied,
        "torch_dtype": "bfloat16"
    })
}

#[test]
fn single_file_profile_is_exact() {
    let dir = tempdir();
    let tensors = hf_llama_tensors(3, 128, 64, 352, 1000, false);
    let len = write_st(&dir.path().join("model.safetensors"), &as_refs(&tensors));
    std::fs::write(
        dir.path().join("config.json"),
        llama_config(3, false).to_string(),
    )
    .expect("config");
    let p = load_profile(dir.path()).expect("profile of the directory");
    assert_eq!(p.format, ModelFormat::Safetensors);
    assert_eq!(p.shape.architecture, "llama");
    assert_eq!(
        (p.shape.n_layers, p.shape.hidden, p.shape.n_heads),
        (3, 128, 4)
    );
    assert_eq!(p.shape.n_kv_heads, vec![2, 2, 2]);
    assert_eq!((p.shape.head_dim_k, p.shape.head_dim_v), (32, 32));
    assert_eq!(
        (p.shape.ffn, p.shape.vocab, p.shape.ctx_train),
        (352, 1000, 2048)
    );
    assert!(!p.shape.tied_embeddings);
    let elems: u64 = tensors
        .iter()
        .map(|(_, _, s)| s.iter().product::<u64>())
        .sum();
    assert_eq!(p.n_params, elems);
    assert_eq!(p.tensor_data_bytes, elems * 2);
    assert_eq!(p.file_bytes, len);
    assert_eq!(p.dominant_name(), "BF16");
    assert_eq!(p.by_type["BF16"].tensors, tensors.len() as u64);
    let layer = 2 * (2 * 128 + 2 * 128 * 128 + 2 * 64 * 128 + 3 * 352 * 128);
    assert_eq!(p.layer_bytes, vec![layer; 3]);
    assert_eq!(p.role_bytes(TensorRole::Output), 1000 * 128 * 2);
    assert_eq!(p.role_bytes(TensorRole::Embedding), 1000 * 128 * 2);
    assert_eq!(p.largest_tensor_elements, 128_000);
}

#[test]
fn sharded_index_profile_matches_the_single_file() {
    let dir = tempdir();
    let tensors = hf_llama_tensors(2, 128, 64, 352, 1000, true);
    let (a, b) = tensors.split_at(7);
    write_st(
        &dir.path().join("model-00001-of-00002.safetensors"),
        &as_refs(a),
    );
    write_st(
        &dir.path().join("model-00002-of-00002.safetensors"),
        &as_refs(b),
    );
    let mut map = serde_json::Map::new();
    for (n, _, _) in a {
        map.insert(n.clone(), json!("model-00001-of-00002.safetensors"));
    }
    for (n, _, _) in b {
        map.insert(n.clone(), json!("model-00002-of-00002.safetensors"));
    }
    let total: u64 = tensors
        .iter()
        .map(|(_, _, s)| s.iter().product::<u64>() * 2)
        .sum();
    let index = json!({"metadata": {"total_size": total}, "weight_map": map});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .expect("index");
    std::fs::write(
        dir.path().join("config.json"),
        llama_config(2, true).to_string(),
    )
    .expect("config");
    let p = load_profile(dir.path()).expect("sharded profile");
    assert_eq!(p.tensor_data_bytes, total);
    assert!(p.shape.tied_embeddings);
    assert_eq!(p.by_type["BF16"].tensors, tensors.len() as u64);
    assert!(
        p.notes.iter().all(|n| !n.contains("total_size")),
        "{:?}",
        p.notes
    );

    // An index naming a tensor its shard does not hold is an error.
    map.insert(
        "model.extra.weight".into(),
        json!("model-00001-of-00002.safetensors"),
    );
    let bad = json!({"weight_map": map});
    let idx = dir.path().join("model.safetensors.index.json");
    std::fs::write(&idx, bad.to_string()).expect("index");
    let e = load_profile(&idx).expect_err("missing tensor").to_string();
    assert!(e.contains("model.extra.weight"), "{e}");

    // Shard names may not leave the index's directory.
    let evil = json!({"weight_map": {"x": "../x.safetensors"}});
    std::fs::write(&idx, evil.to_string()).expect("index");
    let e = load_profile(&idx).expect_err("path traversal").to_string();
    assert!(e.contains("not a plain file name"), "{e}");
}

#[test]
fn bitnet_packed_u8_checkpoint() {
    // bitnet-b1.58-2B-4T style: ternary projections packed 4 per byte as U8
    // [out/4, in] with a per-projection weight_scale, BF16 embeddings and norms.
    let (h, kv, f, v, layers) = (256u64, 64u64, 512u64, 1000u64, 2u64);
    let mut t: Vec<(String, &str, Vec<u64>)> =
        vec![("model.embed_tokens.weight".into(), "BF16", vec![v, h])];
    for l in 0..layers {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        for (name, out, inp) in [
            ("self_attn.q_proj", h, h),
            ("self_attn.k_proj", kv, h),
            ("self_attn.v_proj", kv, h),
            ("self_attn.o_proj", h, h),
            ("mlp.gate_proj", f, h),
            ("mlp.up_proj", f, h),
            ("mlp.down_proj", h, f),
        ] {
            t.push((p(&format!("{name}.weight")), "U8", vec![out / 4, inp]));
            t.push((p(&format!("{name}.weight_scale")), "BF16", vec![1]));
        }
        t.push((p("input_layernorm.weight"), "BF16", vec![h]));
        t.push((p("self_attn.attn_sub_norm.weight"), "BF16", vec![h]));
        t.push((p("post_attention_layernorm.weight"), "BF16", vec![h]));
        t.push((p("mlp.ffn_sub_norm.weight"), "BF16", vec![f]));
    }
    t.push(("model.norm.weight".into(), "BF16", vec![h]));
    let dir = tempdir();
    write_st(&dir.path().join("model.safetensors"), &as_refs(&t));
    let cfg = json!({
        "architectures": ["BitNetForCausalLM"], "model_type": "bitnet",
        "num_hidden_layers": layers, "hidden_size": h, "intermediate_size": f,
        "vocab_size": v, "num_attention_heads": 4, "num_key_value_heads": 1,
        "max_position_embeddings": 4096, "tie_word_embeddings": true,
        "quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear"}
    });
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("config");
    let p = load_profile(&dir.path().join("model.safetensors")).expect("profile");
    let packed = p.by_type[PACKED_TERNARY];
    let weights = layers * (2 * h * h + 2 * kv * h + 3 * f * h);
    assert_eq!(packed.tensors, 14);
    assert_eq!(packed.bytes, weights / 4, "2 bits per weight, exact");
    assert_eq!(packed.elements, weights, "4 weights per stored byte");
    assert!(!p.by_type.contains_key("U8"));
    assert_eq!(p.by_type["BF16"].tensors, 1 + layers * (7 + 4) + 1);
    assert_eq!(p.shape.head_dim_k, 64);
    assert_eq!(p.shape.n_kv_heads, vec![1, 1]);
    assert!(p
        .notes
        .iter()
        .any(|n| n.contains("4 ternary weights per byte")));
}

#[test]
fn config_variants() {
    use memcal_predict::hf_config::HfConfig;
    let parse =
        |v: serde_json::Value| HfConfig::parse(Path::new("config.json"), v.to_string().as_bytes());
    // text_config nesting, explicit head_dim, layer_types, MoE.
    let c = parse(json!({
        "model_type": "llava",
        "text_config": {
            "model_type": "mixtral", "num_hidden_layers": 4, "hidden_size": 512,
            "num_attention_heads": 8, "head_dim": 128, "num_local_experts": 8,
            "num_experts_per_tok": 2, "intermediate_size": 1024, "sliding_window": 4096,
            "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]
        }
    }))
    .expect("nested config");
    assert_eq!(c.model_type.as_deref(), Some("mixtral"));
    assert_eq!((c.head_dim, c.head_dim_explicit), (128, true));
    assert_eq!(c.n_kv_heads, vec![8; 4], "defaults to the query heads");
    assert_eq!(c.sliding_layers, vec![true, false, true, false]);
    assert_eq!((c.n_experts, c.n_experts_used), (Some(8), Some(2)));
    // gemma3-style pattern, and use_sliding_window=false (qwen2) disabling the window.
    let g = parse(
        json!({"model_type": "gemma3_text", "num_hidden_layers": 6, "hidden_size": 64,
        "num_attention_heads": 2, "sliding_window": 512, "sliding_window_pattern": 3}),
    )
    .expect("gemma3");
    assert_eq!(g.sliding_layers, vec![true, true, false, true, true, false]);
    let q = parse(
        json!({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2,
        "sliding_window": 512, "use_sliding_window": false}),
    )
    .expect("qwen2");
    assert_eq!(q.sliding_window, None);
    for (bad, want) in [
        (
            json!({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 0}),
            "must all be non-zero",
        ),
        (
            json!({"num_hidden_layers": 2, "hidden_size": 65, "num_attention_heads": 2}),
            "not divisible",
        ),
        (
            json!({"num_hidden_layers": 2, "hidden_size": 64}),
            "missing num_attention_heads",
        ),
        (
            json!({"num_hidden_layers": "2", "hidden_size": 64, "num_attention_heads": 2}),
            "must be a non-negative integer",
        ),
        (
            json!({"num_hidden_layers": 4000000000u64, "hidden_size": 64, "num_attention_heads": 2}),
            "is beyond",
        ),
        (
            json!({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2, "num_key_value_heads": [1]}),
            "lists 1 layers",
        ),
        (json!([1, 2]), "not a JSON object"),
    ] {
        let e = parse(bad).expect_err(want).to_string();
        assert!(e.contains(want), "{want:?} not in {e:?}");
    }
}

fn st_err(bytes: &[u8]) -> String {
    SafeTensorsFile::parse(Path::new("x.safetensors"), bytes, bytes.len() as u64)
        .expect_err("invalid")
        .to_string()
}

#[test]
fn validation_matches_huggingface_safetensors() {
    let good = |h: &str, n: u64| st_file(h, n);
    let (h, n) = st_header(&[("a", "F32", vec![2, 3]), ("b", "F16", vec![5])]);
    let ok = SafeTensorsFile::parse(Path::new("ok"), &good(&h, n), 0).expect("valid");
    assert_eq!(ok.tensors.len(), 2);
    assert_eq!(ok.tensors[1].dtype, Dtype::F16);
    assert_eq!(ok.metadata.get("format").map(String::as_str), Some("pt"));
    assert_eq!(ok.tensor_data_bytes(), 34);

    let hole = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#;
    assert!(st_err(&good(hole, 16)).contains("leaving a hole"));
    let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    assert!(st_err(&good(overlap, 12)).contains("overlaps"));
    let size = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
    assert!(st_err(&good(size, 8)).contains("takes 12"));
    let overflow = r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#;
    assert!(st_err(&good(overflow, 8)).contains("overflows"));
    let f4 = r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}"#;
    assert!(st_err(&good(f4, 1)).contains("whole number of bytes"));
    let dtype = r#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#;
    assert!(st_err(&good(dtype, 1)).contains("unknown dtype"));
    let short = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    assert!(st_err(&good(short, 4)).contains("data ends at 8"));
    assert!(st_err(&good(short, 12)).contains("data ends at 8"));
    assert!(st_err(&good(" {}", 0)).contains("does not start with '{'"));
    assert!(st_err(&good("{\"a\":", 0)).contains("not a valid JSON object"));
    let mut huge = 200_000_000u64.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    assert!(st_err(&huge).contains("exceeds the 100000000-byte limit"));
    let mut past = 50u64.to_le_bytes().to_vec();
    past.extend_from_slice(b"{}");
    assert!(st_err(&past).contains("runs past the end of the file"));
    assert!(st_err(&[1, 2, 3]).contains("too short"));
}
