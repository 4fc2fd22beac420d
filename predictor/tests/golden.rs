//! Golden outputs: `predictor estimate --json` and `predictor plan --json` over a fixed
//! corpus (every engine, every mode: command line, `--serve`, `--hosts`, `--device cuda`
//! with and without a GPU split; BitNet and classic GGUF files, SafeTensors checkpoints,
//! mixture-of-experts and sliding-window models, presets), compared byte for byte with the
//! committed outputs in `tests/golden/`.
//!
//! It exists so that a change meant to keep behaviour (a restructuring of memcal-predict)
//! is checked to keep it exactly: any difference fails, naming the cases and their first
//! differing line. A change that is meant to move a figure rewrites the files and says why
//! in its commit:
//!
//! ```sh
//! MEMCAL_BLESS=1 cargo test --release -p predictor --test golden
//! ```
//!
//! `MEMCAL_GOLDEN_BIN=PATH` runs another build's `predictor` binary instead (to record or
//! check outputs against an earlier commit's build).
//!
//! The models are written into a fresh folder by the test itself (memcal-synth's
//! deterministic synthetic files, two committed fixtures, hand-written SafeTensors
//! checkpoints), so the corpus needs no download; the folder's path is replaced by
//! `$MODELS` in the outputs.

#[path = "../../crates/formats/tests/support/mod.rs"]
mod support;

use memcal_synth::{SynthMoe, SynthSpec};
use predictor::ggml_type::GgmlType;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A model of the corpus: how the command line names it, and what it is.
struct Model {
    /// Short name used in case names.
    name: &'static str,
    /// The command-line arguments that select it (a path or `--preset NAME`).
    args: Vec<String>,
    /// Whether it holds BitNet ternary weights.
    ternary: bool,
    /// Whether it is a GGUF model (a file or a preset).
    gguf: bool,
}

/// One invocation of the command.
struct Case {
    /// `group/model/variant`: unique, stable.
    name: String,
    /// Arguments after `predictor`.
    args: Vec<String>,
}

/// A synthetic model's spec from its architecture and shape.
#[allow(clippy::too_many_arguments)]
fn spec(
    arch: &str,
    layers: usize,
    hidden: usize,
    heads: usize,
    kv_heads: usize,
    ffn: usize,
    vocab: usize,
    qtype: GgmlType,
    tied: bool,
) -> SynthSpec {
    SynthSpec {
        arch: arch.into(),
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim: None,
        ffn,
        vocab,
        ctx_train: 8192,
        qtype,
        tied,
        seed: 7,
        moe: None,
        sliding_window: None,
        embd_type: None,
        fast_blocks: true,
    }
}

/// The synthetic GGUF files of the corpus: (file name, spec).
fn synth_models() -> Vec<(&'static str, SynthSpec)> {
    use GgmlType::*;
    let moe = |total, used| Some(SynthMoe { total, used });
    let mut v = Vec::new();
    let mut tiny = SynthSpec::preset("tiny").expect("the tiny preset");
    tiny.fast_blocks = true;
    v.push(("bitnet-b158-i2s.gguf", tiny));
    let mut tl2 = SynthSpec::preset("tiny-tl2").expect("the tiny-tl2 preset");
    tl2.fast_blocks = true;
    v.push(("bitnet-b158-tl2.gguf", tl2));
    v.push((
        "bitnet-i2s.gguf",
        spec("bitnet", 4, 256, 4, 4, 768, 1000, I2S, true),
    ));
    v.push((
        "llama-q4_0.gguf",
        spec("llama", 4, 512, 8, 2, 1024, 1000, Q4_0, false),
    ));
    v.push((
        "llama-f16.gguf",
        spec("llama", 3, 256, 4, 2, 512, 700, F16, true),
    ));
    v.push((
        "qwen2-q8_0.gguf",
        spec("qwen2", 3, 256, 4, 2, 512, 900, Q8_0, true),
    ));
    v.push((
        "qwen3-q4_k.gguf",
        spec("qwen3", 4, 512, 8, 4, 1536, 1200, Q4K, false),
    ));
    v.push(("phi3-q5_k.gguf", {
        let mut s = spec("phi3", 3, 512, 8, 8, 1024, 800, Q5K, false);
        s.head_dim = Some(64);
        s
    }));
    v.push(("gemma2-q6_k.gguf", {
        let mut s = spec("gemma2", 4, 512, 8, 4, 1024, 1100, Q6K, true);
        s.sliding_window = Some(256);
        s
    }));
    v.push(("gemma3-q8_0.gguf", {
        let mut s = spec("gemma3", 7, 256, 4, 2, 512, 1000, Q8_0, true);
        s.sliding_window = Some(128);
        s
    }));
    v.push(("mixtral-q4_k.gguf", {
        let mut s = spec("llama", 3, 512, 8, 2, 512, 1000, Q4K, false);
        s.moe = moe(4, 2);
        s
    }));
    v.push(("qwen3moe-iq4_nl.gguf", {
        let mut s = spec("qwen3moe", 3, 256, 4, 2, 256, 900, IQ4NL, false);
        s.moe = moe(8, 2);
        s
    }));
    v.push(("gpt-oss-mxfp4.gguf", {
        let mut s = spec("gpt-oss", 4, 256, 4, 2, 256, 1000, MXFP4, false);
        s.moe = moe(4, 2);
        s.sliding_window = Some(128);
        s
    }));
    v
}

