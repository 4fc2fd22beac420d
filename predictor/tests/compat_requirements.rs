//! BitNet-rs's `ProductionModelLoader::get_memory_requirements` contract.

use predictor::compat::{MemoryRequirements, ProductionModelLoader};

fn loader() -> ProductionModelLoader {
    ProductionModelLoader::from_profile(predictor::presets::profile("bitnet-b1.58-2b-4t").unwrap())
}

#[test]
fn the_struct_has_exactly_bitnet_rs_fields() {
    // A struct literal with every field and nothing else compiles only with this shape.
    let r = MemoryRequirements {
        total_mb: 1,
        gpu_memory_mb: None,
        cpu_memory_mb: 1,
        kv_cache_mb: 0,
        activation_mb: 0,
        headroom_mb: 0,
    };
    let json = serde_json::to_value(r).unwrap();
    let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "activation_mb",
            "cpu_memory_mb",
            "gpu_memory_mb",
            "headroom_mb",
            "kv_cache_mb",
            "total_mb"
        ]
    );
}

#[test]
fn cpu_has_no_gpu_memory_and_totals_add_up() {
    let r = loader().get_memory_requirements("cpu");
    assert_eq!(r.gpu_memory_mb, None);
    assert_eq!(r.total_mb, r.cpu_memory_mb);
    // The 2B-4T weights alone are 1,125 MiB; the old stub said 1000 MB whatever the model.
    assert!(r.cpu_memory_mb > 1125, "{r:?}");
    // The figures are the calibrated estimate's, in MiB rounded up.
    let e = loader().estimate("cpu").unwrap();
    assert_eq!(r, MemoryRequirements::from_estimate(&e));
    assert_eq!(r.cpu_memory_mb, e.host.total().div_ceil(1 << 20));
    // Uncalibrated: 4096 positions x 76,800 B = exactly 300 MiB of f16 KV cache.
    let analytic = loader().with_tables(predictor::table_set::TableSet::empty());
    assert_eq!(analytic.get_memory_requirements("cpu").kv_cache_mb, 300);
}

#[test]
fn gpu_device_strings_all_mean_cuda() {
    let l = loader();
    let gpu = l.get_memory_requirements("gpu");
    assert_eq!(gpu, l.get_memory_requirements("cuda"));
    assert_eq!(gpu, l.get_memory_requirements("cuda:0"));
    assert_eq!(gpu, l.get_memory_requirements("CUDA:1"));
    let g = gpu.gpu_memory_mb.unwrap();
    assert!(g > 1000, "{gpu:?}");
    assert_eq!(gpu.total_mb, gpu.cpu_memory_mb + g);
}

#[test]
fn unknown_devices_are_errors_in_the_fallible_method_and_cpu_in_the_other() {
    let l = loader();
    for bad in ["tpu", "cuda:x", "", "cuda:-1", "metal"] {
        assert!(l.try_get_memory_requirements(bad).is_err(), "{bad:?}");
        assert_eq!(
            l.get_memory_requirements(bad),
            l.get_memory_requirements("cpu")
        );
    }
}
