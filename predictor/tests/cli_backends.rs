//! `predictor estimate|plan --backend` and `predictor backends`: every output names the
//! engine it describes, unknown names are clear errors, and plan agrees with estimate.

use std::process::Command;

fn predictor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_predictor"))
        .args(args)
        .output()
        .expect("run predictor")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = predictor(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn the_default_backend_is_what_people_run_for_the_file() {
    let bitnet = json(&["estimate", "--preset", "bitnet-b1.58-2b-4t", "--json"]);
    assert_eq!(bitnet["backend"], "bitnet.cpp");
    let llama = json(&[
        "estimate",
        "--preset",
        "llama-3.2-1b:Q4_0",
        "--isa",
        "avx2",
        "--json",
    ]);
    assert_eq!(llama["backend"], "llama.cpp");
    // llama.cpp's own buffer names come with the estimate.
    let model_buffers = |v: &serde_json::Value| -> Vec<String> {
        v["buffers"]
            .as_array()
            .expect("buffers")
            .iter()
            .filter(|b| b["component"] == "model")
            .map(|b| b["buffer"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(model_buffers(&llama), ["CPU_Mapped", "CPU_REPACK"]);
    // An AMX build takes the 2-D Q4_0 weights into its AMX buffer first.
    let amx = json(&[
        "estimate",
        "--preset",
        "llama-3.2-1b:Q4_0",
        "--isa",
        "amx",
        "--json",
    ]);
    assert!(model_buffers(&amx).contains(&"AMX".to_string()), "{amx}");
    let note = amx["notes"].as_array().expect("notes");
    assert!(note
        .iter()
        .any(|n| n.as_str().unwrap_or_default().starts_with("ISA amx")));
    let reference = json(&[
        "estimate",
        "--preset",
        "llama-3.2-1b:Q4_0",
        "--backend",
        "memcal",
        "--json",
    ]);
    assert_eq!(reference["backend"], "memcal-candle");
}

#[test]
fn engine_knobs_change_the_estimate_the_way_the_engine_does() {
    let host = |extra: &[&str]| {
        let mut a = vec![
            "estimate",
            "--preset",
            "llama-3.2-1b:Q4_0",
            "--ctx",
            "8192",
            "--margin",
            "0",
            "--json",
            "--uncalibrated",
        ];
        a.extend_from_slice(extra);
        json(&a)["host_bytes"].as_u64().expect("host_bytes")
    };
    let base = host(&[]);
    // Without mmap the repacked weights replace their mapped pages instead of doubling.
    assert!(host(&["--mmap", "off"]) < base);
    assert!(host(&["--repack", "off"]) < base);
    // A q8_0 cache is about half an f16 one.
    assert!(host(&["--kv-dtype", "q8_0", "--flash-attn", "on"]) < base);
    // A short prompt touches less of the compute buffer than one filling the context.
    assert!(host(&["--prompt", "16"]) < base);
    // Two sequences of 8192 cells each hold twice the cache.
    assert!(host(&["--batch", "2"]) > base);
}

#[test]
fn unknown_backends_and_settings_are_clear_errors() {
    for (args, want) in [
        (
            &["estimate", "--preset", "llama-3.2-1b", "--backend", "vllm"][..],
            "unknown backend \"vllm\"",
        ),
        (
            &[
                "estimate",
                "--preset",
                "llama-3.2-1b",
                "--flash-attn",
                "maybe",
            ][..],
            "flash attention",
        ),
        (
            &["estimate", "--preset", "llama-3.2-1b", "--mmap", "perhaps"][..],
            "--mmap must be on or off",
        ),
        (
            &["estimate", "--preset", "llama-3.2-1b", "--kv-dtype", "q3"][..],
            "unknown KV dtype",
        ),
        (
            &[
                "estimate",
                "--preset",
                "llama-3.2-1b",
                "--ctx",
                "100",
                "--prompt",
                "200",
            ][..],
            "does not fit the context",
        ),
    ] {
        let out = predictor(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn backends_lists_every_engine_with_its_tables() {
    let v = json(&["backends", "--json"]);
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|b| b["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["llama.cpp", "bitnet.cpp", "bitnet-rs", "memcal-candle"]
    );
    for b in v.as_array().unwrap() {
        for t in b["tables"].as_array().unwrap() {
            assert!(t.as_str().unwrap().starts_with(b["name"].as_str().unwrap()));
        }
    }
}

#[test]
fn plan_answers_with_the_estimate_it_would_give() {
    let plan = json(&[
        "plan",
        "--preset",
        "llama-3.2-1b:Q4_0",
        "--backend",
        "llama.cpp",
        "--budget",
        "3G",
        "--ctx",
        "4096",
        "--json",
    ]);
    assert_eq!(plan["backend"], "llama.cpp");
    let max_ctx = plan["max_ctx"].as_u64().expect("max_ctx");
    let at = |ctx: u64| {
        json(&[
            "estimate",
            "--preset",
            "llama-3.2-1b:Q4_0",
            "--backend",
            "llama.cpp",
            "--ctx",
            &ctx.to_string(),
            "--json",
        ])["host_bytes"]
            .as_u64()
            .unwrap()
    };
    assert!(at(max_ctx) <= 3 << 30, "the largest context fits");
    assert!(at(max_ctx + 1) > 3 << 30, "one more does not");
}
