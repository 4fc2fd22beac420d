//! The engines memcal predicts, one memory model each.
//!
//! A prediction is only worth something for the engine the user runs: llama.cpp keeps a
//! mapped file and repacked copies, bitnet.cpp is an older llama.cpp fork with ternary
//! kernels, BitNet-rs converts and grows its buffers, and memcal's own reference runtime
//! (`memcal-candle`) holds exactly what it needs. [`Backend`] names them; each has its own
//! analytic model ([`memcal`], [`llama_cpp`], [`bitnet_rs`]) and its own calibration tables,
//! looked up by exact backend name.

pub mod bitnet_rs;
pub mod common;
pub mod llama_cpp;
pub mod offload;
pub mod reference;

use crate::components::Estimate;
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::profile::{ModelFormat, ModelProfile};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An engine memcal has a memory model for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
#[non_exhaustive]
pub enum Backend {
    /// memcal's reference runtime on candle-core (records and tables: `memcal-candle`).
    Memcal,
    /// llama.cpp (also under Ollama, LM Studio, llama-cpp-python).
    LlamaCpp,
    /// bitnet.cpp: microsoft/BitNet on its llama.cpp fork, for BitNet b1.58 models.
    BitnetCpp,
    /// BitNet-rs's `bitnet` CLI.
    BitnetRs,
}

/// The architectures the llama.cpp fork of the measured bitnet.cpp knows (its
/// `LLM_ARCH_NAMES`, Eddie-Wang1120/llama.cpp 406a5036, build 3947). Mixture-of-experts
/// files of these (Mixtral-style llama, qwen2moe, olmoe...) run with expert routing
/// (`mul_mat_id`), measured on two Mixtral-style shapes.
const BITNET_FORK_ARCHITECTURES: &[&str] = &[
    "llama",
    "falcon",
    "grok",
    "gpt2",
    "gptj",
    "gptneox",
    "mpt",
    "baichuan",
    "starcoder",
    "refact",
    "bert",
    "nomic-bert",
    "jina-bert-v2",
    "bloom",
    "stablelm",
    "qwen",
    "qwen2",
    "qwen2moe",
    "phi2",
    "phi3",
    "plamo",
    "codeshell",
    "orion",
    "internlm2",
    "minicpm",
    "minicpm3",
    "gemma",
    "gemma2",
    "starcoder2",
    "mamba",
    "xverse",
    "command-r",
    "dbrx",
    "olmo",
    "olmoe",
    "openelm",
    "arctic",
    "deepseek2",
    "chatglm",
    "bitnet",
    "t5",
    "t5encoder",
    "jais",
    "nemotron",
    "exaone",
    "rwkv6",
    "granite",
    "granitemoe",
    "chameleon",
];

impl Backend {
    /// Every backend, in the order `predictor backends` lists them.
    pub const ALL: [Backend; 4] = [
        Backend::LlamaCpp,
        Backend::BitnetCpp,
        Backend::BitnetRs,
        Backend::Memcal,
    ];

