//! Blocks `-ngl` leaves in host memory run on the first GPU for a micro-batch of 32 tokens
//! or more (op offload): the GPU's compute buffer holds copies of their weights and of
//! their K and V cache views, the CPU's the K and V rows their KV stores write. Below 32
//! tokens, or with `--no-op-offload`, the CPU computes the host graph parts itself, and
//! the pinned host compute buffer holds them: the blocks `-ngl` keeps on the host as
//! ggml's allocator lays them out on a CPU, the parts of blocks overrides keep there by
//! their live set. No printed log checks that share, and the estimate says so.

use memcal_predict::backend::Backend;
use memcal_predict::buffer::BufferKind;
use memcal_predict::config::FlashAttn;
use memcal_predict::{presets, Device, Estimate, RunConfig};

/// Llama 3.1 8B: 32 blocks, 8 KV heads of 128, an output layer of its own.
const MODEL: &str = "llama-3.1-8b:Q4_0";

fn config(ctx: u32, gpu_layers: u32, ubatch: u32, fa: FlashAttn) -> RunConfig {
    RunConfig {
        device: Device::Cuda(0),
        gpu_layers: Some(gpu_layers),
        engine_build: Some(11434),
        ctx,
        ubatch,
        flash_attn: fa,
        margin_pct: 0.0,
        ..RunConfig::default()
    }
}

fn estimate(model: &str, config: &RunConfig) -> Estimate {
    let p = presets::profile(model).unwrap();
    Backend::LlamaCpp.analytic(&p, config).unwrap()
}

fn no_op_offload(config: RunConfig) -> RunConfig {
    RunConfig {
        no_op_offload: true,
        ..config
    }
}

fn compute(e: &Estimate, buffer: &str) -> u64 {
    let all = e
        .buffers
        .iter()
        .chain(e.devices.iter().flat_map(|d| &d.buffers));
    all.filter(|b| b.buffer == buffer && b.component == BufferKind::Compute)
        .map(|b| b.bytes)
        .sum()
}

fn noted(e: &Estimate) -> bool {
    e.notes
        .iter()
        .any(|n| n.contains("op offload leaves to the CPU"))
}

/// One block's f16 K (or V) over `ctx` cells: 8 KV heads of 128.
fn view(ctx: u32) -> u64 {
    u64::from(ctx) * 8 * 128 * 2
}

#[test]
fn the_first_gpu_holds_a_host_blocks_kv_view_copies() {
    // Flash attention over 131072 cells: a host block's K and V copies (256 MiB each)
    // outgrow everything the GPU's own blocks and the output head hold (the logits of
    // 512 rows are 250.5 MiB).
    let ctx = 131072;
    let on = estimate(MODEL, &config(ctx, 10, 512, FlashAttn::On));
    assert!(!noted(&on), "{:?}", on.notes);
    assert!(
        compute(&on, "CUDA0") >= 2 * view(ctx),
        "{}",
        compute(&on, "CUDA0")
    );
    let off = estimate(MODEL, &no_op_offload(config(ctx, 10, 512, FlashAttn::On)));
    assert!(noted(&off));
    assert!(
        compute(&off, "CUDA0") < 2 * view(ctx),
        "{}",
        compute(&off, "CUDA0")
    );
    // Without flash attention each block's score matrix is the widest point, and the host
    // block's copies come on top of it. The GPU's inputs differ by a micro-batch of rows
    // and a few small ones: it starts from the embeddings (and the mixed-batch inputs)
    // rather than the residual the CPU's last block hands over.
    let ctx = 32768;
    let on = estimate(MODEL, &config(ctx, 10, 512, FlashAttn::Off));
    let off = estimate(MODEL, &no_op_offload(config(ctx, 10, 512, FlashAttn::Off)));
    let more = compute(&on, "CUDA0") - compute(&off, "CUDA0");
    let rows = 512 * 4096 * 4 + (64 << 10);
    assert!(
        more >= 2 * view(ctx) && more <= 2 * view(ctx) + rows,
        "{more}"
    );
}

#[test]
fn below_the_offload_batch_the_cpu_computes_the_host_blocks() {
    for fa in [FlashAttn::On, FlashAttn::Off] {
        // With -ngl 0 the first GPU holds no block; under 32 tokens, or with op offload
        // off, nothing reaches it.
        assert_eq!(
            compute(&estimate(MODEL, &config(8192, 0, 16, fa)), "CUDA0"),
            0
        );
        let off = estimate(MODEL, &no_op_offload(config(8192, 0, 512, fa)));
        assert_eq!(compute(&off, "CUDA0"), 0);
        assert!(noted(&off));
        assert!(compute(&estimate(MODEL, &config(8192, 0, 512, fa)), "CUDA0") > 0);
        assert!(noted(&estimate(MODEL, &config(8192, 10, 16, fa))));
    }
}

#[test]
fn the_cpu_holds_the_rows_the_kv_stores_write_where_they_outgrow_the_embedding_rows() {
    // Grouped KV heads: a micro-batch's K and V rows (2 x 1024 wide) are narrower than the
    // embedding rows (4096) whose place they take, so the host compute buffer is the
    // graph inputs' as with every block on the GPU.
    let full = estimate(MODEL, &config(4096, 33, 512, FlashAttn::On));
    let partial = estimate(MODEL, &config(4096, 10, 512, FlashAttn::On));
    assert_eq!(compute(&partial, "CUDA_Host"), compute(&full, "CUDA_Host"));
    // One KV head per query head (BitNet b1.58 large's shape: 1536 wide, 16 heads of 96):
    // K and V rows of 2 x 1536 take the place of 1536-wide embedding rows.
    let mha = "bitnet-b1.58-large:Q4_0";
    let full = estimate(mha, &config(4096, 25, 512, FlashAttn::On));
    let partial = estimate(mha, &config(4096, 4, 512, FlashAttn::On));
    assert_eq!(
        compute(&partial, "CUDA_Host") - compute(&full, "CUDA_Host"),
        512 * 1536 * 4
    );
}

