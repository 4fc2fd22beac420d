//! The command line of each engine for a configuration.
//!
//! llama.cpp (`llama-completion`): `-c` is the total context, so it gets `ctx x batch`
//! with `-np batch`; `-b` is set to the micro-batch so `-ub` is never clamped; `-fit off`
//! keeps the engine from changing the parameters; `-lv 4` makes it print every buffer.
//! bitnet.cpp (`llama-cli` of the 2024 fork): the same knobs in the fork's spelling
//! (`--no-mmap`, `-fa` as a switch). BitNet-rs (`bitnet run`): it has no context flag (the
//! context comes from the file), so only the prompt, the tokens to generate and the
//! threads are passed.

use predictor::backend::Backend;
use predictor::config::{FlashAttn, RunConfig};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// An engine binary and how to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineBinary {
    /// Which engine it is.
    pub backend: Backend,
    /// The executable (`llama-completion`, bitnet.cpp's `llama-cli`, BitNet-rs's `bitnet`).
    pub path: PathBuf,
    /// Threads to run with.
    pub threads: u32,
}

fn os(s: impl AsRef<str>) -> OsString {
    OsString::from(s.as_ref())
}

fn push(a: &mut Vec<OsString>, xs: &[&str]) {
    a.extend(xs.iter().map(os));
}

/// The flags llama.cpp and its bitnet.cpp fork spell alike, for one process that serves
/// `config` with logical batch `n_batch`: total context and sequences, batch and
/// micro-batch, KV types, threads, and on CUDA (one GPU) the blocks to offload.
fn llama_family_pairs(config: &RunConfig, threads: u32, n_batch: u32) -> Vec<String> {
    let n_seq = config.batch.max(1);
    let ub = config.effective_ubatch();
    let kv = config.kv_dtype.as_str();
    let mut out: Vec<String> = [
        ("-c", (config.ctx as u64 * n_seq as u64).to_string()),
        ("-np", n_seq.to_string()),
        ("-b", n_batch.max(ub).to_string()),
        ("-ub", ub.to_string()),
        ("-ctk", kv.to_string()),
        ("-ctv", kv.to_string()),
        ("-t", threads.max(1).to_string()),
    ]
    .into_iter()
    .flat_map(|(f, v)| [f.to_string(), v])
    .collect();
    // On CUDA, the blocks to offload: all of them and the output layer by default (999, as
    // llama.cpp's own "all"), else the last `gpu_layers` blocks (a split says its own).
    if config.device.is_cuda() && config.split.is_none() {
        let ngl = config.gpu_layers.map_or(999, |g| g);
        out.extend(["-ngl".to_string(), ngl.to_string()]);
    }
    out
}

/// The command-line run's flags: [`llama_family_pairs`] with `-b` = the micro-batch, the
/// tokens to generate, greedy sampling and no warm-up.
fn llama_family_flags(config: &RunConfig, threads: u32) -> Vec<String> {
    let mut out = llama_family_pairs(config, threads, config.effective_ubatch());
    for (f, v) in [
        ("-n", config.decode.to_string()),
        ("--temp", "0".to_string()),
        ("--seed", "1".to_string()),
    ] {
        out.extend([f.to_string(), v]);
    }
    out.push("--no-warmup".into());
    out
}

/// llama.cpp's flags that only its own builds take: flash attention, load mode, no
/// parameter fitting, every buffer logged, repacking, and the split over RPC workers.
fn llama_cpp_flags(config: &RunConfig, rpc: &[String]) -> Vec<String> {
    /// The first measured llama.cpp build whose loading mode is `-lm` (10001 has
    /// `--mmap`/`--no-mmap`).
    const LOAD_MODE_FLAG_BUILD: u32 = 11434;
    let mut out: Vec<String> = vec!["-fa".into(), config.flash_attn.as_str().into()];
    // `-lm mmap|none` (build 11434) replaced `--mmap`/`--no-mmap` (build 10001, and the
    // builds before the measured 11434).
    match config.engine_build {
        Some(b) if b < LOAD_MODE_FLAG_BUILD => {
            if !config.mmap {
                out.push("--no-mmap".into());
            }
        }
        _ => out.extend([
            "-lm".into(),
            if config.mmap { "mmap" } else { "none" }.into(),
        ]),
    }
    out.extend(["-fit".into(), "off".into()]);
    out.extend(["-lv".into(), "4".into()]);
    if !config.repack {
        out.push("--no-repack".into());
    }
    if let Some(split) = &config.split {
        if !rpc.is_empty() {
            out.extend(["--rpc".into(), rpc.join(",")]);
        }
        // The blocks offloaded (999: all of them and the output layer, as llama.cpp's own
        // "all"), how they are shared out, and how.
        let ngl = config.gpu_layers.map_or(999, |g| g);
        out.extend([
            "-ngl".into(),
            ngl.to_string(),
            "--tensor-split".into(),
            split.tensor_split_arg(),
            "-sm".into(),
            split.mode.as_str().into(),
        ]);
    }
    out
}

