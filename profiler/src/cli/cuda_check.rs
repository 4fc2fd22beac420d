//! `profiler cuda-check`: a short self-test of candle on one device, for the first minute
//! on a GPU box (scripts/gpu-calibrate.sh runs it before anything else).
//!
//! It checks what a build made without a GPU cannot: that the CUDA context, cuBLAS and
//! cuRAND handles are created (`Device::new_cuda`), that candle's PTX kernels load on this
//! driver (a unary and a reduction op), that a cuBLAS f32 matmul and the quantized matmul of
//! each classic block type agree with the CPU, and how much device memory each step adds
//! (device-wide `cuMemGetInfo`, so other processes count), including whether a freed 64 MiB
//! buffer returns to the device or stays in the allocator's pool; then the reference
//! runtime's tensor forward on the device against its host forward (tiny I2_S, Q8_0 and
//! Q4_0 models, all blocks and a split). `--device cpu` runs the same
//! steps on the CPU (the comparison is then trivial), so the code is exercised by every
//! build; a build without the `cuda` feature reports candle's "not compiled with cuda".

use crate::measure::gpu::{GpuMonitor, MemInfo};
use anyhow::Context;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use predictor_cli::cli_args::human_bytes;

/// Arguments of `profiler cuda-check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CudaCheckArgs {
    /// Device to check: cuda:N (default cuda:0) or cpu.
    #[arg(long, default_value = "cuda:0")]
    pub device: String,
}

/// Largest relative error accepted between the device and the CPU (matmul sums in another
/// order on the GPU; quantized kernels quantize activations to q8 on both sides).
const TOLERANCE: f32 = 2e-2;

