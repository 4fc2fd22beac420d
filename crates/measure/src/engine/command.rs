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

/// The flags llama.cpp and its bitnet.cpp fork spell alike: total context and sequences,
/// batch and micro-batch, KV types, threads, tokens to generate, greedy sampling.
fn llama_family_flags(config: &RunConfig, threads: u32) -> Vec<String> {
    let n_seq = config.batch.max(1);
    let ub = config.effective_ubatch().to_string();
    let kv = config.kv_dtype.as_str();
    let flags = [
        ("-c", (config.ctx as u64 * n_seq as u64).to_string()),
        ("-np", n_seq.to_string()),
        ("-b", ub.clone()),
        ("-ub", ub),
        ("-ctk", kv.to_string()),
        ("-ctv", kv.to_string()),
        ("-t", threads.max(1).to_string()),
        ("-n", config.decode.to_string()),
        ("--temp", "0".to_string()),
        ("--seed", "1".to_string()),
    ];
    let mut out: Vec<String> = flags
        .into_iter()
        .flat_map(|(f, v)| [f.to_string(), v])
        .collect();
    out.push("--no-warmup".into());
    // On CUDA, the blocks to offload: all of them and the output layer by default (999, as
    // llama.cpp's own "all"), else the last `gpu_layers` blocks.
    if config.device.is_cuda() {
        let ngl = config.gpu_layers.map_or(999, |g| g);
        out.extend(["-ngl".to_string(), ngl.to_string()]);
    }
    out
}

/// The argv that runs `config` on `model` with the prompt `prompt`.
pub fn engine_command(
    bin: &EngineBinary,
    model: &Path,
    config: &RunConfig,
    prompt: &str,
) -> Vec<OsString> {
    /// The first measured llama.cpp build whose loading mode is `-lm` (10001 has
    /// `--mmap`/`--no-mmap`).
    const LOAD_MODE_FLAG_BUILD: u32 = 11434;
    let mut a: Vec<OsString> = vec![bin.path.clone().into_os_string()];
    let model_arg = model.as_os_str().to_owned();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(os));
    match bin.backend {
        Backend::LlamaCpp | Backend::BitnetCpp => {
            push(&["-m"]);
            a.push(model_arg);
            a.extend(llama_family_flags(config, bin.threads).iter().map(os));
            let mut push = |xs: &[&str]| a.extend(xs.iter().map(os));
            if bin.backend == Backend::LlamaCpp {
                push(&["-fa", config.flash_attn.as_str()]);
                // `-lm mmap|none` (build 11434) replaced `--mmap`/`--no-mmap` (build 10001,
                // and the builds before the measured 11434).
                match config.engine_build {
                    Some(b) if b < LOAD_MODE_FLAG_BUILD => {
                        if !config.mmap {
                            push(&["--no-mmap"]);
                        }
                    }
                    _ => push(&["-lm", if config.mmap { "mmap" } else { "none" }]),
                }
                push(&["-fit", "off"]);
                push(&["-no-cnv", "-lv", "4"]);
                if !config.repack {
                    push(&["--no-repack"]);
                }
            } else {
                // The fork: flash attention is a switch, mmap is turned off with a flag,
                // conversation mode is off by default, buffer lines print by default.
                if config.flash_attn == FlashAttn::On {
                    push(&["-fa"]);
                }
                if !config.mmap {
                    push(&["--no-mmap"]);
                }
            }
            push(&["-p", prompt]);
        }
        Backend::BitnetRs => {
            push(&["run", "--model"]);
            a.push(model_arg);
            let decode = config.decode.to_string();
            let mut push = |xs: &[&str]| a.extend(xs.iter().map(os));
            push(&[
                "--prompt",
                prompt,
                "--max-new-tokens",
                &decode,
                "--greedy",
                "--prompt-template",
                "raw",
                "--allow-mock",
            ]);
        }
        // The reference runtime (and any engine added later) runs through `profiler run`.
        _ => {
            push(&["generate"]);
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
}
