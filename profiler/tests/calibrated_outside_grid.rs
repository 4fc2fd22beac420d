//! The calibrated prediction generalises: for model shapes the calibration suite never
//! measured, at (context, batch) pairs it never ran, `predictor estimate` (the embedded
//! tables) lands within 5% of what `profiler run` then measures, for each weight type.

mod measure_support;

use measure_support::run_record;
use predictor::calibrate::table_set::TableSet;
use predictor::ggml_type::GgmlType;
use predictor::record::Status;
use profiler::synth::{write_model, SynthSpec};
use std::path::Path;

/// A shape unlike any of `profiler::suite::calibration_shapes`.
fn spec(arch: &str, qtype: GgmlType) -> SynthSpec {
    let bitnet = arch.starts_with("bitnet");
    SynthSpec {
        arch: arch.to_string(),
        layers: 3,
        hidden: 640,
        heads: 10,
        kv_heads: if bitnet { 2 } else { 5 },
        head_dim: None,
        ffn: 1792,
        vocab: if bitnet { 20000 } else { 40000 },
        ctx_train: 8192,
        qtype,
        tied: bitnet,
        seed: 7,
        moe: None,
        sliding_window: None,
        embd_type: None,
        fast_blocks: false,
    }
}

fn check(dir: &Path, arch: &str, qtype: GgmlType, ctx: u32, batch: u32) -> String {
    let path = dir.join(format!("{arch}-{}.gguf", qtype.name()));
    write_model(&spec(arch, qtype), &path).expect("writing the model");
    let r = run_record(
        &path,
        &[
            "--ctx",
            &ctx.to_string(),
            "--batch",
            &batch.to_string(),
            "--ubatch",
            "96",
            "--prompt",
            "192",
            "--decode",
            "2",
        ],
    );
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    let tables = TableSet::embedded().expect("embedded tables parse");
    let est = predictor::calibrate::calibrated(&r.profile, &r.config, &tables).unwrap();
    let cal = est.calibration.as_ref().expect("a table matches");
    let predicted = est.host.used() as f64;
    let measured = r.measured.peak_rss_bytes as f64;
    let err = (predicted - measured) / measured;
    format!(
        "{arch} {} ctx {ctx} batch {batch}: predicted {:.1} MiB, measured {:.1} MiB, error {:+.2}% ({}){}",
        qtype.name(),
        predicted / 1048576.0,
        measured / 1048576.0,
        err * 100.0,
        cal.name,
        if err.abs() <= 0.05 { "" } else { "  <-- beyond 5%" }
    )
}

#[test]
fn unseen_shapes_and_configurations_land_within_five_percent() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("bitnet-b1.58", GgmlType::I2S, 1536, 3),
        ("bitnet-b1.58", GgmlType::TL2, 3072, 1),
        ("llama", GgmlType::Q4_0, 1536, 3),
        ("llama", GgmlType::Q8_0, 3072, 1),
        ("llama", GgmlType::F16, 1536, 3),
        ("llama", GgmlType::F32, 3072, 2),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|&(a, q, c, b)| check(dir.path(), a, q, c, b))
        .collect();
    let report = lines.join("\n");
    eprintln!("{report}");
    assert!(!report.contains("beyond 5%"), "\n{report}");
}
