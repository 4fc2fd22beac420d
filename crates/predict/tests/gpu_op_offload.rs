//! Blocks `-ngl` leaves in host memory run on the first GPU for a micro-batch of 32 tokens
//! or more (op offload): the GPU's compute buffer holds copies of their weights and of
//! their K and V cache views, the CPU's the K and V rows their KV stores write. Below 32
//! tokens the CPU computes them, which memcal does not model and says so.

use memcal_predict::backend::Backend;
use memcal_predict::buffer::BufferKind;
use memcal_predict::config::FlashAttn;
use memcal_predict::{presets, Device, Estimate, RunConfig};

const CTX: u32 = 32768;

fn run(model: &str, gpu_layers: u32, ubatch: u32, fa: FlashAttn) -> Estimate {
    let config = RunConfig {
        device: Device::Cuda(0),
        gpu_layers: Some(gpu_layers),
        engine_build: Some(11434),
        ctx: CTX,
        ubatch,
        flash_attn: fa,
        margin_pct: 0.0,
        ..RunConfig::default()
    };
    let p = presets::profile(model).unwrap();
    Backend::LlamaCpp.analytic(&p, &config).unwrap()
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
    e.notes.iter().any(|n| n.contains("op offload leaves"))
}

#[test]
fn the_first_gpu_holds_a_host_blocks_kv_view_copies() {
    // Llama 3.2 1B: 16 blocks, 8 KV heads of 64; one block's f16 K and V over 32768
    // cells are 32 MiB each.
    let model = "llama-3.2-1b:Q4_0";
    let view = u64::from(CTX) * 8 * 64 * 2;
    for fa in [FlashAttn::On, FlashAttn::Off] {
        let partial = run(model, 4, 512, fa);
        assert!(!noted(&partial), "{:?}", partial.notes);
        // With -ngl 0 the first GPU holds no block, only what op offload runs there.
        let none = run(model, 0, 512, fa);
        assert!(
            compute(&none, "CUDA0") >= 2 * view,
            "{}",
            compute(&none, "CUDA0")
        );
        assert!(compute(&partial, "CUDA0") >= 2 * view);
        // Under 32 tokens the CPU computes the host blocks: nothing for a GPU that holds
        // none, and the note where memcal does not model the CPU's share.
        assert_eq!(compute(&run(model, 0, 16, fa), "CUDA0"), 0);
        assert!(noted(&run(model, 4, 16, fa)));
    }
}

#[test]
fn the_cpu_holds_the_rows_the_kv_stores_write_where_they_outgrow_the_embedding_rows() {
    // Grouped KV heads: a micro-batch's K and V rows (2 x 512 wide) are narrower than the
    // embedding rows (2048) whose place they take, so the host compute buffer is the
    // graph inputs' as with every block on the GPU.
    let gqa = "llama-3.2-1b:Q4_0";
    let full = run(gqa, 17, 512, FlashAttn::On);
    let partial = run(gqa, 4, 512, FlashAttn::On);
    assert_eq!(compute(&partial, "CUDA_Host"), compute(&full, "CUDA_Host"));
    // One KV head per query head (BitNet b1.58 large's shape: 1536 wide, 16 heads of 96):
    // K and V rows of 2 x 1536 take the place of 1536-wide embedding rows.
    let mha = "bitnet-b1.58-large:Q4_0";
    let full = run(mha, 25, 512, FlashAttn::On);
    let partial = run(mha, 4, 512, FlashAttn::On);
    assert_eq!(
        compute(&partial, "CUDA_Host") - compute(&full, "CUDA_Host"),
        512 * 1536 * 4
    );
}