/// The borrowed form `support::write_st` takes.
fn as_refs<'a>(
    t: &'a [(String, &'static str, Vec<u64>)],
) -> Vec<(&'a str, &'static str, Vec<u64>)> {
    t.iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.clone()))
        .collect()
}

/// Writes a SafeTensors checkpoint: a llama in BF16 (one file, or two shards with an
/// index), or a BitNet checkpoint with its ternary projections packed four per byte.
fn write_safetensors(dir: &Path, name: &str) -> PathBuf {
    use serde_json::json;
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("a checkpoint folder");
    let config = match name {
        "st-llama" | "st-llama-sharded" => {
            let t = support::hf_llama_tensors(4, 256, 128, 704, 1500, false);
            if name == "st-llama" {
                support::write_st(&d.join("model.safetensors"), &as_refs(&t));
            } else {
                let (a, b) = t.split_at(t.len() / 2);
                let files = [
                    "model-00001-of-00002.safetensors",
                    "model-00002-of-00002.safetensors",
                ];
                support::write_st(&d.join(files[0]), &as_refs(a));
                support::write_st(&d.join(files[1]), &as_refs(b));
                let mut map = serde_json::Map::new();
                for (part, f) in [(a, files[0]), (b, files[1])] {
                    for (n, _, _) in part {
                        map.insert(n.clone(), json!(f));
                    }
                }
                let index = json!({"metadata": {}, "weight_map": map});
                std::fs::write(d.join("model.safetensors.index.json"), index.to_string())
                    .expect("an index");
            }
            json!({
                "architectures": ["LlamaForCausalLM"], "model_type": "llama",
                "num_hidden_layers": 4, "hidden_size": 256, "intermediate_size": 704,
                "vocab_size": 1500, "num_attention_heads": 8, "num_key_value_heads": 4,
                "max_position_embeddings": 4096, "tie_word_embeddings": false,
                "torch_dtype": "bfloat16"
            })
        }
        _ => {
            let (h, kv, f, v, layers) = (256u64, 64u64, 512u64, 1000u64, 2u64);
            let mut t: Vec<(String, &'static str, Vec<u64>)> =
                vec![("model.embed_tokens.weight".into(), "BF16", vec![v, h])];
            for l in 0..layers {
                let p = |s: &str| format!("model.layers.{l}.{s}");
                for (n, out, inp) in [
                    ("self_attn.q_proj", h, h),
                    ("self_attn.k_proj", kv, h),
                    ("self_attn.v_proj", kv, h),
                    ("self_attn.o_proj", h, h),
                    ("mlp.gate_proj", f, h),
                    ("mlp.up_proj", f, h),
                    ("mlp.down_proj", h, f),
                ] {
                    t.push((p(&format!("{n}.weight")), "U8", vec![out / 4, inp]));
                    t.push((p(&format!("{n}.weight_scale")), "BF16", vec![1]));
                }
                t.push((p("input_layernorm.weight"), "BF16", vec![h]));
                t.push((p("self_attn.attn_sub_norm.weight"), "BF16", vec![h]));
                t.push((p("post_attention_layernorm.weight"), "BF16", vec![h]));
                t.push((p("mlp.ffn_sub_norm.weight"), "BF16", vec![f]));
            }
            t.push(("model.norm.weight".into(), "BF16", vec![h]));
            support::write_st(&d.join("model.safetensors"), &as_refs(&t));
            json!({
                "architectures": ["BitNetForCausalLM"], "model_type": "bitnet",
                "num_hidden_layers": layers, "hidden_size": h, "intermediate_size": f,
                "vocab_size": v, "num_attention_heads": 4, "num_key_value_heads": 1,
                "max_position_embeddings": 4096, "tie_word_embeddings": true,
                "quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear"}
            })
        }
    };
    std::fs::write(d.join("config.json"), config.to_string()).expect("a config.json");
    d
}