    /// The name records and calibration tables carry.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Memcal => "memcal-candle",
            Backend::LlamaCpp => "llama.cpp",
            Backend::BitnetCpp => "bitnet.cpp",
            Backend::BitnetRs => "bitnet-rs",
        }
    }

    /// Other spellings accepted on the command line.
    pub fn aliases(&self) -> &'static [&'static str] {
        match self {
            Backend::Memcal => &["memcal", "reference"],
            Backend::LlamaCpp => &["llama-cpp", "llamacpp", "llama_cpp"],
            Backend::BitnetCpp => &["bitnet-cpp", "bitnetcpp", "bitnet_cpp"],
            Backend::BitnetRs => &["bitnet_rs", "bitnetrs", "bitnet-rs-cli"],
        }
    }

    /// What the backend's memory model covers, in one line.
    pub fn summary(&self) -> &'static str {
        match self {
            Backend::Memcal => {
                "memcal's reference runtime (candle-core): weights at stored size, KV resident at \
                 allocation, chunked prefill, one tensor converted at a time on load; on CUDA the \
                 last --gpu-layers blocks run a tensor forward on the device (I2_S unpacked one \
                 matrix at a time)"
            }
            Backend::LlamaCpp => {
                "llama.cpp CPU: model buffers per buffer type (mapped file pages, CPU_REPACK \
                 copies), padded KV cells incl. sliding-window caches, the touched part of the \
                 compute buffer, output buffer, vocabulary and process base"
            }
            Backend::BitnetCpp => {
                "bitnet.cpp (microsoft/BitNet's llama.cpp fork) CPU: I2_S kernels, the fork's KV \
                 padding and buffers, no repacking"
            }
            Backend::BitnetRs => {
                "BitNet-rs `bitnet run` CPU: f32 embedding conversion, packed I2_S beside f32 \
                 placeholders, whole-file reads at start-up, f32 KV grown by concatenation"
            }
        }
    }

    /// The engine users run for this model: bitnet.cpp for BitNet ternary GGUF files,
    /// llama.cpp for other GGUF files and presets, the reference runtime where neither
    /// engine loads the file (SafeTensors checkpoints).
    pub fn default_for(profile: &ModelProfile) -> Backend {
        match profile.format {
            ModelFormat::Safetensors => Backend::Memcal,
            _ if profile.is_ternary() => Backend::BitnetCpp,
            _ => Backend::LlamaCpp,
        }
    }

    /// Why this engine cannot load the model, when it cannot (the estimate is still given,
    /// with this as a note).
    pub fn load_problem(&self, profile: &ModelProfile) -> Option<String> {
        let gguf = profile.format != ModelFormat::Safetensors;
        let moe = profile.shape.experts.is_some_and(|e| e.total > 0);
        let arch = profile.shape.architecture.as_str();
        match self {
            Backend::Memcal | Backend::BitnetRs if moe => Some(format!(
                "{} has no mixture-of-experts support modelled (its runtime has no expert \
                 routing, or was never measured on one): this estimate treats the experts as \
                 a dense FFN; llama.cpp runs it",
                self.name()
            )),
            Backend::Memcal => None,
            Backend::LlamaCpp | Backend::BitnetCpp if !gguf => Some(format!(
                "{} loads GGUF files only; convert the checkpoint first",
                self.name()
            )),
            // (BitNet architectures are left to bitnet.cpp's own list: its releases move
            // the fork to commits that add them, e.g. `bitnet-b1.58`.)
            Backend::BitnetCpp
                if !crate::gguf::is_bitnet_architecture(arch)
                    && !BITNET_FORK_ARCHITECTURES.contains(&arch) =>
            {
                Some(format!(
                    "bitnet.cpp's llama.cpp fork as measured (406a5036, build 3947) has no \
                     architecture {arch:?}: it will not load this file"
                ))
            }
            Backend::LlamaCpp if profile.is_ternary() => Some(
                "upstream llama.cpp has no I2_S/TL1/TL2 kernels: it cannot load this BitNet \
                 file (use bitnet.cpp)"
                    .into(),
            ),
            Backend::BitnetRs if !profile.is_ternary() => {
                Some("BitNet-rs runs BitNet b1.58 models; this model has no ternary weights".into())
            }
            Backend::BitnetRs => {
                // What the measured version's GGUF loader takes (f2ae3adc; later versions
                // read some classic types too; scripts/engines/README.md).
                const LOADS: [&str; 4] = ["I2_S", "IQ2_S", "F16", "F32"];
                let other: Vec<&str> = profile
                    .by_type
                    .keys()
                    .map(|t| t.name())
                    .filter(|t| !LOADS.contains(t))
                    .collect();
                (!other.is_empty()).then(|| {
                    format!(
                        "BitNet-rs f2ae3adc (the measured version) loads {} tensors only: this \
                         file's {} tensors will not load there",
                        LOADS.join("/"),
                        other.join(", ")
                    )
                })
            }
            _ => None,
        }
    }

    /// The analytic estimate of this engine's memory (no calibration).
    pub fn analytic(&self, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
        let mut est = match self {
            Backend::Memcal => reference::analytic(profile, config),
            Backend::LlamaCpp => {
                let (fam, note) = llama_cpp::Family::upstream_for(config.engine_build);
                let mut est = llama_cpp::estimate(&fam, profile, config)?;
                est.notes.extend(note);
                Ok(est)
            }
            Backend::BitnetCpp => {
                llama_cpp::estimate(&llama_cpp::Family::BITNET_FORK, profile, config)
            }
            Backend::BitnetRs => bitnet_rs::estimate(profile, config),
        }?;
        est.backend = self.name().to_string();
        if let Some(p) = self.load_problem(profile) {
            est.notes.push(p);
        }
        Ok(est)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    /// A backend by name or alias, case-insensitively.
    fn from_str(s: &str) -> Result<Backend> {
        let t = s.trim().to_ascii_lowercase();
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == t || b.aliases().contains(&t.as_str()))
            .ok_or_else(|| Error::UnknownBackend(s.to_string()))
    }
}

impl From<Backend> for String {
    fn from(b: Backend) -> String {
        b.name().to_string()
    }
}

impl TryFrom<String> for Backend {
    type Error = Error;
    fn try_from(s: String) -> Result<Backend> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_without_expert_routing_or_the_architecture_say_so() {
        let mut p = crate::presets::profile("llama-3.2-1b:Q4_0").unwrap();
        assert!(Backend::Memcal.load_problem(&p).is_none());
        p.shape.experts = Some(crate::profile::Experts {
            total: 8,
            active: 2,
        });
        for b in [Backend::Memcal, Backend::BitnetRs] {
            let note = b.load_problem(&p).unwrap();
            assert!(note.contains("mixture-of-experts"), "{note}");
        }
        // bitnet.cpp's fork routes experts (measured on Mixtral-style files); llama.cpp too.
        assert!(Backend::LlamaCpp.load_problem(&p).is_none());
        assert!(Backend::BitnetCpp.load_problem(&p).is_none());
        p.shape.architecture = "qwen3moe".into();
        let note = Backend::BitnetCpp.load_problem(&p).unwrap();
        assert!(note.contains("no architecture \"qwen3moe\""), "{note}");
    }

    #[test]
    fn bitnet_rs_names_the_tensor_types_it_cannot_load() {
        let mut p = crate::presets::profile("bitnet-b1.58-2b-4t").unwrap();
        assert!(
            Backend::BitnetRs.load_problem(&p).is_none(),
            "{:?}",
            p.by_type.keys()
        );
        p.by_type.insert("TL2".parse().unwrap(), p.by_type["I2_S"]);
        let note = Backend::BitnetRs.load_problem(&p).unwrap();
        assert!(
            note.contains("this file's TL2 tensors will not load"),
            "{note}"
        );
    }

    #[test]
    fn names_and_aliases_parse_and_unknown_names_are_errors() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
            for a in b.aliases() {
                assert_eq!(a.parse::<Backend>().unwrap(), b);
            }
        }
        assert_eq!("Llama.CPP".parse::<Backend>().unwrap(), Backend::LlamaCpp);
        let e = "vllm".parse::<Backend>().unwrap_err().to_string();
        assert!(
            e.contains("unknown backend \"vllm\"") && e.contains("llama.cpp"),
            "{e}"
        );
    }
}
