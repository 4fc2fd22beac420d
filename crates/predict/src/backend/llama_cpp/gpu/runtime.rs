//! What a GPU holds beyond llama.cpp's buffers (the `unaccounted` column of its memory
//! breakdown): the CUDA context, the cuBLAS workspace and ggml-cuda's memory pool for the
//! temporaries of its kernels (docs/llama-cpp-cuda-memory.md, part E). Modelled from the
//! source, each with its uncertainty: no GPU has been lent to measure them.

use crate::backend::llama_cpp::cparams::Cparams;
use crate::components::RuntimeMemory;
use crate::device::DeviceModel;

const F32: u64 = 4;
const F16: u64 = 2;
const MIB: u64 = 1 << 20;
/// The VMM pool grows in steps of the recommended allocation granularity (2 MiB on the
/// GPUs seen).
const POOL_GRANULARITY: u64 = 2 * MIB;

/// The largest temporaries of one micro-batch's kernels on a GPU holding `blocks` blocks:
/// with flash attention off, cuBLAS's conversions for KQ and KQV; the F16 copies of a
/// quantized K and V where the build keeps them in the pool; MMQ's q8_1 copy of a
/// matmul's input. The pool reaches the largest of them (it is a stack, freed per op).
fn pool_bytes(cp: &Cparams, blocks: usize) -> u64 {
    if blocks == 0 {
        return 0;
    }
    let s = &cp.profile.shape;
    let t = cp.n_ubatch;
    let n_kv = cp.kv.cells;
    let (h, hkv) = (u64::from(s.n_heads), u64::from(s.max_kv_heads()));
    let (dk, dv) = (u64::from(s.head_dim_k), u64::from(s.head_dim_v));
    let attention = if cp.flash_attn {
        if cp.config.kv_dtype.is_quantized() && !cp.build.gpu.fa_f16_scratch {
            F16 * (dk + dv) * n_kv * hkv
        } else {
            0
        }
    } else {
        let kq = if cp.build.gpu.kq_f32_pool {
            F32 * dk * n_kv * hkv
        } else {
            F16 * dk * t * h
        };
        kq.max(F16 * n_kv * t * h + F16 * dv * t * h)
    };
    // MMQ quantizes each matmul's input to q8_1: 144 bytes per 128 values, rows padded to
    // 512; the widest input is the FFN's (of every used expert for a mixture).
    let used = s.moe().map_or(1, |e| u64::from(e.active.max(1)));
    let widest = s.hidden.max(s.ffn);
    let mmq = t * used * widest.div_ceil(512) * 512 * 144 / 128;
    attention.max(mmq).div_ceil(POOL_GRANULARITY) * POOL_GRANULARITY
}

/// What GPU `device` holds beyond the buffers when it computes `blocks` blocks.
pub fn runtime_memory(cp: &Cparams, device: &dyn DeviceModel, blocks: usize) -> Vec<RuntimeMemory> {
    let pool = pool_bytes(cp, blocks);
    let mut out = vec![RuntimeMemory {
        name: "gpu_context".into(),
        bytes: device.context_bytes(),
        uncertainty_bytes: 200 * MIB,
        basis: "the CUDA context and module images; not in llama.cpp's code, varies with the \
                GPU and driver (the device's analytic default, not measured)"
            .into(),
    }];
    if cp.build.gpu.cublas_workspace {
        out.push(RuntimeMemory {
            name: "cublas_workspace".into(),
            bytes: 4 * MIB,
            uncertainty_bytes: 28 * MIB,
            basis: "one cuBLAS handle's static workspace: 4 MiB, 32 MiB on Hopper and later \
                    (ggml-cuda common.cuh, from b10531)"
                .into(),
        });
    }
    out.push(RuntimeMemory {
        name: "memory_pool".into(),
        bytes: pool,
        uncertainty_bytes: pool / 2 + POOL_GRANULARITY,
        basis: "ggml-cuda's pool at its high-water mark: the largest temporary of one \
                micro-batch's kernels (cuBLAS conversions without flash attention, MMQ's \
                quantized inputs), in 2 MiB steps"
            .into(),
    });
    out
}
