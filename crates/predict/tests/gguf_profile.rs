//! ModelProfile from GGUF headers: every field of the 2B-4T shape, per-layer KV heads,
//! sliding layers, MoE, and the semantic checks (zero heads, absurd context, layer count).

#[path = "../../formats/tests/support/mod.rs"]
mod support;

use memcal_predict::ggml_type::GgmlType;
use memcal_predict::gguf::writer::GgufWriter;
use memcal_predict::profile::{ModelFormat, TensorRole};
use memcal_predict::read::{load_profile, profile_from_gguf};
use support::{bitnet_writer, tempdir, B2_4T};

#[test]
fn bitnet_2b4t_profile_is_complete_and_exact() {
    let dir = tempdir();
    let path = dir.path().join("ggml-model-i2_s.gguf");
    let file_len = bitnet_writer(&B2_4T, GgmlType::I2S, 36, true)
        .write_sparse_file(&path)
        .expect("write");
    let p = load_profile(&path).expect("profile");
    assert_eq!(p.name, "ggml-model-i2_s");
    assert_eq!(p.format, ModelFormat::Gguf);
    assert_eq!(p.shape.architecture, "bitnet-b1.58");
    assert_eq!(p.shape.n_layers, 30);
    assert_eq!(p.shape.hidden, 2560);
    assert_eq!(p.shape.n_heads, 20);
    assert_eq!(p.shape.n_kv_heads, vec![5; 30]);
    assert_eq!((p.shape.head_dim_k, p.shape.head_dim_v), (128, 128));
    assert_eq!(p.shape.ffn, 6912);
    assert_eq!(p.shape.vocab, 128256);
    assert_eq!(p.shape.ctx_train, 4096);
    assert!(p.shape.tied_embeddings);
    assert_eq!(p.shape.sliding_window, None);
    assert!(p.shape.sliding_layers.is_empty());
    assert_eq!(p.shape.experts, None);
    assert_eq!(p.tensor_data_bytes, 1_179_449_920);
    assert_eq!(p.file_bytes, file_len);
    let proj_params = 30 * (2 * 2560 * 2560 + 2 * 2560 * 640 + 3 * 2560 * 6912);
    let norm_params = 30 * (3 * 2560 + 6912) + 2560;
    assert_eq!(p.n_params, proj_params + norm_params + 128256 * 2560);
    assert_eq!(
        p.dominant_name(),
        "I2_S",
        "most weights (elements) are I2_S"
    );
    let i2s = p.by_type["I2_S"];
    assert_eq!((i2s.tensors, i2s.elements), (210, proj_params));
    assert_eq!(i2s.bytes, 30 * 17_367_264);
    assert_eq!(p.by_type["F32"].tensors, 121);
    assert_eq!(p.by_type["F16"].bytes, 656_670_720);
    assert_eq!(p.role_bytes(TensorRole::Embedding), 656_670_720);
    assert_eq!(p.role_bytes(TensorRole::Output), 0);
    assert_eq!(
        p.role_bytes(TensorRole::Norm),
        30 * (3 * 2560 + 6912) * 4 + 2560 * 4
    );
    assert_eq!(
        p.role_bytes(TensorRole::Attention) + p.role_bytes(TensorRole::Ffn),
        30 * 17_367_264
    );
    assert_eq!(p.layer_bytes.len(), 30);
    assert!(p.layer_bytes.iter().all(|&b| b == 17_367_264 + 58_368));
    assert_eq!(p.non_layer_bytes(), 656_670_720 + 10_240);
    assert_eq!(p.largest_tensor_bytes, 656_670_720);
    assert_eq!(p.largest_tensor_elements, 128256 * 2560);
    assert!(p
        .notes
        .iter()
        .any(|n| n.contains("type id 36 read as BitNet I2_S")));
}

/// A small llama-like writer; `f` adds or overrides keys.
fn small(f: impl FnOnce(&mut GgufWriter)) -> GgufWriter {
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "llama").expect("kv");
    f(&mut w);
    for (name, dims) in [
        ("token_embd.weight", vec![64, 100]),
        ("blk.0.attn_q.weight", vec![64, 64]),
        ("blk.0.ffn_up.weight", vec![64, 96]),
        ("blk.1.attn_q.weight", vec![64, 64]),
        ("output.weight", vec![64, 100]),
    ] {
        w.add_tensor_info(name, &dims, GgmlType::F16)
            .expect("tensor");
    }
    w
}

fn profile_of(w: &GgufWriter) -> memcal_predict::Result<memcal_predict::ModelProfile> {
    let bytes = w.header_bytes().expect("header");
    let (_, data) = w.layout().expect("layout");
    let g = memcal_predict::gguf::GgufFile::parse(
        std::path::Path::new("small.gguf"),
        &bytes,
        bytes.len() as u64 + data,
    )?;
    profile_from_gguf(&g)
}

