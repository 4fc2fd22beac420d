//! The public GPU log corpus (calibration/gpu-logs) replayed through the estimate: every
//! run upstream llama.cpp's GPU rules cover has each printed model, KV and output buffer
//! within 1% of the prediction and its compute buffers (GPU and host) within 5% at p95,
//! none under by more than 2%; every other run is listed with the reason it is left out.
//! And where a log shows `--fit`'s choice, `plan --gpus` makes the same one.

use calibration::gpu_logs::{cover, load, replay, Outcome, Run};
use predictor::backend::Backend;
use predictor::calibrate::table_set::TableSet;
use predictor::config::RunConfig;

fn corpus() -> Vec<Run> {
    load(&calibration::paths::workspace_root().join("calibration/gpu-logs")).expect("the corpus")
}

/// The corpus run `id`.
fn run_named(id: &str) -> Run {
    corpus()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no corpus run {id}"))
}

fn pct(x: f64) -> String {
    format!("{:+.2}%", 100.0 * x)
}

/// The p-th quantile (0..1) of `v`, by rank.
fn quantile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

#[test]
fn every_covered_run_matches_its_printed_buffers() {
    let runs = corpus();
    assert!(runs.len() >= 40, "the corpus holds {} runs", runs.len());
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut covered = Vec::new();
    for r in &runs {
        match cover(r) {
            Ok(c) => {
                covered.push(r.id.clone());
                outcomes.extend(replay(&c));
            }
            Err(why) => {
                assert!(!why.is_empty(), "{}: left out without a reason", r.id);
                println!("left out {:<34} {why}", r.id);
            }
        }
    }
    println!("covered: {}", covered.join(", "));
    assert!(covered.len() >= 6, "only {} runs covered", covered.len());
    let mut failures = Vec::new();
    for o in &outcomes {
        println!(
            "{:<34} {:<10} {:<8} {:>12.2} MiB printed {:>12.2} MiB predicted {}",
            o.run,
            o.device,
            o.kind,
            o.printed / 1048576.0,
            o.predicted / 1048576.0,
            pct(o.rel())
        );
        let within_1pct = matches!(o.kind.as_str(), "model" | "kv" | "output");
        if within_1pct && o.rel().abs() > 0.01 {
            failures.push(format!(
                "{} {} {}: {}",
                o.run,
                o.device,
                o.kind,
                pct(o.rel())
            ));
        }
        if o.is_compute() && o.rel() < -0.02 {
            failures.push(format!(
                "{} {} compute under by {}",
                o.run,
                o.device,
                pct(o.rel())
            ));
        }
    }
    let compute: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.is_compute())
        .map(|o| o.rel().abs())
        .collect();
    assert!(compute.len() >= 10, "{} compute buffers", compute.len());
    let p95 = quantile(compute, 0.95);
    println!("compute buffers: p95 |error| {}", pct(p95));
    if p95 > 0.05 {
        failures.push(format!("compute p95 {}", pct(p95)));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_fit_documented_by_llama_cpp_is_the_plan() {
    // tools/fit-params/README.md (build 6895): Qwen3-30B-A3B F16 on one RTX 4090 at -c 4096;
    // llama-fit-params answers `-ngl 48` with the experts of 34 blocks (14..47) on the CPU,
    // its projection 19187 MiB (model 17904 + context 384 + compute 898) leaving 1199 MiB
    // free against its 1024 MiB margin: so its own buffers could take 19187 + 1199 - 1024 =
    // 19362 MiB.
    let run = run_named("llamacpp-doc-fitparams-a");
    let c = cover(&run).expect("covered");
    let config = RunConfig {
        tensor_overrides: Default::default(),
        margin_pct: 0.0,
        ..c.config.clone()
    };
    assert_eq!(config.gpu_layers, Some(48));
    let tables = TableSet::empty();
    let mib = |m: f64| (m * 1048576.0) as u64;
    // memcal's device total adds, on top of the buffers, the runtime components it models
    // (which llama.cpp's projection leaves out); with --margin 0 it keeps no headroom: the
    // same budget for the buffers, in memcal's terms.
    let runtime = {
        let e = Backend::LlamaCpp
            .analytic(&c.profile, &config)
            .expect("an estimate");
        e.devices[0].runtime.iter().map(|r| r.bytes).sum::<u64>() as f64 / 1048576.0
    };
    let budget = mib(19362.0 + runtime);
    let plan = predictor::planner::plan_gpus(
        Backend::LlamaCpp,
        &c.profile,
        &config,
        u64::MAX / 4,
        &[budget],
        &tables,
    )
    .expect("a plan");
    println!(
        "{} (fit: -ngl 48 with 34 blocks' experts on the CPU)",
        plan.flags
    );
    assert_eq!(plan.gpu_layers, 48, "{}", plan.flags);
    assert_eq!(plan.n_cpu_moe, Some(34), "{}", plan.flags);
    // The buffers of that placement are the projection fit printed.
    let e = &plan.requested;
    let buffers: u64 = e.devices[0].buffers.iter().map(|b| b.bytes).sum();
    let printed = 19187.0;
    let rel = (buffers as f64 / 1048576.0 - printed) / printed;
    assert!(
        rel.abs() < 0.01,
        "buffers {} vs {printed} MiB",
        buffers as f64 / 1048576.0
    );
}

#[test]
fn a_run_known_only_between_two_builds_is_covered_where_their_rules_agree() {
    // ROCm/legacy-rocm-build#5104's description prints no build line; the same user's logs
    // print b5898 and b6019, and no GPU rule changes between them for this run.
    let run = run_named("rocmlegacy-5104-a");
    assert_eq!(run.build.number, None);
    assert_eq!(run.build.bounds, Some([5898, 6019]));
    let c = cover(&run).expect("covered");
    assert_eq!(c.config.engine_build, Some(5898));
    // Up to b8000 the bounds take in the graph's `inp_embd` placeholder (≈b7780), which
    // this run's host compute buffer would hold: the build would decide, so it is left out.
    let mut wide = run.clone();
    wide.build.bounds = Some([5898, 8000]);
    let why = cover(&wide).expect_err("left out");
    assert!(why.contains("the rules from b7780 on"), "{why}");
    let mut reversed = run.clone();
    reversed.build.bounds = Some([6019, 5898]);
    assert!(cover(&reversed).expect_err("left out").contains("reversed"));
    let mut unbounded = run.clone();
    unbounded.build.bounds = Some([5898, u32::MAX]);
    assert!(cover(&unbounded)
        .expect_err("left out")
        .contains("span more than"));
    // A printed build wins over bounds.
    let mut printed = wide;
    printed.build.number = Some(6019);
    assert_eq!(
        cover(&printed).expect("covered").config.engine_build,
        Some(6019)
    );
}
