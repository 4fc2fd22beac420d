//! Predictor latency: `inspect` (header read + profile) and `estimate` / `plan` on a
//! 7B-shaped and a 70B-shaped GGUF header with a 128k-token tokenizer, file in page cache.
//!
//! Run: `cargo bench -p memcal-benches --bench predictor_latency`.

use criterion::{criterion_group, criterion_main, Criterion};
use memcal_benches::write_header_fixture;
use predictor::calibrate::table_set::TableSet;
use predictor::planner::{plan, Budget};
use predictor::{Device, RunConfig};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot make a temp dir for the fixtures: {e}"),
    };
    let tables = TableSet::embedded().unwrap_or_default();
    for spec in [
        "llama-3.1-8b:Q4_K",
        "llama-3.1-70b:Q4_K",
        "bitnet-b1.58-2b-4t:I2_S",
    ] {
        let path = match write_header_fixture(dir.path(), spec) {
            Ok(p) => p,
            Err(e) => panic!("cannot write fixture {spec}: {e}"),
        };
        // Warm the page cache.
        let _ = predictor::read::load_profile(&path);
        c.bench_function(&format!("inspect/{spec}"), |b| {
            b.iter(|| black_box(predictor::inspect::inspect(black_box(&path)).map(|i| i.n_params)))
        });
        c.bench_function(&format!("estimate/{spec}"), |b| {
            b.iter(|| {
                let p = predictor::read::load_profile(black_box(&path));
                p.and_then(|p| {
                    let cfg = RunConfig {
                        ctx: 8192,
                        ..RunConfig::default()
                    };
                    predictor::calibrate::calibrated(&p, &cfg, &tables)
                })
                .map(|e| black_box(e.host_bytes()))
            })
        });
        let profile = match predictor::read::load_profile(&path) {
            Ok(p) => p,
            Err(e) => panic!("fixture {spec} does not read back: {e}"),
        };
        c.bench_function(&format!("plan/{spec}"), |b| {
            b.iter(|| {
                let cfg = RunConfig {
                    device: Device::Cuda(0),
                    ..RunConfig::default()
                };
                let budget = Budget {
                    host_bytes: 64 << 30,
                    gpu_bytes: Some(24 << 30),
                };
                black_box(plan(&profile, &cfg, budget, &tables).map(|p| p.max_ctx))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
