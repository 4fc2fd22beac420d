//! Loads a GGUF file written by an independent writer (llama.cpp's `gguf` Python package,
//! see fixtures/make_llama_fixture.py) and compares the runtime's logits with those of an
//! independent numpy forward pass stored next to it. The file mixes F32, F16 and Q8_0
//! projections, GQA, an untied Q8_0 output, rope base 50000 and rms epsilon 1e-6, so a
//! loader that ignored a key, misread a type or transposed a tensor would fail.
//!
//! Tolerance 2e-2 (relative L2): candle quantizes the activations of the Q8_0 matmuls to
//! Q8_0 blocks (about 0.4 % per value); numpy works in f64 on the dequantized weights.

use predictor::KvDtype;
use profiler::runtime::reference::Reference;
use profiler::runtime::{argmax, LoadOptions, Model};
use std::path::Path;

fn fixture() -> (Model, serde_json::Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let model = Model::load(&dir.join("tiny_llama.gguf"), &LoadOptions::default()).unwrap();
    let json = std::fs::read_to_string(dir.join("tiny_llama.logits.json")).unwrap();
    (model, serde_json::from_str(&json).unwrap())
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn tokens(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn rel(a: &[f32], b: &[f32]) -> f64 {
    let n: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let d: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (n / d).sqrt()
}

#[test]
fn header_values_are_read() {
    let (m, _) = fixture();
    let hp = &m.hp;
    assert_eq!(
        (hp.n_layers, hp.hidden, hp.heads, hp.kv_heads),
        (2, 64, 4, 2)
    );
    assert_eq!((hp.head_dim, hp.ffn, hp.vocab), (16, 128, 96));
    assert_eq!(hp.rope_base, 50000.0);
    assert_eq!(hp.rms_eps, 1e-6);
    assert!(m.output.is_some(), "the fixture has an untied output");
    assert!(!m.rope.neox, "llama uses adjacent-pair rope");
}

#[test]
fn logits_match_an_independent_numpy_forward() {
    let (m, want) = fixture();
    let prompt = tokens(&want["prompt"]);
    let numpy = floats(&want["logits"]);
    let mut cache = m.alloc_cache(1, 16, KvDtype::F32).unwrap();
    let got = m
        .prefill(&mut cache, std::slice::from_ref(&prompt), 2)
        .unwrap();
    let got = got.to_vec2::<f32>().unwrap().remove(0);
    let err = rel(&got, &numpy);
    assert!(err < 2e-2, "prefill vs numpy: relative error {err:.2e}");
    assert_eq!(argmax(&got), argmax(&numpy));
    // The dequantized reference agrees with numpy more tightly (no activation quantization).
    let r = Reference::new(&m).unwrap().last_logits(&prompt);
    assert!(
        rel(&r, &numpy) < 1e-4,
        "reference vs numpy: {:.2e}",
        rel(&r, &numpy)
    );

    let next = tokens(&want["next_prompt"]);
    let step = m.decode_step(&mut cache, &next[next.len() - 1..]).unwrap();
    let step = step.to_vec2::<f32>().unwrap().remove(0);
    let numpy = floats(&want["next_logits"]);
    let err = rel(&step, &numpy);
    assert!(err < 2e-2, "decode vs numpy: relative error {err:.2e}");
    assert_eq!(argmax(&step), argmax(&numpy));
}