/// Writes the corpus into `dir` and lists it with the presets.
fn corpus(dir: &Path) -> Vec<Model> {
    let file = |name: &'static str, p: &Path, ternary: bool, gguf: bool| Model {
        name,
        args: vec![p.display().to_string()],
        ternary,
        gguf,
    };
    let mut models = Vec::new();
    for (name, s) in synth_models() {
        let path = dir.join(name);
        memcal_synth::write_model(&s, &path).expect("a synthetic model");
        let stem = name.trim_end_matches(".gguf");
        let stem: &'static str = Box::leak(stem.to_string().into_boxed_str());
        models.push(file(stem, &path, s.qtype.is_bitnet(), true));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (name, src) in [
        (
            "fixture-tiny-llama",
            "profiler/tests/fixtures/tiny_llama.gguf",
        ),
        (
            "fixture-python-gguf",
            "crates/formats/tests/support/fixtures/python_gguf.gguf",
        ),
    ] {
        let to = dir.join(format!("{name}.gguf"));
        std::fs::copy(root.join(src), &to).expect("a committed fixture");
        models.push(file(name, &to, false, true));
    }
    for (name, ternary) in [
        ("st-llama", false),
        ("st-llama-sharded", false),
        ("st-bitnet", true),
    ] {
        let d = write_safetensors(dir, name);
        models.push(file(name, &d, ternary, false));
    }
    for (name, preset, ternary) in [
        ("preset-bitnet-2b-4t", "bitnet-b1.58-2b-4t", true),
        ("preset-falcon3-3b-1.58", "falcon3-3b-1.58bit", true),
        ("preset-llama-3.2-1b", "llama-3.2-1b:Q4_0", false),
        ("preset-llama-3.1-8b", "llama-3.1-8b:Q4_K", false),
        ("preset-qwen2.5-7b", "qwen2.5-7b:Q8_0", false),
        ("preset-mistral-7b", "mistral-7b-v0.3:Q6_K", false),
        ("preset-llama-3.1-70b", "llama-3.1-70b:Q4_0", false),
    ] {
        models.push(Model {
            name,
            args: vec!["--preset".into(), preset.into()],
            ternary,
            gguf: true,
        });
    }
    models
}