/// Runs `profiler cuda-check`; fails on the first step that fails.
pub fn run(args: &CudaCheckArgs) -> anyhow::Result<()> {
    let device: predictor::Device = args.device.parse()?;
    let ordinal = match device {
        predictor::Device::Cuda(o) => Some(o),
        predictor::Device::Cpu => None,
        predictor::Device::Rocm(_) => anyhow::bail!("cuda-check checks CUDA devices only"),
    };
    let monitor = match ordinal {
        Some(o) => {
            let m = GpuMonitor::open(o).map_err(|e| anyhow::anyhow!("{e}"))?;
            let info = m.info().map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "device   {} (cuda:{o}), {} total, driver {}, CUDA {}",
                info.name,
                human_bytes(info.total_bytes),
                info.driver_version,
                info.cuda_version
            );
            Some(m)
        }
        None => None,
    };
    let mut last = read(&monitor)?;
    if let Some(m) = last {
        println!(
            "context  used {} device-wide with this process's context",
            human_bytes(m.used())
        );
    }
    let mut step = |what: &str| -> anyhow::Result<()> {
        let now = read(&monitor)?;
        match (last, now) {
            (Some(a), Some(b)) => println!(
                "{what:<8} ok, device used {} ({:+} MiB)",
                human_bytes(b.used()),
                (b.used() as i64 - a.used() as i64) >> 20
            ),
            _ => println!("{what:<8} ok"),
        }
        last = now;
        Ok(())
    };

    let dev = match ordinal {
        Some(o) => Device::new_cuda(o as usize).context("candle Device::new_cuda")?,
        None => Device::Cpu,
    };
    step("handles")?;

    let cpu = Device::Cpu;
    let a = Tensor::randn(0f32, 1.0, (64, 512), &cpu)?;
    let b = Tensor::randn(0f32, 1.0, (512, 256), &cpu)?;
    let s = a.to_device(&dev)?.exp()?.sum_all()?.to_scalar::<f32>()?;
    let s_cpu = a.exp()?.sum_all()?.to_scalar::<f32>()?;
    check("exp+sum", s_cpu, s, (s_cpu - s).abs())?;
    step("kernels")?;

    let want = a.matmul(&b)?;
    let got = a
        .to_device(&dev)?
        .matmul(&b.to_device(&dev)?)?
        .to_device(&cpu)?;
    compare("matmul", &want, &got)?;
    step("cublas")?;

    // y = x W^T with W (256 x 512) in each classic block type, device against CPU.
    let w = Tensor::randn(0f32, 1.0, (256, 512), &cpu)?;
    for dt in [
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
        GgmlDType::Q2K,
        GgmlDType::Q3K,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ] {
        let on_cpu = QMatMul::from_qtensor(QTensor::quantize(&w, dt)?)?;
        let on_dev = QMatMul::from_qtensor(QTensor::quantize_onto(&w, dt, &dev)?)?;
        for rows in [1, 64] {
            let x = a.narrow(0, 0, rows)?;
            let want = on_cpu.forward(&x)?;
            let got = on_dev.forward(&x.to_device(&dev)?)?.to_device(&cpu)?;
            compare(&format!("{dt:?} x{rows}"), &want, &got)?;
        }
    }
    step("qmatmul")?;

    // The runtime's tensor forward on the device against its host forward, on tiny
    // synthetic models of each weight kind, with every block there and with half. The
    // quantized types' limit is loose: each side quantizes activations to 8-bit blocks its
    // own way (a few percent on these random models, see tests/device_parity.rs), while a
    // wrong layout, rotation or cache write gives differences of order one.
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    for (preset, tol) in [("tiny", 1e-2), ("tiny-llama", 0.15), ("tiny-qwen2", 0.15)] {
        let path = dir.path().join(format!("{preset}.gguf"));
        let spec = crate::synth::SynthSpec::preset(preset)?;
        crate::synth::write_model(&spec, &path)?;
        for (g, kv) in [
            (None, predictor::KvDtype::F16),
            (Some(1), predictor::KvDtype::F32),
        ] {
            let err = crate::runtime::device::parity::max_rel_diff(&path, &dev, g, kv)
                .with_context(|| format!("forward of {preset} on {device}"))?;
            let what = format!("forward {preset} gpu_layers={g:?} kv={kv}");
            anyhow::ensure!(
                err.is_finite() && err <= tol,
                "{what}: logits differ from the host by {err:.2e} (relative L2, limit {tol:.0e})"
            );
            println!("{what}: relative difference {err:.2e}");
        }
    }
    step("forward")?;

    // What a freed buffer leaves: candle allocates with cuMemAllocAsync from the default
    // pool, which may keep freed memory reserved (its release threshold).
    let big = Tensor::zeros((16, 1024, 1024), DType::F32, &dev)?;
    dev.synchronize()?;
    step("alloc64M")?;
    drop(big);
    dev.synchronize()?;
    step("freed")?;
    println!("cuda-check passed on {device}");
    Ok(())
}

fn read(monitor: &Option<GpuMonitor>) -> anyhow::Result<Option<MemInfo>> {
    monitor
        .as_ref()
        .map(|m| m.mem_info().map_err(|e| anyhow::anyhow!("{e}")))
        .transpose()
}

fn check(what: &str, want: f32, got: f32, err: f32) -> anyhow::Result<()> {
    let rel = err / want.abs().max(1e-6);
    anyhow::ensure!(
        rel.is_finite() && rel <= TOLERANCE,
        "{what}: device {got} against CPU {want} (relative error {rel:.3e})"
    );
    Ok(())
}

/// Compares two tensors of one shape by the largest difference relative to the largest
/// magnitude of `want`.
fn compare(what: &str, want: &Tensor, got: &Tensor) -> anyhow::Result<()> {
    anyhow::ensure!(
        want.dims() == got.dims(),
        "{what}: shape {:?} against {:?}",
        got.dims(),
        want.dims()
    );
    let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
    let err = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
    check(what, scale, scale + err, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_self_check_passes() {
        run(&CudaCheckArgs {
            device: "cpu".into(),
        })
        .unwrap();
    }

    #[test]
    fn compare_catches_a_wrong_result() {
        let a = Tensor::new(&[1f32, 2.0, 3.0], &Device::Cpu).unwrap();
        let b = Tensor::new(&[1f32, 2.0, 4.0], &Device::Cpu).unwrap();
        assert!(compare("t", &a, &a).is_ok());
        assert!(compare("t", &a, &b).is_err());
    }
}
