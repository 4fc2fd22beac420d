//! The engines memcal predicts, one memory model each, behind one trait.
//!
//! A prediction is only worth something for the engine the user runs: llama.cpp keeps a
//! mapped file and repacked copies, bitnet.cpp is an older llama.cpp fork with ternary
//! kernels, BitNet-rs converts and grows its buffers, and memcal's own reference runtime
//! (`memcal-candle`) holds exactly what it needs. Each engine is a module
//! ([`llama_cpp`] for llama.cpp and its bitnet.cpp fork, [`bitnet_rs`], [`mod@reference`])
//! with a [`MemoryModel`]; [`Backend`] names them and the registry below lists them;
//! calibration tables are looked up by the engine's exact name.

pub mod bitnet_rs;
pub mod common;
pub mod llama_cpp;
pub mod memory_model;
pub mod offload;
pub mod reference;

pub use memory_model::MemoryModel;

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

/// The registry: every engine with its memory model, in the order `predictor backends`
/// lists them. Adding an engine is its module and one row here (and its variant above).
const REGISTRY: [(Backend, &dyn MemoryModel); 4] = [
    (Backend::LlamaCpp, &llama_cpp::LlamaCpp),
    (Backend::BitnetCpp, &llama_cpp::BitnetCpp),
    (Backend::BitnetRs, &bitnet_rs::BitnetRs),
    (Backend::Memcal, &reference::Reference),
];

impl Backend {
    /// Every backend, in the registry's order.
    pub const ALL: [Backend; REGISTRY.len()] = {
        let mut all = [Backend::Memcal; REGISTRY.len()];
        let mut i = 0;
        while i < REGISTRY.len() {
            all[i] = REGISTRY[i].0;
            i += 1;
        }
        all
    };

    /// The engine's memory model.
    pub fn model(&self) -> &'static dyn MemoryModel {
        REGISTRY
            .iter()
            .find(|(b, _)| b == self)
            .map(|(_, m)| *m)
            .unwrap_or(&reference::Reference)
    }

    /// The name records and calibration tables carry.
    pub fn name(&self) -> &'static str {
        self.model().name()
    }

    /// Other spellings accepted on the command line.
    pub fn aliases(&self) -> &'static [&'static str] {
        self.model().aliases()
    }

    /// What the backend's memory model covers, in one line.
    pub fn summary(&self) -> &'static str {
        self.model().summary()
    }

    /// Engine builds with rules of their own (`--engine-build`).
    pub fn rule_builds(&self) -> Vec<u32> {
        self.model().rule_builds()
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
        self.model().load_problem(profile)
    }

    /// The analytic estimate of this engine's memory (no calibration), named after the
    /// engine and with its load problem as a note.
    pub fn analytic(&self, profile: &ModelProfile, config: &RunConfig) -> Result<Estimate> {
        let model = self.model();
        let mut est = model.analytic(profile, config)?;
        est.backend = model.name().to_string();
        if let Some(p) = model.load_problem(profile) {
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