/// Splits a command-line fragment into arguments.
fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Every case over the corpus.
fn cases(models: &[Model]) -> Vec<Case> {
    const BACKENDS: [&str; 4] = ["llama.cpp", "bitnet.cpp", "bitnet-rs", "memcal"];
    // Configurations for the model's default engine.
    const ESTIMATES: &[(&str, &str)] = &[
        ("default", ""),
        ("odd-shape", "--ctx 3000 --batch 3 --ubatch 384"),
        ("q8-kv-fa", "--ctx 2048 --kv-dtype q8_0 --flash-attn on"),
        ("fa-off-no-mmap", "--ctx 2048 --flash-attn off --mmap off"),
        ("no-repack-prompt", "--repack off --prompt 100 --decode 20"),
        ("isa-avx512-vnni", "--isa avx512-vnni"),
        ("isa-amx", "--isa amx --mmap off"),
        ("isa-neon-i8mm", "--isa neon-i8mm"),
        ("build-10001", "--engine-build 10001"),
        ("build-9000", "--engine-build 9000 --ctx 1000"),
        ("uncalibrated", "--uncalibrated --ctx 8192"),
        ("margin-0", "--margin 0 --batch 2"),
        ("serve", "--serve --slots 4 --ctx 2048"),
        (
            "serve-unified",
            "--serve --slots 3 --ctx 1000 --requests 2 --kv-unified on --cache-ram 512",
        ),
        (
            "serve-no-cache",
            "--serve --slots 2 --cache-ram 0 --ctx-checkpoints 2",
        ),
        ("hosts", "--hosts client=2G,w1=1G,w2=1G"),
        (
            "hosts-split",
            "--hosts client,w1,w2 --tensor-split 1,3 --ctx 1500",
        ),
        ("hosts-serve", "--hosts client=4G,w1=2G --serve --slots 2"),
        ("cuda-all", "--device cuda --gpu-layers 99"),
        ("cuda-partial", "--device cuda --gpu-layers 2 --ctx 8192"),
        ("cuda-ngl0", "--device cuda --gpu-layers 0 --ctx 4096"),
        (
            "cuda-ngl0-no-op-offload",
            "--device cuda --gpu-layers 0 --ctx 4096 --no-op-offload",
        ),
        (
            "cuda1-q8",
            "--device cuda:1 --kv-dtype q8_0 --flash-attn on",
        ),
        ("cuda-split", "--device cuda --tensor-split 1,1"),
        (
            "cuda-row",
            "--device cuda --tensor-split 3,1 --split-mode row",
        ),
        ("cuda-serve", "--device cuda --serve --slots 4 --ctx 1024"),
    ];
    // A few configurations for the engines that are not the model's default.
    const OTHER_ENGINES: &[(&str, &str)] = &[
        ("odd-shape", "--ctx 3000 --batch 3 --ubatch 384"),
        ("cuda-partial", "--device cuda --gpu-layers 1 --ctx 1024"),
    ];
    const PLANS: &[(&str, &str)] = &[
        ("budget-4g", "--budget 4G"),
        ("budget-300m", "--budget 300M --batch 2"),
        ("cuda", "--device cuda --budget 16G --gpu-budget 2G"),
        (
            "cuda-small",
            "--device cuda --budget 2G --gpu-budget 600M --ctx 8192",
        ),
        ("serve", "--serve --ctx 4096 --budget 8G"),
        (
            "serve-cache",
            "--serve --ctx 2048 --budget 2G --cache-ram 256",
        ),
        ("hosts", "--hosts a=2G,b=1G,c=1G --ctx 4096"),
        ("hosts-serve", "--hosts a=2G,b=1G --serve --ctx 2048"),
    ];
    let mut out: Vec<Case> = ["backends --json", "backends", "presets --json", "presets"]
        .iter()
        .map(|a| Case {
            name: format!("engines/{}", a.replace(' ', "")),
            args: words(a),
        })
        .collect();
    let mut push = |group: &str, m: &Model, variant: &str, cmd: &str, extra: &str, json: bool| {
        let mut args = vec![cmd.to_string()];
        args.extend(m.args.iter().cloned());
        args.extend(words(extra));
        if json {
            args.push("--json".into());
        }
        out.push(Case {
            name: format!("{group}/{}/{variant}", m.name),
            args,
        });
    };
    for m in models {
        for (variant, flags) in ESTIMATES {
            push("estimate", m, variant, "estimate", flags, true);
        }
        for b in BACKENDS {
            push(
                "estimate",
                m,
                &format!("backend-{b}"),
                "estimate",
                &format!("--backend {b}"),
                true,
            );
            let default_engine = if !m.gguf {
                "memcal"
            } else if m.ternary {
                "bitnet.cpp"
            } else {
                "llama.cpp"
            };
            if b != default_engine {
                for (variant, flags) in OTHER_ENGINES {
                    push(
                        "estimate",
                        m,
                        &format!("backend-{b}-{variant}"),
                        "estimate",
                        &format!("--backend {b} {flags}"),
                        true,
                    );
                }
            }
        }
        for (variant, flags) in PLANS {
            push("plan", m, variant, "plan", flags, true);
        }
        push(
            "plan",
            m,
            "backend-memcal",
            "plan",
            "--backend memcal --budget 2G",
            true,
        );
        if !m.args[0].starts_with("--") {
            push("inspect", m, "json", "inspect", "", true);
            push("inspect", m, "text", "inspect", "", false);
        }
        push("text", m, "estimate", "estimate", "--ctx 2048", false);
        push("text", m, "plan", "plan", "--budget 3G", false);
        push(
            "text",
            m,
            "plan-serve",
            "plan",
            "--serve --ctx 2048 --budget 2G --cache-ram 256",
            false,
        );
        push(
            "text",
            m,
            "plan-hosts",
            "plan",
            "--hosts a=2G,b=1G --ctx 4096",
            false,
        );
    }
    out
}