/// The argv of `llama-server` serving `model` as `config` says (its `serve` options, the
/// defaults otherwise) on 127.0.0.1:`port`, with the RPC workers `rpc` (`host:port`) when
/// the configuration is split. `-c` is ctx x slots and `-np` the slots, as for the CLI;
/// `-b` is the server's logical batch.
pub fn server_command(
    bin: &EngineBinary,
    model: &Path,
    config: &RunConfig,
    port: u16,
    rpc: &[String],
) -> Vec<OsString> {
    let serve = config.serve.clone().unwrap_or_default();
    let mut a: Vec<OsString> = vec![bin.path.clone().into_os_string(), os("-m")];
    a.push(model.as_os_str().to_owned());
    // The server's own logical batch; no -n, sampling flags or --no-warmup: requests carry
    // those, and the server warms up as it does by default.
    a.extend(
        llama_family_pairs(config, bin.threads, serve.n_batch)
            .iter()
            .map(os),
    );
    if bin.backend == Backend::BitnetCpp {
        // The fork's server (2024): flash attention and mmap are switches, there is no
        // prompt cache, checkpoint or unified-KV option (one KV cache serves every slot),
        // and `/slots` answers only when asked for.
        a.extend(fork_switches(config).iter().map(os));
        push(&mut a, &["--slots"]);
    } else {
        a.extend(llama_cpp_flags(config, rpc).iter().map(os));
        a.extend(
            [
                "--cache-ram".to_string(),
                serve.cache_ram_mib.to_string(),
                "--ctx-checkpoints".to_string(),
                serve.ctx_checkpoints.to_string(),
                if serve.kv_unified { "-kvu" } else { "-no-kvu" }.to_string(),
            ]
            .iter()
            .map(os),
        );
    }
    let port = port.to_string();
    push(&mut a, &["--host", "127.0.0.1", "--port", &port]);
    a
}

/// The bitnet.cpp fork's spelling of flash attention and mmap: switches that turn on
/// flash attention and turn off mmap (conversation mode is off and buffer lines print by
/// default there).
fn fork_switches(config: &RunConfig) -> Vec<String> {
    let mut out = Vec::new();
    if config.flash_attn == FlashAttn::On {
        out.push("-fa".to_string());
    }
    if !config.mmap {
        out.push("--no-mmap".to_string());
    }
    out
}

/// The argv of one RPC worker (`rpc-server`) listening on 127.0.0.1:`port` with
/// `threads` threads for its CPU backend.
pub fn rpc_server_command(bin: &Path, port: u16, threads: u32) -> Vec<OsString> {
    let mut a = vec![bin.as_os_str().to_owned()];
    a.extend(
        [
            "-H".to_string(),
            "127.0.0.1".to_string(),
            "-p".to_string(),
            port.to_string(),
            "-t".to_string(),
            threads.max(1).to_string(),
        ]
        .iter()
        .map(os),
    );
    a
}

/// The argv that runs `config` on `model` with the prompt `prompt`.
pub fn engine_command(
    bin: &EngineBinary,
    model: &Path,
    config: &RunConfig,
    prompt: &str,
) -> Vec<OsString> {
    engine_command_rpc(bin, model, config, prompt, &[])
}

/// [`engine_command`] for a split run, with the RPC workers `rpc` (`host:port`).
pub fn engine_command_rpc(
    bin: &EngineBinary,
    model: &Path,
    config: &RunConfig,
    prompt: &str,
    rpc: &[String],
) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![bin.path.clone().into_os_string()];
    let model_arg = model.as_os_str().to_owned();
    match bin.backend {
        Backend::LlamaCpp | Backend::BitnetCpp => {
            push(&mut a, &["-m"]);
            a.push(model_arg);
            a.extend(llama_family_flags(config, bin.threads).iter().map(os));
            if bin.backend == Backend::LlamaCpp {
                push(&mut a, &["-no-cnv"]);
                a.extend(llama_cpp_flags(config, rpc).iter().map(os));
            } else {
                a.extend(fork_switches(config).iter().map(os));
            }
            push(&mut a, &["-p", prompt]);
        }
        Backend::BitnetRs => {
            push(&mut a, &["run", "--model"]);
            a.push(model_arg);
            let decode = config.decode.to_string();
            push(
                &mut a,
                &[
                    "--prompt",
                    prompt,
                    "--max-new-tokens",
                    &decode,
                    "--greedy",
                    "--prompt-template",
                    "raw",
                    "--allow-mock",
                ],
            );
        }
        // The reference runtime (and any engine added later) runs through `profiler run`.
        _ => {
            push(&mut a, &["generate"]);
            a.push(model_arg);
        }
    }
    a
}

