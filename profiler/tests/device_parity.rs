//! The tensor forward pass (the path CUDA runs, here on candle's CPU device) against the
//! host forward, on small synthetic models of every architecture and the weight types the
//! GPU tables cover, with every block on the device, a split, and none.
//!
//! Tolerances (relative L2 error of the logits, `|a - b| / |b|`):
//! - F32: 1e-4. The same arithmetic; only the summation order differs. With an f16 KV
//!   cache or an f16 output projection (a tied F16 embedding): 1e-3.
//! - I2_S blocks: the same int8 activations and integer dot products, then
//!   `/ act_scale * w_scale`; the synthetic models' F16 output projection makes it 1e-3.
//! - F16 weights: 5e-3. The device path multiplies in f16 (the input is rounded to f16,
//!   2^-11 relative), the host widens the weights to f32.
//! - Q8_0, Q4_0, Q4_K: 5e-2, the bound `numerics_synth` sets for the host against the f32
//!   reference. Both paths quantize the activations to 8-bit blocks before each product,
//!   but candle's `QMatMul` and the host's direct `k_quants::matmul` do it differently
//!   (here each is 2-3% from the f32 reference, in different directions).
//!
//! The top token must agree whenever the host's top-2 margin exceeds twice the largest
//! absolute logit difference.

use predictor::ggml_type::GgmlType;
use predictor::KvDtype;
use profiler::runtime::device::parity::{rel_l2, workload_logits};
use profiler::runtime::{argmax, Model};
use profiler::synth::{write_model, SynthSpec};

fn spec(arch: &str, qtype: GgmlType, tied: bool) -> SynthSpec {
    SynthSpec {
        arch: arch.into(),
        layers: 3,
        hidden: 256,
        heads: 4,
        kv_heads: 2,
        head_dim: None,
        ffn: 512,
        vocab: 320,
        ctx_train: 512,
        qtype,
        tied,
        seed: 5,
        moe: None,
        sliding_window: None,
        embd_type: None,
        fast_blocks: false,
    }
}

/// The largest absolute difference of two rows.
fn max_abs(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max)
}

fn check(s: SynthSpec, gpu_layers: Option<u32>, kv: KvDtype, tol: f64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    write_model(&s, &path).unwrap();
    let host = Model::load_on(&path, None, None).unwrap();
    let dev = candle_core::Device::Cpu;
    let tensor = Model::load_on(&path, Some(&dev), gpu_layers).unwrap();
    let g = gpu_layers.map_or(s.layers, |g| g as usize);
    assert_eq!(tensor.layers.len(), s.layers - g, "host blocks");
    let part = tensor.device.as_ref().unwrap();
    assert_eq!(part.layers.len(), g, "device blocks");
    assert_eq!(part.head.is_some(), g == s.layers, "head on the device");
    let what = format!(
        "{} {} tied={} gpu_layers={g} kv={kv}",
        s.arch, s.qtype, s.tied
    );
    let (want, got) = (
        workload_logits(&host, kv).unwrap(),
        workload_logits(&tensor, kv).unwrap(),
    );
    assert_eq!(
        want.len(),
        6,
        "two prefill rows and two decode steps of two rows"
    );
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        let (err, max_abs) = (rel_l2(a, b), max_abs(a, b));
        assert!(
            err < tol,
            "{what} row {i}: relative error {err:.2e} >= {tol:.0e}"
        );
        let mut sorted = b.clone();
        sorted.sort_by(|x, y| y.total_cmp(x));
        if (sorted[0] - sorted[1]) as f64 > 2.0 * max_abs {
            assert_eq!(argmax(a), argmax(b), "{what} row {i}: top token differs");
        }
    }
}

#[test]
fn f32_llama_matches_the_host_on_every_split() {
    for g in [None, Some(2), Some(0)] {
        check(spec("llama", GgmlType::F32, false), g, KvDtype::F32, 1e-4);
    }
    check(spec("llama", GgmlType::F32, true), None, KvDtype::F16, 1e-3);
}

#[test]
fn i2s_bitnet_matches_the_host() {
    for arch in ["bitnet-b1.58", "bitnet"] {
        check(spec(arch, GgmlType::I2S, true), None, KvDtype::F32, 1e-3);
        check(
            spec(arch, GgmlType::I2S, false),
            Some(1),
            KvDtype::F16,
            1e-3,
        );
    }
}

#[test]
fn quantized_and_f16_types_match_the_host() {
    for (q, arch) in [
        (GgmlType::Q8_0, "qwen2"),
        (GgmlType::Q4_0, "llama"),
        (GgmlType::Q4K, "llama"),
        (GgmlType::F16, "qwen2"),
    ] {
        let tol = if q == GgmlType::F16 { 5e-3 } else { 5e-2 };
        check(spec(arch, q, false), None, KvDtype::F16, tol);
        check(spec(arch, q, true), Some(2), KvDtype::F32, tol);
    }
}

#[test]
fn device_weights_are_stored_size_and_tl2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    write_model(&spec("bitnet-b1.58", GgmlType::I2S, false), &path).unwrap();
    let host = Model::load_on(&path, None, None).unwrap();
    let dev = candle_core::Device::Cpu;
    let all = Model::load_on(&path, Some(&dev), None).unwrap();
    // Every block and the head moved; the embedding (and the final norm) stay on the host.
    // The device keeps I2_S codes without their 32-byte tail (the scale stays on the host):
    // 7 matrices in each of 3 blocks.
    let embd = host.token_embd.bytes() as u64;
    let norm = 4 * host.output_norm.len() as u64;
    let tails = 3 * 7 * 32;
    assert_eq!(
        all.device_weight_bytes() + embd + norm + tails,
        host.weight_bytes() + norm
    );
    assert_eq!(all.weight_bytes(), embd + norm);
    let cache = all.alloc_cache(2, 16, KvDtype::F16).unwrap();
    assert_eq!(cache.bytes(), 0);
    assert_eq!(cache.device_bytes(), 3 * 2 * 2 * 16 * 128 * 2);

    let tl2 = dir.path().join("tl2.gguf");
    let mut s = spec("bitnet-b1.58", GgmlType::TL2, false);
    s.hidden = 384;
    s.ffn = 768;
    s.heads = 6;
    s.kv_heads = 3;
    write_model(&s, &tl2).unwrap();
    let err = Model::load_on(&tl2, Some(&dev), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("TL2"), "{err}");
    // With no block on the device TL2 models still load (the host runs every block).
    assert!(Model::load_on(&tl2, Some(&dev), Some(0)).is_ok());
}