/// Runs one case: `exit N`, then stdout and stderr, with the models' folder as `$MODELS`.
fn run(case: &Case, dir: &Path) -> String {
    let bin = std::env::var_os("MEMCAL_GOLDEN_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_predictor").into());
    let out = Command::new(bin)
        .args(&case.args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the predictor binary runs");
    let dir = dir.display().to_string();
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&dir, "$MODELS");
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace(&dir, "$MODELS"))
        .collect();
    let mut s = String::new();
    let _ = writeln!(s, "=== {}", case.name);
    let _ = writeln!(s, "$ predictor {}", args.join(" "));
    let _ = writeln!(s, "exit {}", out.status.code().unwrap_or(-1));
    let _ = writeln!(s, "--- stdout");
    s.push_str(&clean(&out.stdout));
    let _ = writeln!(s, "--- stderr");
    s.push_str(&clean(&out.stderr));
    s
}

/// Every case's output, in case order, run on a few threads.
fn run_all(cases: &[Case], dir: &Path) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<String>>> = Mutex::new(vec![None; cases.len()]);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let r = run(case, dir);
                results.lock().expect("no thread panicked")[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .expect("no thread panicked")
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .collect()
}

/// The golden file of a group.
fn golden_path(group: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{group}.txt"))
}

/// The sections of a golden file by case name.
fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for chunk in text.split_inclusive('\n') {
        if let Some(name) = chunk.strip_prefix("=== ") {
            out.push((name.trim_end().to_string(), String::new()));
        }
        if let Some(last) = out.last_mut() {
            last.1.push_str(chunk);
        }
    }
    out
}

#[test]
fn estimate_and_plan_outputs_are_the_committed_ones() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // A canonical path: the outputs name it, and it is replaced by `$MODELS`.
    let dir_path = dir.path().canonicalize().expect("the folder's path");
    let models = corpus(&dir_path);
    let cases = cases(&models);
    let outputs = run_all(&cases, &dir_path);
    let bless = std::env::var_os("MEMCAL_BLESS").is_some();
    let mut failures = Vec::new();
    for group in ["estimate", "plan", "text", "inspect", "engines"] {
        let actual: String = cases
            .iter()
            .zip(&outputs)
            .filter(|(c, _)| c.name.starts_with(&format!("{group}/")))
            .map(|(_, o)| o.as_str())
            .collect();
        let path = golden_path(group);
        if bless {
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("tests/golden");
            std::fs::write(&path, &actual).expect("the golden file is written");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected == actual {
            continue;
        }
        let want = sections(&expected);
        let got = sections(&actual);
        for (name, text) in &got {
            match want.iter().find(|(n, _)| n == name) {
                None => failures.push(format!("{name}: new case (not in {})", path.display())),
                Some((_, w)) if w != text => {
                    let line = w
                        .lines()
                        .zip(text.lines())
                        .find(|(a, b)| a != b)
                        .map(|(a, b)| format!("\n    was: {a}\n    now: {b}"))
                        .unwrap_or_else(|| "\n    (one output is a prefix of the other)".into());
                    failures.push(format!("{name}: differs{line}"));
                }
                Some(_) => {}
            }
        }
        for (name, _) in &want {
            if !got.iter().any(|(n, _)| n == name) {
                failures.push(format!("{name}: case gone"));
            }
        }
        // Keep what this run printed for a full diff.
        let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("golden-{group}.txt"));
        let _ = std::fs::write(&keep, &actual);
        failures.push(format!(
            "(this run's {group} outputs: {}; diff them with {})",
            keep.display(),
            path.display()
        ));
    }
    assert!(
        failures.is_empty() || bless,
        "{} golden outputs differ (MEMCAL_BLESS=1 rewrites them when a change is meant):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
