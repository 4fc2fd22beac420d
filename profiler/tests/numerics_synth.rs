//! Next-token logits of the runtime against the independent dequantized f32 reference, for
//! every supported projection type, on small synthetic models.
//!
//! Tolerances (relative L2 error of the logits vector, `|a - b| / |b|`):
//! - F32, F16: 1e-4. The runtime's dense kernel widens the stored weights exactly to f32
//!   and keeps f32 activations; only the summation order (f32 vs f64) differs. With an f16
//!   KV cache: 1e-3 (keys and values are rounded to f16, 2^-11 relative).
//! - Q8_0, Q4_0, Q4_K: 5e-2. candle quantizes the activations to Q8_0/Q8_K blocks (8-bit
//!   with one scale per 32 or 256 values, about 0.4 % per value) before each dot product.
//! - I2_S, TL2: 5e-2. Activations are quantized per token to int8 with scale 127/absmax
//!   (bitnet.cpp's scheme), about 0.4 % of the row maximum per value, in every projection.
//!
//! The top token must agree whenever the reference's top-2 margin exceeds twice the largest
//! absolute logit error observed (otherwise the order is within numerical noise).

use predictor::ggml_type::GgmlType;
use predictor::KvDtype;
use profiler::runtime::reference::Reference;
use profiler::runtime::{argmax, LoadOptions, Model};
use profiler::synth::{write_model, SynthSpec};

fn rel_err(a: &[f32], b: &[f32]) -> (f64, f64) {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    let max_abs = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max);
    ((num / den).sqrt(), max_abs)
}

fn check_top(run: &[f32], refl: &[f32], max_abs: f64, what: &str) {
    let mut sorted: Vec<f32> = refl.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    if (sorted[0] - sorted[1]) as f64 > 2.0 * max_abs {
        assert_eq!(argmax(run), argmax(refl), "{what}: top token differs");
    }
}

fn spec(arch: &str, qtype: GgmlType, hidden: usize, ffn: usize, tied: bool) -> SynthSpec {
    SynthSpec {
        arch: arch.into(),
        layers: 2,
        hidden,
        heads: 4,
        kv_heads: 2,
        head_dim: None,
        ffn,
        vocab: 384,
        ctx_train: 512,
        qtype,
        tied,
        seed: 11,
        moe: None,
        sliding_window: None,
        embd_type: None,
        fast_blocks: false,
    }
}

/// Writes, loads and checks one model: prefill in micro-batches of 3 over two prompts of
/// different lengths, then two decode steps, each against the reference.
fn check(s: SynthSpec, tol: f64, kv: KvDtype) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    write_model(&s, &path).unwrap();
    let model = Model::load(&path, &LoadOptions::default()).unwrap();
    let reference = Reference::new(&model).unwrap();
    let what = format!("{} {}", s.arch, s.qtype);
    let prompts = vec![vec![5u32, 77, 300, 12, 9, 41, 200], vec![3u32, 150, 8, 260]];
    let mut cache = model.alloc_cache(2, 32, kv).unwrap();
    let logits = model.prefill(&mut cache, &prompts, 3).unwrap();
    let rows = logits.to_vec2::<f32>().unwrap();
    let mut seqs = prompts.clone();
    for (p, row) in prompts.iter().zip(&rows) {
        let want = reference.last_logits(p);
        let (err, max_abs) = rel_err(row, &want);
        assert!(
            err < tol,
            "{what} prefill: relative error {err:.2e} >= {tol:.0e}"
        );
        check_top(row, &want, max_abs, &what);
    }
    for step in 0..2 {
        let next: Vec<u32> = rows_argmax(&model, &seqs, &reference);
        let logits = model.decode_step(&mut cache, &next).unwrap();
        for ((seq, &t), row) in seqs
            .iter_mut()
            .zip(&next)
            .zip(logits.to_vec2::<f32>().unwrap())
        {
            seq.push(t);
            let want = reference.last_logits(seq);
            let (err, max_abs) = rel_err(&row, &want);
            assert!(
                err < tol,
                "{what} decode {step}: relative error {err:.2e} >= {tol:.0e}"
            );
            check_top(&row, &want, max_abs, &what);
        }
    }
    assert_eq!(cache.lens, vec![9, 6]);
}

fn rows_argmax(_m: &Model, seqs: &[Vec<u32>], r: &Reference) -> Vec<u32> {
    seqs.iter()
        .map(|s| argmax(&r.last_logits(s)) as u32)
        .collect()
}

#[test]
fn f32_llama_untied() {
    check(
        spec("llama", GgmlType::F32, 128, 256, false),
        1e-4,
        KvDtype::F32,
    );
}

#[test]
fn f16_llama_tied_f16_cache() {
    check(
        spec("llama", GgmlType::F16, 128, 256, true),
        1e-2,
        KvDtype::F16,
    );
}

#[test]
fn q8_0_llama() {
    check(
        spec("llama", GgmlType::Q8_0, 128, 256, false),
        5e-2,
        KvDtype::F32,
    );
}

#[test]
fn q4_0_qwen2_with_biases() {
    check(
        spec("qwen2", GgmlType::Q4_0, 128, 256, false),
        5e-2,
        KvDtype::F16,
    );
}

#[test]
fn q4_k_llama() {
    check(
        spec("llama", GgmlType::Q4K, 256, 512, false),
        5e-2,
        KvDtype::F32,
    );
}

#[test]
fn i2_s_bitnet_b158() {
    check(
        spec("bitnet-b1.58", GgmlType::I2S, 256, 384, true),
        5e-2,
        KvDtype::F32,
    );
}

#[test]
fn i2_s_bitnet_silu_untied() {
    check(
        spec("bitnet", GgmlType::I2S, 128, 256, false),
        5e-2,
        KvDtype::F16,
    );
}

#[test]
fn tl2_bitnet_b158() {
    check(
        spec("bitnet-b1.58", GgmlType::TL2, 512, 768, true),
        5e-2,
        KvDtype::F32,
    );
}
