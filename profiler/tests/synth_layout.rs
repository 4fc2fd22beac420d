//! Synthetic files: deterministic, laid out like microsoft/BitNet's converter output, with
//! real key names and tokenizer arrays of vocabulary size, readable by the header reader.

use predictor::ggml_type::GgmlType;
use predictor::gguf::GgufFile;
use profiler::synth::{write_model, SynthSpec};

fn write(spec: &SynthSpec, name: &str, dir: &tempfile::TempDir) -> std::path::PathBuf {
    let p = dir.path().join(name);
    write_model(spec, &p).unwrap();
    p
}

#[test]
fn same_seed_same_bytes_other_seed_other_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SynthSpec::preset("tiny").unwrap();
    let a = std::fs::read(write(&s, "a.gguf", &dir)).unwrap();
    let b = std::fs::read(write(&s, "b.gguf", &dir)).unwrap();
    assert_eq!(a, b);
    s.seed = 1;
    let c = std::fs::read(write(&s, "c.gguf", &dir)).unwrap();
    assert_eq!(a.len(), c.len());
    assert_ne!(a, c);
}

#[test]
fn bitnet_layout_keys_and_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SynthSpec::preset("tiny").unwrap();
    s.layers = 3;
    s.tied = false;
    let f = GgufFile::open(write(&s, "m.gguf", &dir)).unwrap();
    assert_eq!(f.architecture(), Some("bitnet-b1.58"));
    assert_eq!(f.get_u64("bitnet-b1.58.attention.head_count"), Some(4));
    assert_eq!(f.get_u64("bitnet-b1.58.attention.head_count_kv"), Some(2));
    assert_eq!(f.get_f64("bitnet-b1.58.rope.freq_base"), Some(500000.0));
    assert_eq!(f.get_str("tokenizer.ggml.model"), Some("llama"));
    for key in ["tokens", "scores", "token_type"] {
        let arr = f
            .get(&format!("tokenizer.ggml.{key}"))
            .unwrap()
            .as_array()
            .unwrap();
        assert_eq!(arr.len(), 512, "tokenizer.ggml.{key}");
    }
    // token_embd + 11 per block + output_norm + output
    assert_eq!(f.tensors.len(), 1 + 3 * 11 + 2);
    let ty = |n: &str| f.tensor(n).unwrap().ggml_type;
    assert_eq!(ty("token_embd.weight"), GgmlType::F16);
    assert_eq!(ty("output.weight"), GgmlType::F16);
    assert_eq!(ty("blk.2.attn_sub_norm.weight"), GgmlType::F32);
    assert_eq!(ty("blk.2.ffn_sub_norm.weight"), GgmlType::F32);
    for p in [
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
    ] {
        let t = f.tensor(&format!("blk.1.{p}.weight")).unwrap();
        assert_eq!(t.ggml_type, GgmlType::I2S, "{p}");
        assert_eq!(t.nbytes, t.n_elements() / 4 + 32, "{p}");
    }
}

#[test]
fn tl2_sizes_match_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let f = GgufFile::open(write(
        &SynthSpec::preset("tiny-tl2").unwrap(),
        "t.gguf",
        &dir,
    ))
    .unwrap();
    let t = f.tensor("blk.0.ffn_down.weight").unwrap();
    assert_eq!(t.ggml_type, GgmlType::TL2);
    assert_eq!(
        t.nbytes as usize,
        profiler::runtime::ternary::tl2::nbytes(512, 768)
    );
}

#[test]
fn bad_specs_are_refused_with_a_reason() {
    let mut s = SynthSpec::preset("tiny").unwrap();
    s.hidden = 200;
    s.heads = 4;
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("128"), "{e}");
    let mut s = SynthSpec::preset("tiny-llama").unwrap();
    s.qtype = GgmlType::IQ2XS;
    assert!(s.validate().unwrap_err().to_string().contains("IQ2"));
    assert!(SynthSpec::preset("nope")
        .unwrap_err()
        .to_string()
        .contains("tiny"));
}

