//! The analytic estimate: exact terms where the runtime's behaviour is exact (weights, KV
//! cache), and the structure of the rest (monotone in context and batch, device split).

use memcal_predict::backend::reference::{analytic, kv_cache};
use memcal_predict::{Device, KvDtype, RunConfig};

fn cfg(ctx: u32, batch: u32) -> RunConfig {
    RunConfig {
        ctx,
        batch,
        ..RunConfig::default()
    }
}

#[test]
fn bitnet_2b_4t_preset_has_the_official_tensor_bytes() {
    let p = memcal_predict::presets::profile("bitnet-b1.58-2b-4t").unwrap();
    assert_eq!(p.tensor_data_bytes, 1_179_449_920);
    assert_eq!(p.by_type["I2_S"].tensors, 210);
    assert_eq!(p.by_type["F32"].tensors, 121);
    assert_eq!(p.by_type["F16"].tensors, 1);
    assert!(p.shape.tied_embeddings);
}

#[test]
fn kv_cache_matches_the_per_token_formula() {
    // formats.md: F16 KV per token = 2 * layers * kv_heads * head_dim * 2 = 76,800 B for 2B-4T.
    let p = memcal_predict::presets::profile("bitnet-b1.58-2b-4t").unwrap();
    let e = analytic(&p, &cfg(4096, 1)).unwrap();
    assert_eq!(e.host.kv_cache, 4096 * 76_800);
    let e = analytic(&p, &cfg(1000, 3)).unwrap();
    assert_eq!(e.host.kv_cache, 3 * 1000 * 76_800);
    let f32 = RunConfig {
        kv_dtype: KvDtype::F32,
        ..cfg(1000, 1)
    };
    assert_eq!(analytic(&p, &f32).unwrap().host.kv_cache, 1000 * 76_800 * 2);
    let q8 = RunConfig {
        kv_dtype: KvDtype::Q8_0,
        ..cfg(1000, 1)
    };
    // 38,400 elements per token = 1,200 blocks of 34 bytes.
    assert_eq!(analytic(&p, &q8).unwrap().host.kv_cache, 1000 * 1200 * 34);
}

#[test]
fn cpu_weights_are_the_file_tensor_bytes() {
    for name in [
        "llama-3.1-8b:Q4_K",
        "qwen2.5-7b:Q8_0",
        "bitnet-b1.58-3b:TL2",
    ] {
        let p = memcal_predict::presets::profile(name).unwrap();
        let e = analytic(&p, &cfg(2048, 1)).unwrap();
        assert_eq!(e.host.weights, p.tensor_data_bytes, "{name}");
        assert!(e.gpu.is_none());
    }
}

#[test]
fn memory_grows_with_context_and_batch() {
    let p = memcal_predict::presets::profile("llama-3.2-1b:Q8_0").unwrap();
    // At a tiny context the load-time copy of the largest tensor (the embedding) is the
    // peak, so the total may stay flat; it never falls, and grows once the cache dominates.
    let mut last = 0;
    for ctx in [16, 128, 512, 2048, 8192, 32768] {
        let t = analytic(&p, &cfg(ctx, 1)).unwrap().host.used();
        assert!(t >= last, "ctx {ctx}: {t} < {last}");
        assert!(ctx < 2048 || t > last, "ctx {ctx}: {t} <= {last}");
        last = t;
    }
    let mut last = 0;
    for batch in [1, 2, 4, 16] {
        let t = analytic(&p, &cfg(2048, batch)).unwrap().host.used();
        assert!(t > last, "batch {batch}: {t} <= {last}");
        last = t;
    }
}

#[test]
fn gpu_layers_move_blocks_and_their_cache_to_the_gpu() {
    let p = memcal_predict::presets::profile("llama-3.1-8b:Q4_0").unwrap();
    let n = p.shape.n_layers;
    let at = |g: u32| {
        analytic(
            &p,
            &RunConfig {
                device: Device::Cuda(0),
                gpu_layers: Some(g),
                ..cfg(4096, 1)
            },
        )
        .unwrap()
    };
    let none = at(0);
    let half = at(n / 2);
    let all = at(n);
    let gpu = |e: &memcal_predict::Estimate| e.gpu.unwrap();
    assert_eq!(gpu(&none).weights, 0);
    assert_eq!(gpu(&none).kv_cache, 0);
    assert!(gpu(&half).weights < gpu(&all).weights);
    assert!(none.host.weights > half.host.weights);
    // Every block's cache is somewhere, whatever the split.
    let kv_total = kv_cache::bytes(&p, &cfg(4096, 1), 0..n as usize, false);
    for e in [&none, &half, &all] {
        assert_eq!(e.host.kv_cache + gpu(e).kv_cache, kv_total);
    }
    // With every block on the GPU, the output projection goes too; the embedding stays.
    let out = p.role_bytes(memcal_predict::profile::TensorRole::Output);
    let blocks: u64 = p.layer_bytes.iter().sum();
    assert_eq!(gpu(&all).weights, blocks + out);
    assert_eq!(all.host.weights, p.tensor_data_bytes - blocks - out);
}

#[test]
fn headroom_is_the_margin_of_the_prediction() {
    let p = memcal_predict::presets::profile("mistral-7b-v0.3").unwrap();
    let e = analytic(
        &p,
        &RunConfig {
            margin_pct: 10.0,
            ..cfg(4096, 1)
        },
    )
    .unwrap();
    let used = e.host.used();
    assert_eq!(e.host.headroom, (used as f64 * 0.10).ceil() as u64);
    assert_eq!(e.host.total(), used + e.host.headroom);
}

#[test]
fn bad_configurations_are_errors_not_panics() {
    let p = memcal_predict::presets::profile("llama-3.2-1b").unwrap();
    for c in [cfg(0, 1), cfg(1, 0), cfg(u32::MAX, 1), cfg(1, u32::MAX)] {
        assert!(analytic(&p, &c).is_err(), "{c:?}");
    }
    let nan = RunConfig {
        margin_pct: f64::NAN,
        ..cfg(16, 1)
    };
    assert!(analytic(&p, &nan).is_err());
}
