//! BitNet-rs's `ProductionModelLoader::get_memory_requirements` contract.

use memcal_predict::backend::Backend;
use memcal_predict::compat::{MemoryRequirements, ProductionModelLoader};
use memcal_predict::RunConfig;

fn loader() -> ProductionModelLoader {
    ProductionModelLoader::from_profile(
        memcal_predict::presets::profile("bitnet-b1.58-2b-4t").unwrap(),
    )
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
    // Uncalibrated, BitNet-rs (the default): its f32 KV cache grows to 4096 generated
    // tokens x 153,600 B = exactly 600 MiB in the planning case.
    let analytic = loader().with_tables(memcal_predict::calibrate::table_set::TableSet::empty());
    assert_eq!(analytic.backend(), Backend::BitnetRs);
    assert_eq!(analytic.get_memory_requirements("cpu").kv_cache_mb, 600);
    // The reference runtime's f16 cache: 4096 positions x 76,800 B = 300 MiB.
    let reference = analytic.with_backend(Backend::Memcal);
    assert_eq!(reference.get_memory_requirements("cpu").kv_cache_mb, 300);
}

#[test]
fn the_default_figures_are_bitnet_rs_own_prediction() {
    // What `predictor estimate FILE --backend bitnet-rs --margin 0 --json` gives as
    // host_bytes is what the compat API reports as total_mb (in MiB, rounded up).
    let profile = memcal_predict::presets::profile("bitnet-b1.58-2b-4t").unwrap();
    let config = RunConfig {
        margin_pct: 0.0,
        ..RunConfig::default()
    };
    let tables = memcal_predict::calibrate::table_set::TableSet::embedded().unwrap();
    let e =
        memcal_predict::calibrate::calibrated_for(Backend::BitnetRs, &profile, &config, &tables)
            .unwrap();
    assert_eq!(e.backend, "bitnet-rs");
    let r = ProductionModelLoader::from_profile(profile)
        .with_config(config)
        .get_memory_requirements("cpu");
    assert_eq!(r.total_mb, e.host_bytes().div_ceil(1 << 20));
    assert_eq!(r.kv_cache_mb, e.host.kv_cache.div_ceil(1 << 20));
    // BitNet-rs holds the f32 embedding (1.22 GiB) and the packed I2_S weights beside the
    // mapped file at its load peak: far above the 1.1 GiB file, and far above what
    // bitnet.cpp needs for the same file.
    let bitnet_cpp = memcal_predict::calibrate::calibrated_for(
        Backend::BitnetCpp,
        &memcal_predict::presets::profile("bitnet-b1.58-2b-4t").unwrap(),
        &RunConfig {
            margin_pct: 0.0,
            ..RunConfig::default()
        },
        &tables,
    )
    .unwrap();
    assert!(r.total_mb > 3000, "{r:?}");
    assert!(
        e.host_bytes() > 2 * bitnet_cpp.host_bytes(),
        "{} vs {}",
        e.host_bytes(),
        bitnet_cpp.host_bytes()
    );
}

#[test]
fn gpu_device_strings_all_mean_cuda() {
    // BitNet-rs's CUDA path is not modelled; the reference runtime's is.
    let l = loader().with_backend(Backend::Memcal);
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
