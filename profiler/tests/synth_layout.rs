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