/// Every llama.cpp layout the writer knows, as the profile reads it back: llama.cpp's tensor
/// names and shapes (merged 3-D experts, fused phi3 projections), the norms per block the
/// engine models count, and the weights an extra buffer may take.
#[test]
fn llama_cpp_layouts_read_back_with_their_experts_norms_and_matmul_weights() {
    use predictor::read::load_profile;
    use profiler::synth::SynthMoe;
    let dir = tempfile::tempdir().unwrap();
    let base = |arch: &str, qtype: GgmlType| SynthSpec {
        arch: arch.into(),
        layers: 2,
        hidden: 256,
        heads: 4,
        kv_heads: 2,
        head_dim: None,
        ffn: 512,
        vocab: 512,
        ctx_train: 2048,
        qtype,
        tied: true,
        seed: 3,
        moe: None,
        sliding_window: None,
        embd_type: None,
        fast_blocks: true,
    };
    // qwen3moe: merged experts, F32 router, q/k norms.
    let mut s = base("qwen3moe", GgmlType::Q4K);
    s.moe = Some(SynthMoe { total: 8, used: 2 });
    let path = write(&s, "qwen3moe.gguf", &dir);
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(
        f.tensor("blk.1.ffn_up_exps.weight").unwrap().dims,
        [256, 512, 8]
    );
    assert_eq!(
        f.tensor("blk.1.ffn_down_exps.weight").unwrap().dims,
        [512, 256, 8]
    );
    assert_eq!(
        f.tensor("blk.0.ffn_gate_inp.weight").unwrap().ggml_type,
        GgmlType::F32
    );
    let p = load_profile(&path).unwrap();
    let e = p.shape.experts.unwrap();
    assert_eq!((e.total, e.active, p.shape.ffn), (8, 2, 512));
    let norms = p.block_norms.unwrap();
    assert_eq!((norms.hidden, norms.q, norms.k), (2, true, true));
    let experts = p.matmul_weights.iter().find(|w| w.ne2 == 8).unwrap();
    assert_eq!((experts.ty.name(), experts.count), ("Q4_K", 3 * 2 - 2));
    // The tied output is the embedding's data as a matmul weight.
    assert!(p
        .matmul_weights
        .iter()
        .any(|w| w.ty == "F16" && w.ne1 == 512));
    // gemma2: post-norms (four residual-width norms per block), sliding layers.
    let mut s = base("gemma2", GgmlType::Q8_0);
    s.sliding_window = Some(128);
    let p = load_profile(&write(&s, "gemma2.gguf", &dir)).unwrap();
    assert_eq!(p.block_norms.unwrap().hidden, 4);
    assert_eq!(p.shape.sliding_layers, [true, false]);
    // gpt-oss: biased attention and experts, sinks, untied; even blocks slide (llama.cpp's
    // default pattern, no key in the file); biases are not matmul weights.
    let mut s = base("gpt-oss", GgmlType::MXFP4);
    s.moe = Some(SynthMoe { total: 8, used: 2 });
    assert!(s.validate().unwrap_err().to_string().contains("sliding"));
    s.sliding_window = Some(128);
    assert!(s.validate().unwrap_err().to_string().contains("untied"));
    s.tied = false;
    s.layers = 3;
    s.heads = 8;
    s.head_dim = Some(64);
    let path = write(&s, "gpt-oss.gguf", &dir);
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.get_u64("gpt-oss.attention.key_length"), Some(64));
    assert_eq!(f.get_u64("gpt-oss.expert_feed_forward_length"), Some(512));
    assert_eq!(f.tensor("blk.2.attn_sinks.weight").unwrap().dims, [8]);
    assert_eq!(f.tensor("blk.2.attn_output.bias").unwrap().dims, [256]);
    assert_eq!(f.tensor("blk.0.ffn_gate_exps.bias").unwrap().dims, [512, 8]);
    assert_eq!(f.tensor("blk.0.ffn_down_exps.bias").unwrap().dims, [256, 8]);
    assert_eq!(f.tensor("blk.0.ffn_gate_inp.bias").unwrap().dims, [8]);
    assert!(f.tensor("blk.0.post_attention_norm.weight").is_some());
    assert!(f.tensor("blk.0.ffn_norm.weight").is_none());
    let ex = f.tensor("blk.1.ffn_up_exps.weight").unwrap();
    assert_eq!(
        (ex.ggml_type, ex.nbytes),
        (GgmlType::MXFP4, 256 / 32 * 17 * 512 * 8)
    );
    let p = load_profile(&path).unwrap();
    assert_eq!(p.shape.sliding_layers, [true, false, true]);
    assert_eq!(p.block_norms.unwrap().hidden, 2);
    assert!(p
        .notes
        .iter()
        .any(|n| n.contains("gpt-oss: the last block of every 2")));
    assert!(p.matmul_weights.iter().all(|w| w.ty != "F32" || w.ne1 == 8));
    let experts = p.matmul_weights.iter().find(|w| w.ne2 == 8).unwrap();
    assert_eq!((experts.ty.name(), experts.count), ("MXFP4", 3 * 3 - 3));
    // phi3: fused qkv and gate+up; llama.cpp ignores a sliding window there (no pattern).
    let mut s = base("phi3", GgmlType::Q4_0);
    s.sliding_window = Some(128);
    let path = write(&s, "phi3.gguf", &dir);
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(
        f.tensor("blk.0.attn_qkv.weight").unwrap().dims,
        [256, 256 + 2 * 128]
    );
    assert_eq!(f.tensor("blk.0.ffn_up.weight").unwrap().dims, [256, 1024]);
    assert!(load_profile(&path).unwrap().shape.sliding_layers.is_empty());
    // Types candle cannot quantize are written as blocks of their exact size.
    for ty in [GgmlType::IQ4NL, GgmlType::IQ4XS] {
        let mut s = base("llama", ty);
        s.moe = Some(SynthMoe { total: 4, used: 1 });
        s.tied = false;
        let p = load_profile(&write(&s, "iq4.gguf", &dir)).unwrap();
        let bytes = p.by_type[ty.name()].bytes;
        let elems = p.by_type[ty.name()].elements;
        assert_eq!(bytes, elems / ty.block_elems() * ty.block_bytes(), "{ty}");
        // The untied output is the last tensor: a trailing weight an extra buffer may take.
        assert_eq!(p.trailing_weights.last().unwrap().ne1, 512);
    }
}
