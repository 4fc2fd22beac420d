//! llama.cpp on GPUs (CUDA, and ROCm, which runs the same ggml-cuda code): what each GPU
//! holds and what stays on the host, buffer by buffer under llama.cpp's names, read from
//! its source (docs/llama-cpp-cuda-memory.md gives every rule with its function and the
//! builds it holds from) and checked against the buffers public logs print
//! (calibration/gpu-logs). One GPU with `--gpu-layers` is a split over one device.
//!
//! - [`residence`]: `-ngl` places the last blocks and the output layer over the GPUs
//!   (`--tensor-split`, or equal shares), the token embedding stays on the host, and the
//!   tensor overrides (`-ot`, `--cpu-moe`, `--n-cpu-moe`) move parts of blocks.
//! - [`device`]: each GPU's model buffer (padded as its buffer type pads), its blocks'
//!   KV, its compute buffer, and its context, cuBLAS workspace and memory pool
//!   ([`runtime`]).
//! - [`row_split`]: `-sm row`, refused where the build has no split buffers.
//! - [`host`]: the mapped or pinned weights left on the host, the KV of host blocks, the
//!   output buffer and the pinned host compute buffer of the graph inputs.
//! - [`host_cpu`]: the host graph parts the CPU computes itself where op offload does not
//!   take them (a micro-batch under 32 tokens, `--no-op-offload`).
//! - [`host_repack`]: the host blocks' weights older builds repack beside a GPU.
//! - [`op_offload`]: what the first GPU computes for host weights (the graph of host
//!   blocks, the output projection) and the copies it holds for that.
//! - [`blas`]: a build's BLAS backend (`--blas`): its compute buffer, and the products of
//!   host weights it takes from op offload.

pub mod blas;
pub mod device;
pub mod host;
pub mod host_cpu;
pub mod host_repack;
pub mod op_offload;
pub mod residence;
pub mod row_split;
pub mod runtime;

use self::device::device_estimate;
use self::host::host_process;
use self::residence::Residence;
use self::row_split::{refuse_missing_row_split, ROW_AS_LAYER};
use super::context::config_notes;
use super::cparams::Cparams;
use super::split::placement::{offloaded, pipeline_copies};
use crate::components::{Components, DeviceEstimate, Estimate};
use crate::config::{SplitMode, SplitOptions};
use crate::device as devices;
use crate::error::Result;

/// The analytic estimate of a llama.cpp-family engine on the GPUs of `split`: the host
/// process as `host`, each GPU in `devices`, and their sum as `gpu`.
pub fn estimate(cp: &Cparams, split: &SplitOptions) -> Result<Estimate> {
    let (fam, profile, config) = (cp.build, cp.profile, cp.config);
    refuse_missing_row_split(fam, config, split)?;
    config.tensor_overrides.validate(split.devices.len())?;
    host_repack::refuse_overrides(cp)?;
    let res = Residence::new(profile, config, split, fam.output_layer_first);
    let copies = pipeline_copies(cp, split);
    let devices: Vec<DeviceEstimate> = (0..split.devices.len())
        .map(|i| device_estimate(cp, split, &res, i, copies))
        .collect();
    let gpu0 = devices::for_split(split.devices[0].kind);
    let (host, buffers) = host_process(cp, &res, gpu0);
    let mut gpu = devices
        .iter()
        .fold(Components::default(), |a, d| Components {
            weights: a.weights + d.memory.weights,
            kv_cache: a.kv_cache + d.memory.kv_cache,
            activations: a.activations + d.memory.activations,
            overhead: a.overhead + d.memory.overhead,
            headroom: 0,
        });
    gpu = gpu.with_headroom(config.margin_pct);
    let mut notes = config_notes(cp);
    notes.push(format!(
        "{} on GPUs: buffers modelled from its source and checked against public logs' \
         printed buffers (calibration/gpu-logs); the GPU context, cuBLAS workspace and \
         memory pool are modelled, not measured (see each device's runtime list)",
        fam.name
    ));
    if split.mode == SplitMode::Row {
        notes.push(ROW_AS_LAYER.into());
    }
    notes.extend(blas::note(cp, &res));
    notes.extend(host::host_blocks_note(cp, &res));
    if copies > 1 {
        notes.push(format!(
            "pipeline parallelism: the scheduler keeps {copies} copies of each split input"
        ));
    }
    Ok(Estimate {
        backend: fam.name.to_string(),
        config: config.clone(),
        gpu_layers: offloaded(profile.shape.n_layers, config.gpu_layers),
        host: host.with_headroom(config.margin_pct),
        gpu: Some(gpu),
        calibration: None,
        notes,
        buffers,
        devices,
    })
}