#[test]
fn a_block_an_override_keeps_on_the_host_has_its_cache_on_the_gpu() {
    // `-ot blk\.5\.=CPU` with every layer offloaded: block 5's weights stay in host memory,
    // but its cache follows `-ngl` to the GPU. Op offload runs it there with copies of its
    // weights only: nothing for the CPU beyond the graph inputs, and nothing unmodelled;
    // under 32 tokens the CPU computes it and the note says so.
    use memcal_predict::config::overrides::{
        OverrideTarget, TensorOverride, TensorOverrides, TensorPart,
    };
    let with = |ubatch| RunConfig {
        tensor_overrides: TensorOverrides(vec![TensorOverride {
            layer: Some(5),
            part: TensorPart::Block,
            target: OverrideTarget::Host,
        }]),
        ..config(8192, 33, ubatch, FlashAttn::On)
    };
    let kept = estimate(MODEL, &with(512));
    let all = estimate(MODEL, &config(8192, 33, 512, FlashAttn::On));
    assert!(!noted(&kept), "{:?}", kept.notes);
    assert_eq!(compute(&kept, "CUDA_Host"), compute(&all, "CUDA_Host"));
    assert!(compute(&kept, "CUDA0") >= compute(&all, "CUDA0"));
    assert!(noted(&estimate(MODEL, &with(16))));
}

/// Qwen3-30B-A3B: 48 blocks of 128 experts, 8 used, 768 wide, hidden 2048.
const MOE: &str = "qwen3-30b-a3b:Q4_K_M";

#[test]
fn with_no_layer_on_the_gpu_and_op_offload_off_the_host_buffer_is_a_cpu_runs() {
    // `-ngl 0`, and op offload off by the flag or the batch: the CPU computes the whole
    // graph, as on a machine without a GPU, and the GPU computes nothing.
    for fa in [FlashAttn::On, FlashAttn::Off] {
        for (ubatch, flag) in [(512, true), (16, false), (16, true)] {
            let gpu = config(8192, 0, ubatch, fa);
            let e = estimate(MODEL, &if flag { no_op_offload(gpu) } else { gpu });
            let alone = RunConfig {
                device: Device::Cpu,
                ..config(8192, 0, ubatch, fa)
            };
            assert_eq!(
                compute(&e, "CUDA_Host"),
                compute(&estimate(MODEL, &alone), "CPU"),
                "{fa:?}, ubatch {ubatch}"
            );
            assert_eq!(compute(&e, "CUDA0"), 0);
            assert!(noted(&e), "{:?}", e.notes);
        }
    }
}

#[test]
fn with_host_blocks_and_op_offload_off_the_cpu_holds_one_of_them_at_a_time() {
    // -ngl 10 and 20 (the output layer and 9 or 19 blocks on the GPU): the CPU's widest
    // point is one host block, however many there are, wider than the graph inputs the
    // host holds while op offload runs those blocks on the GPU.
    for fa in [FlashAttn::On, FlashAttn::Off] {
        let ten = estimate(MODEL, &no_op_offload(config(8192, 10, 512, fa)));
        let twenty = estimate(MODEL, &no_op_offload(config(8192, 20, 512, fa)));
        let offloaded = estimate(MODEL, &config(8192, 10, 512, fa));
        assert_eq!(compute(&ten, "CUDA_Host"), compute(&twenty, "CUDA_Host"));
        assert!(
            compute(&ten, "CUDA_Host") > compute(&offloaded, "CUDA_Host"),
            "{fa:?}: {} vs {}",
            compute(&ten, "CUDA_Host"),
            compute(&offloaded, "CUDA_Host")
        );
        assert!(compute(&ten, "CUDA0") <= compute(&offloaded, "CUDA0"));
        assert!(noted(&ten) && !noted(&offloaded));
    }
    // Every layer on the GPU: nothing for the CPU to compute, no note.
    let full = estimate(MODEL, &no_op_offload(config(8192, 33, 512, FlashAttn::On)));
    assert!(!noted(&full), "{:?}", full.notes);
    let with = estimate(MODEL, &config(8192, 33, 512, FlashAttn::On));
    assert_eq!(compute(&full, "CUDA_Host"), compute(&with, "CUDA_Host"));
}

#[test]
fn experts_the_cpu_computes_hold_their_rows_in_the_host_buffer() {
    // `-ot exps=CPU --no-op-offload`: every block's routed experts run on the CPU, which
    // holds at least their down projection's output per used expert (512 tokens x 8
    // experts x 2048) for the weighted sum; with op offload the GPU runs them.
    use memcal_predict::config::overrides::{
        OverrideTarget, TensorOverride, TensorOverrides, TensorPart,
    };
    let exps = |ubatch| RunConfig {
        tensor_overrides: TensorOverrides(vec![TensorOverride {
            layer: None,
            part: TensorPart::Experts,
            target: OverrideTarget::Host,
        }]),
        ..config(8192, 49, ubatch, FlashAttn::On)
    };
    let cpu = estimate(MOE, &no_op_offload(exps(512)));
    let offloaded = estimate(MOE, &exps(512));
    assert!(noted(&cpu) && !noted(&offloaded), "{:?}", cpu.notes);
    let grown = compute(&cpu, "CUDA_Host") - compute(&offloaded, "CUDA_Host");
    assert!(grown >= 512 * 8 * 2048 * 4, "{grown}");
}