/// Environment variables the engine needs besides its arguments (BitNet-rs honours its
/// thread count only through rayon's variable).
pub fn engine_env(bin: &EngineBinary) -> Vec<(String, String)> {
    match bin.backend {
        Backend::BitnetRs => vec![("RAYON_NUM_THREADS".into(), bin.threads.max(1).to_string())],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_cpp_gets_the_total_context_and_every_memory_knob() {
        let bin = EngineBinary {
            backend: Backend::LlamaCpp,
            path: "/x/llama-completion".into(),
            threads: 2,
        };
        let config = RunConfig {
            ctx: 4096,
            batch: 3,
            ubatch: 256,
            mmap: false,
            repack: false,
            flash_attn: FlashAttn::Off,
            kv_dtype: "q8_0".parse().unwrap(),
            decode: 4,
            ..RunConfig::default()
        };
        let argv: Vec<String> = engine_command(&bin, Path::new("m.gguf"), &config, "hi")
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let after = |flag: &str| {
            let i = argv.iter().position(|a| a == flag).unwrap();
            argv[i + 1].clone()
        };
        assert_eq!(after("-c"), "12288");
        assert_eq!(after("-np"), "3");
        assert_eq!(after("-ub"), "256");
        assert_eq!(after("-b"), "256");
        assert_eq!(after("-ctk"), "q8_0");
        assert_eq!(after("-fa"), "off");
        assert_eq!(after("-lm"), "none");
        // An older build is told with --no-mmap.
        let old = RunConfig {
            engine_build: Some(10001),
            ..config.clone()
        };
        let argv: Vec<String> = engine_command(&bin, Path::new("m.gguf"), &old, "hi")
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(argv.contains(&"--no-mmap".to_string()) && !argv.contains(&"-lm".to_string()));
        assert_eq!(after("-fit"), "off");
        assert_eq!(after("-n"), "4");
        assert!(argv.contains(&"--no-repack".to_string()));
        assert!(
            !argv.contains(&"-ngl".to_string()),
            "no offload flag on the CPU"
        );
        let on_gpu = |gpu_layers| {
            let config = RunConfig {
                device: predictor::Device::Cuda(0),
                gpu_layers,
                ..config.clone()
            };
            let argv: Vec<String> = engine_command(&bin, Path::new("m.gguf"), &config, "hi")
                .into_iter()
                .map(|s| s.into_string().unwrap())
                .collect();
            let i = argv.iter().position(|a| a == "-ngl").unwrap();
            argv[i + 1].clone()
        };
        assert_eq!(on_gpu(None), "999");
        assert_eq!(on_gpu(Some(7)), "7");
    }

    #[test]
    fn the_forks_server_gets_its_own_switches_and_no_prompt_cache_options() {
        let config = RunConfig {
            ctx: 2048,
            batch: 4,
            flash_attn: FlashAttn::On,
            mmap: false,
            serve: Some(predictor::config::ServeOptions::default()),
            ..RunConfig::default()
        };
        let argv = |backend: Backend| -> Vec<String> {
            let bin = EngineBinary {
                backend,
                path: "/x/llama-server".into(),
                threads: 2,
            };
            server_command(&bin, Path::new("m.gguf"), &config, 8080, &[])
                .into_iter()
                .map(|s| s.into_string().unwrap())
                .collect()
        };
        let fork = argv(Backend::BitnetCpp);
        let after = |a: &[String], flag: &str| {
            let i = a.iter().position(|x| x == flag).unwrap();
            a[i + 1].clone()
        };
        assert_eq!(after(&fork, "-c"), "8192");
        assert_eq!(after(&fork, "-np"), "4");
        assert_eq!(after(&fork, "--port"), "8080");
        for flag in ["-fa", "--no-mmap", "--slots"] {
            assert!(fork.iter().any(|a| a == flag), "{flag} in {fork:?}");
        }
        for flag in ["--cache-ram", "--ctx-checkpoints", "-no-kvu", "-lm", "-fit"] {
            assert!(!fork.iter().any(|a| a == flag), "{flag} in {fork:?}");
        }
        let upstream = argv(Backend::LlamaCpp);
        assert_eq!(after(&upstream, "-fa"), "on");
        assert!(upstream.iter().any(|a| a == "--cache-ram"));
    }
}
