//! `-ot "^output\.weight$=CPU"` (and `=CUDAn`): the output layer's weights go where the
//! override says, while llama.cpp's output device, chosen by `-ngl`, keeps the logits in
//! its pinned host buffer; with the weights on the host, op offload copies them into the
//! first GPU for a micro-batch's logits.

use memcal_predict::backend::Backend;
use memcal_predict::buffer::{BufferKind, EngineBuffer};
use memcal_predict::config::{
    Device, OverrideTarget, SplitMode, SplitOptions, TensorOverride, TensorOverrides, TensorPart,
};
use memcal_predict::{presets, Estimate, RunConfig};

fn gpu_run(overrides: Vec<TensorOverride>, gpus: usize) -> Estimate {
    let p = presets::profile("llama-3.1-8b:Q4_K").unwrap();
    let split = (gpus > 1)
        .then(|| SplitOptions::gpus(Device::Cuda(0), gpus, &[], SplitMode::Layer).unwrap());
    let config = RunConfig {
        device: Device::Cuda(0),
        margin_pct: 0.0,
        split,
        tensor_overrides: TensorOverrides(overrides),
        ..RunConfig::default()
    };
    Backend::LlamaCpp.analytic(&p, &config).unwrap()
}

/// The bytes of the buffers named `buffer` of `kind`, on the host or any GPU.
fn bytes(e: &Estimate, buffer: &str, kind: BufferKind) -> u64 {
    let all: Vec<&EngineBuffer> = e
        .buffers
        .iter()
        .chain(e.devices.iter().flat_map(|d| d.buffers.iter()))
        .collect();
    all.iter()
        .filter(|b| b.buffer == buffer && b.component == kind)
        .map(|b| b.bytes)
        .sum()
}

fn output_to(target: OverrideTarget) -> Vec<TensorOverride> {
    vec![TensorOverride {
        layer: None,
        part: TensorPart::Output,
        target,
    }]
}

#[test]
fn the_output_weights_stay_on_the_host_and_the_logits_buffer_stays_pinned() {
    let plain = gpu_run(Vec::new(), 1);
    let moved = gpu_run(output_to(OverrideTarget::Host), 1);
    let p = presets::profile("llama-3.1-8b:Q4_K").unwrap();
    let output: u64 = p
        .matmul_weights
        .iter()
        .filter(|w| w.ne1 == p.shape.vocab)
        .map(|w| w.bytes)
        .sum();
    let gpu_less =
        bytes(&plain, "CUDA0", BufferKind::Model) - bytes(&moved, "CUDA0", BufferKind::Model);
    // The projection and its norm (16 KiB) leave the GPU, in its padded size.
    assert!(
        gpu_less >= output && gpu_less < output + (1 << 20),
        "{gpu_less} vs {output}"
    );
    assert!(!moved.devices[0].output_layer);
    // The output buffer is still the GPU's pinned host buffer.
    assert!(bytes(&moved, "CUDA_Host", BufferKind::Output) > 0);
    assert_eq!(bytes(&moved, "CPU", BufferKind::Output), 0);
    // A micro-batch's logits are computed on the GPU over a copy of the weights: the
    // buffer holds both.
    let logits = 512 * p.shape.vocab * 4;
    let compute = bytes(&moved, "CUDA0", BufferKind::Compute);
    assert!(compute >= output + logits, "{compute}");
    assert!(compute > bytes(&plain, "CUDA0", BufferKind::Compute));
}

#[test]
fn an_override_to_a_gpu_moves_the_output_layer_there() {
    // Two GPUs: -ngl puts the output layer on the last; the override on the first.
    let plain = gpu_run(Vec::new(), 2);
    assert!(plain.devices[1].output_layer && !plain.devices[0].output_layer);
    let moved = gpu_run(output_to(OverrideTarget::Gpu(0)), 2);
    assert!(moved.devices[0].output_layer && !moved.devices[1].output_layer);
    let total =
        |e: &Estimate| bytes(e, "CUDA0", BufferKind::Model) + bytes(e, "CUDA1", BufferKind::Model);
    let diff = total(&moved).abs_diff(total(&plain));
    assert!(diff < 1 << 20, "the weights only move: {diff}");
}
