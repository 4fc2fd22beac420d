//! Builds before ggml-org/llama.cpp#12498 repack the weights of blocks left on the host
//! beside a GPU (`CPU_AARCH64`), as the ggml-ci runs of Pythia 2.8B with `-ngl 10` print;
//! later builds keep them in the mapped file for op offload. The mapped span of the host's
//! tensors then ends before the last host block's trailing weights that moved.

use memcal_predict::backend::Backend;
use memcal_predict::buffer::BufferKind;
use memcal_predict::profile::ModelProfile;
use memcal_predict::{presets, Device, Estimate, RunConfig};

const MODEL: &str = "llama-3.2-1b:Q4_0";

fn run(build: Option<u32>, repack: bool) -> Estimate {
    run_on(&presets::profile(MODEL).unwrap(), build, repack)
}

fn run_on(p: &ModelProfile, build: Option<u32>, repack: bool) -> Estimate {
    let config = RunConfig {
        device: Device::Cuda(0),
        gpu_layers: Some(4),
        engine_build: build,
        repack,
        margin_pct: 0.0,
        ..RunConfig::default()
    };
    Backend::LlamaCpp.analytic(p, &config).unwrap()
}

fn host_bytes(e: &Estimate, name: &str) -> u64 {
    e.buffers
        .iter()
        .filter(|b| b.buffer == name && b.component == BufferKind::Model)
        .map(|b| b.bytes)
        .sum()
}

/// Q4_0 weights of a row count divisible by 8: what AVX2 repacks.
fn repackable(p: &ModelProfile, l: usize) -> u64 {
    p.block_weights[l]
        .weights
        .iter()
        .filter(|w| w.ty.name() == "Q4_0" && w.ne1 % 8 == 0)
        .map(|w| w.bytes)
        .sum()
}

#[test]
fn an_older_build_repacks_the_host_blocks_and_maps_less() {
    let p = presets::profile(MODEL).unwrap();
    let n = p.shape.n_layers as usize;
    // `-ngl 4` on a build of that time: the last four blocks on the GPU, the output layer on
    // the host.
    let host: Vec<usize> = (0..n - 4).collect();
    let old = run(Some(4935), true);
    // The tied output (the embedding, Q4_0 here) is repacked as a second copy.
    assert!(p.shape.tied_embeddings);
    let output: u64 = p
        .matmul_weights
        .iter()
        .filter(|w| w.ne1 == p.shape.vocab && w.ty.name() == "Q4_0")
        .map(|w| w.bytes)
        .sum();
    let expected = host.iter().map(|&l| repackable(&p, l)).sum::<u64>() + output;
    assert!(expected > 0);
    assert_eq!(host_bytes(&old, "CPU_AARCH64"), expected);
    // The same build without repacking maps the host blocks whole.
    let plain = run(Some(4935), false);
    assert_eq!(host_bytes(&plain, "CPU_AARCH64"), 0);
    // This preset's file ends with the output norm, which the host keeps: the span is the
    // same. Where the output layer comes before the blocks (Pythia's file), it ends before
    // the last host block's trailing weights that moved.
    assert_eq!(
        host_bytes(&plain, "CPU_Mapped"),
        host_bytes(&old, "CPU_Mapped")
    );
    let mut first = p.clone();
    let spans = first.spans.as_mut().unwrap();
    spans.output = spans.embedding;
    let (old, plain) = (
        run_on(&first, Some(4935), true),
        run_on(&first, Some(4935), false),
    );
    let last = &p.block_weights[n - 5];
    let cut: u64 = last
        .trailing_last_first()
        .take_while(|w| w.ty.name() == "Q4_0" && w.ne1 % 8 == 0)
        .map(|w| w.bytes)
        .sum();
    assert!(cut > 0, "the preset's blocks end with a weight");
    assert_eq!(
        host_bytes(&plain, "CPU_Mapped") - host_bytes(&old, "CPU_Mapped"),
        cut
    );
    // Tensor overrides on such a build are refused, not guessed.
    let mut config = RunConfig {
        device: Device::Cuda(0),
        engine_build: Some(4935),
        ..RunConfig::default()
    };
    config.tensor_overrides =
        memcal_predict::config::TensorOverrides(vec![memcal_predict::config::TensorOverride {
            layer: None,
            part: memcal_predict::config::TensorPart::Output,
            target: memcal_predict::config::OverrideTarget::Host,
        }]);
    let err = Backend::LlamaCpp
        .analytic(&p, &config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("build 4935"), "{err}");
    // The host's weights: the mapped span and the repacked copies.
    assert_eq!(
        old.host.weights,
        host_bytes(&old, "CPU_Mapped") + host_bytes(&old, "CPU_AARCH64")
    );
}

#[test]
fn current_builds_keep_host_blocks_for_op_offload() {
    let now = run(None, true);
    assert!(now
        .buffers
        .iter()
        .all(|b| !b.buffer.starts_with("CPU_REPACK") && b.buffer != "CPU_AARCH64"));
    // Mid-2025 (after the rename, still no repacking beside a GPU).
    let mid = run(Some(5781), true);
    assert_eq!(
        host_bytes(&mid, "CPU_REPACK") + host_bytes(&mid, "CPU_AARCH64"),
        0
    );
    assert_eq!(
        host_bytes(&now, "CPU_Mapped"),
        host_bytes(&run(None, false), "CPU_Mapped")
    );
}

fn no_host_run(mmap: bool, overrides: bool) -> memcal_predict::Result<Estimate> {
    let p = presets::profile(MODEL).unwrap();
    let mut config = RunConfig {
        device: Device::Cuda(0),
        gpu_layers: Some(4),
        no_host: true,
        mmap,
        margin_pct: 0.0,
        ..RunConfig::default()
    };
    if overrides {
        config.tensor_overrides =
            memcal_predict::config::TensorOverrides(vec![memcal_predict::config::TensorOverride {
                layer: None,
                part: memcal_predict::config::TensorPart::Output,
                target: memcal_predict::config::OverrideTarget::Host,
            }]);
    }
    Backend::LlamaCpp.analytic(&p, &config)
}

#[test]
fn no_host_repacks_the_host_blocks_on_a_current_build() {
    let p = presets::profile(MODEL).unwrap();
    let n = p.shape.n_layers as usize;
    // -ngl 4 on a current build: the output layer and the last three blocks on the GPU.
    let host: u64 = (0..n - 3).map(|l| repackable(&p, l)).sum();
    let e = no_host_run(true, false).unwrap();
    assert_eq!(host_bytes(&e, "CPU_REPACK"), host);
    // Without mmap the rest is a plain CPU buffer, not the pinned one.
    let e = no_host_run(false, false).unwrap();
    assert!(host_bytes(&e, "CPU") > 0);
    assert_eq!(host_bytes(&e, "CUDA_Host"), 0);
    assert_eq!(
        e.host.weights,
        host_bytes(&e, "CPU") + host_bytes(&e, "CPU_REPACK")
    );
    // Overridden weights' repacking is not modelled: refused, not guessed.
    let err = no_host_run(true, true).unwrap_err().to_string();
    assert!(
        err.contains("tensor overrides") && err.contains("--no-host"),
        "{err}"
    );
}