#[test]
fn per_layer_kv_heads_sliding_and_moe() {
    let w = small(|w| {
        w.add_u32("llama.block_count", 2).expect("kv");
        w.add_u32("llama.embedding_length", 64).expect("kv");
        w.add_u32("llama.context_length", 8192).expect("kv");
        w.add_u32("llama.attention.head_count", 8).expect("kv");
        w.add_u32_array("llama.attention.head_count_kv", &[2, 4])
            .expect("kv");
        w.add_u32("llama.attention.sliding_window", 512)
            .expect("kv");
        w.add_u32("llama.attention.sliding_window_pattern", 2)
            .expect("kv");
        w.add_u32("llama.expert_count", 8).expect("kv");
        w.add_u32("llama.expert_used_count", 2).expect("kv");
        w.add_u32("llama.expert_feed_forward_length", 32)
            .expect("kv");
        w.add_u32("llama.feed_forward_length", 96).expect("kv");
    });
    let p = profile_of(&w).expect("profile");
    assert_eq!(p.shape.n_kv_heads, vec![2, 4]);
    assert_eq!(p.shape.head_dim_k, 8);
    assert_eq!(p.shape.sliding_window, Some(512));
    assert_eq!(p.shape.sliding_layers, vec![true, false]);
    let e = p.shape.experts.expect("moe");
    assert_eq!((e.total, e.active), (8, 2));
    assert_eq!(p.shape.ffn, 32);
    assert!(!p.shape.tied_embeddings);
    assert_eq!(p.shape.vocab, 100);
    assert_eq!(p.layer_bytes, vec![64 * 64 * 2 + 64 * 96 * 2, 64 * 64 * 2]);
}

#[test]
fn semantic_errors_are_clear() {
    let base = |w: &mut GgufWriter| {
        w.add_u32("llama.block_count", 2).expect("kv");
        w.add_u32("llama.embedding_length", 64).expect("kv");
    };
    type Case = (&'static str, Box<dyn Fn(&mut GgufWriter)>);
    let cases: Vec<Case> = vec![
        (
            "head_count is 0",
            Box::new(move |w| {
                base(w);
                w.add_u32("llama.attention.head_count", 0).expect("kv");
            }),
        ),
        (
            "not divisible by head_count 7",
            Box::new(move |w| {
                base(w);
                w.add_u32("llama.attention.head_count", 7).expect("kv");
            }),
        ),
        (
            "beyond the 16777216 tokens",
            Box::new(move |w| {
                base(w);
                w.add_u32("llama.attention.head_count", 8).expect("kv");
                w.add_u64("llama.context_length", 1 << 40).expect("kv");
            }),
        ),
        (
            "head_count_kv is 0 for every block",
            Box::new(move |w| {
                base(w);
                w.add_u32("llama.attention.head_count", 8).expect("kv");
                w.add_u32("llama.attention.head_count_kv", 0).expect("kv");
            }),
        ),
        (
            "declares 1000000 blocks but the file holds only 5 tensors",
            Box::new(|w| {
                w.add_u32("llama.block_count", 1_000_000).expect("kv");
                w.add_u32("llama.embedding_length", 64).expect("kv");
                w.add_u32("llama.attention.head_count", 8).expect("kv");
            }),
        ),
        (
            "has 3 entries for 2 blocks",
            Box::new(move |w| {
                base(w);
                w.add_u32("llama.attention.head_count", 8).expect("kv");
                w.add_u32_array("llama.attention.head_count_kv", &[1, 2, 3])
                    .expect("kv");
            }),
        ),
        (
            "must be a non-negative integer, found a string",
            Box::new(move |w| {
                base(w);
                w.add_u32("llama.attention.head_count", 8).expect("kv");
                w.add_string("llama.context_length", "4k").expect("kv");
            }),
        ),
    ];
    for (want, f) in cases {
        let e = profile_of(&small(|w| f(w))).expect_err(want).to_string();
        assert!(e.contains(want), "expected {want:?} in {e:?}");
        assert!(e.starts_with("small.gguf: "), "{e}");
    }
}

#[test]
fn missing_context_is_a_note_not_an_error() {
    let w = small(|w| {
        w.add_u32("llama.block_count", 2).expect("kv");
        w.add_u32("llama.embedding_length", 64).expect("kv");
        w.add_u32("llama.attention.head_count", 8).expect("kv");
    });
    let p = profile_of(&w).expect("profile");
    assert_eq!(p.shape.ctx_train, 0);
    assert!(p
        .notes
        .iter()
        .any(|n| n.contains("training context unknown")));
    assert_eq!(p.shape.ffn, 96, "taken from blk.0.ffn_up");
    assert_eq!(p.shape.n_kv_heads, vec![8, 8]);
}

#[test]
fn i2s_rows_the_kernels_cannot_take_are_noted() {
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "bitnet").expect("kv");
    w.add_u32("bitnet.block_count", 1).expect("kv");
    w.add_u32("bitnet.embedding_length", 192).expect("kv");
    w.add_u32("bitnet.attention.head_count", 3).expect("kv");
    w.add_tensor_info_with_id("blk.0.attn_q.weight", &[192, 192], GgmlType::I2S, 36)
        .expect("tensor");
    w.add_tensor_info_with_id("blk.0.attn_k.weight", &[256, 192], GgmlType::I2S, 36)
        .expect("tensor");
    let p = profile_of(&w).expect("profile");
    assert_eq!(
        p.tensor_data_bytes,
        (192 * 192 / 4 + 32) + (256 * 192 / 4 + 32)
    );
    let note = p.notes.iter().find(|n| n.contains("not a multiple of 128"));
    assert!(
        note.is_some_and(|n| n.starts_with("1 I2_S/TL1 tensors")),
        "{:?}",
        p.notes
    );
}
