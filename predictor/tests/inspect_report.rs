//! `inspect`: the serde keys, the text table, and the `predictor inspect` command.

#[path = "../../crates/formats/tests/support/mod.rs"]
mod support;

use predictor::ggml_type::GgmlType;
use predictor::inspect::{inspect, render_text};
use support::{bitnet_writer, tempdir, B2_4T};

#[test]
fn inspection_of_the_2b4t_shape() {
    let dir = tempdir();
    let path = dir.path().join("bitnet.gguf");
    bitnet_writer(&B2_4T, GgmlType::I2S, 36, true)
        .write_sparse_file(&path)
        .expect("write");
    let i = inspect(&path).expect("inspect");
    assert_eq!(i.n_tensors, 332);
    assert_eq!(i.tensor_data_bytes, 1_179_449_920);
    let v = serde_json::to_value(&i).expect("json");
    for key in [
        "format",
        "architecture",
        "n_tensors",
        "n_params",
        "tensor_data_bytes",
        "by_type",
        "hparams",
        "file_bytes",
        "notes",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(v["format"], "gguf");
    assert_eq!(v["by_type"]["I2_S"]["tensors"], 210);
    assert_eq!(v["by_type"]["I2_S"]["bytes"], 521_017_920u64);
    assert_eq!(v["hparams"]["n_layers"], 30);
    assert_eq!(v["gguf"]["version"], 3);
    let text = render_text(&i);
    assert!(text.contains("architecture  bitnet-b1.58"), "{text}");
    assert!(
        text.contains("tensor data   1,179,449,920 B (1.10 GiB)"),
        "{text}"
    );
    assert!(
        text.contains("layers 30, hidden 2560, heads 20 / kv 5, head dim 128/128"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("I2_S") && l.contains("521,017,920")),
        "{text}"
    );
    assert!(text.contains("type id 36 read as BitNet I2_S"), "{text}");
}

#[test]
fn inspect_command_prints_table_and_json() {
    let dir = tempdir();
    let path = dir.path().join("bitnet.gguf");
    bitnet_writer(&B2_4T, GgmlType::I2S, 36, false)
        .write_sparse_file(&path)
        .expect("write");
    let bin = env!("CARGO_BIN_EXE_predictor");
    let out = std::process::Command::new(bin)
        .args(["inspect", "--json"])
        .arg(&path)
        .output()
        .expect("run predictor");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(v["tensor_data_bytes"], 1_179_449_920u64);

    // A broken file: a clear error naming the file, no panic.
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"GGUF\x01\x00\x00\x00").expect("write");
    let out = std::process::Command::new(bin)
        .arg("inspect")
        .arg(&bad)
        .output()
        .expect("run predictor");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.gguf") && err.contains("version 1"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_lone_safetensors_file_is_inspected_without_config_json() {
    let dir = tempdir();
    let path = dir.path().join("model.safetensors");
    support::write_st(
        &path,
        &[
            ("model.embed_tokens.weight", "F16", vec![1000, 64]),
            (
                "model.layers.0.self_attn.q_proj.weight",
                "BF16",
                vec![64, 64],
            ),
            ("model.layers.1.mlp.up_proj.weight", "BF16", vec![128, 64]),
            ("model.norm.weight", "F32", vec![64]),
        ],
    );
    let i = inspect(&path).expect("inspect without config.json");
    assert_eq!(i.n_tensors, 4);
    assert_eq!(i.by_type["F16"].bytes, 1000 * 64 * 2);
    assert_eq!(i.by_type["BF16"].bytes, (64 * 64 + 128 * 64) * 2);
    assert_eq!(i.hparams.n_layers, 2, "blocks counted from the names");
    assert_eq!(i.hparams.hidden, 0, "unknown without config.json");
    assert!(
        i.notes.iter().any(|n| n.contains("no config.json")),
        "{:?}",
        i.notes
    );
    // An estimate still needs the shape: that is an error naming the file.
    let e = predictor::read::load_profile(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("config.json"), "{e}");
}
