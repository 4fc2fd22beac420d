//! The planner finds the edge of what fits: the answer fits, one more does not.

use memcal_predict::calibrate::calibrated;
use memcal_predict::calibrate::table_set::TableSet;
use memcal_predict::planner::{plan, Budget};
use memcal_predict::{Device, RunConfig};

fn tables() -> TableSet {
    TableSet::embedded().unwrap()
}

#[test]
fn max_context_is_the_largest_that_fits() {
    let p = memcal_predict::presets::profile("bitnet-b1.58-2b-4t").unwrap();
    let t = tables();
    let base = RunConfig::default();
    let budget = Budget {
        host_bytes: 3 << 30,
        gpu_bytes: None,
    };
    let pl = plan(&p, &base, budget, &t).unwrap();
    let max = pl.max_ctx.expect("3 GiB holds the 2B-4T model");
    let at = |ctx| {
        calibrated(
            &p,
            &RunConfig {
                ctx,
                ..base.clone()
            },
            &t,
        )
        .unwrap()
    };
    assert!(at(max).host_bytes() <= budget.host_bytes);
    if max < pl.ctx_limit {
        assert!(at(max + 1).host_bytes() > budget.host_bytes);
    }
    let maxb = pl.max_batch.expect("batch 1 fits");
    let atb = |batch| {
        calibrated(
            &p,
            &RunConfig {
                batch,
                ..base.clone()
            },
            &t,
        )
        .unwrap()
    };
    assert!(atb(maxb).host_bytes() <= budget.host_bytes);
    assert!(atb(maxb + 1).host_bytes() > budget.host_bytes);
}

#[test]
fn nothing_fits_a_tiny_budget() {
    let p = memcal_predict::presets::profile("llama-3.1-8b").unwrap();
    let budget = Budget {
        host_bytes: 100 << 20,
        gpu_bytes: None,
    };
    let pl = plan(&p, &RunConfig::default(), budget, &tables()).unwrap();
    assert!(!pl.requested_fits);
    assert_eq!(pl.max_ctx, None);
    assert_eq!(pl.max_batch, None);
}

#[test]
fn gpu_split_puts_as_many_blocks_as_fit_on_the_gpu() {
    let p = memcal_predict::presets::profile("llama-3.1-8b:Q4_0").unwrap();
    let t = tables();
    let cfg = RunConfig {
        device: Device::Cuda(0),
        ..RunConfig::default()
    };
    let big = Budget {
        host_bytes: 64 << 30,
        gpu_bytes: Some(80 << 30),
    };
    assert_eq!(
        plan(&p, &cfg, big, &t).unwrap().gpu_layers,
        p.shape.n_layers
    );
    let small = Budget {
        host_bytes: 64 << 30,
        gpu_bytes: Some(3 << 30),
    };
    let pl = plan(&p, &cfg, small, &t).unwrap();
    assert!(
        pl.gpu_layers > 0 && pl.gpu_layers < p.shape.n_layers,
        "{}",
        pl.gpu_layers
    );
    assert!(pl.requested.gpu_bytes().unwrap() <= 3 << 30);
    let one_more = RunConfig {
        gpu_layers: Some(pl.gpu_layers + 1),
        ..cfg.clone()
    };
    assert!(calibrated(&p, &one_more, &t).unwrap().gpu_bytes().unwrap() > 3 << 30);
}
