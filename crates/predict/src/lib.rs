//! memcal's predictor: how much RAM and GPU memory a model will take, read from its file's
//! header, per component, in bytes, calibrated against measurements.
//!
//! The flow is one way: model file -> [`read`] -> [`profile::ModelProfile`] -> the engine's analytic
//! [`components::Estimate`] ([`backend::Backend`]: llama.cpp, bitnet.cpp, BitNet-rs or the
//! reference runtime) -> calibrated estimate -> [`planner`]. [`Predictor`] holds one
//! engine's model and tables for repeated questions.
//! This crate also owns the types the profiler and calibration crates share: the run
//! configuration, the components, the measurement [`record`] schema and the calibration
//! [`calibrate::table`] format.

#![warn(missing_docs)]

pub mod backend;
pub mod buffer;
pub mod calibrate;
pub mod compat;
pub mod components;
pub mod config;
pub mod device;
pub mod error;
pub mod inspect;
pub mod model_ref;
pub mod planner;
pub mod portable;
pub mod predictor;
pub mod presets;
pub mod profile;
pub mod read;
pub mod record;
pub mod rng;
pub mod units;
pub mod weight_type;

pub use memcal_formats::{ggml_type, gguf, hf_config, safetensors, Error as FormatError};

pub use backend::Backend;
pub use components::{Components, Estimate};
pub use config::{Device, KvDtype, RunConfig};
pub use error::{Error, Result};
pub use predictor::Predictor;
pub use profile::ModelProfile;
pub use read::load_profile;

/// The README's example (the crate page's), compiled by `cargo test --doc`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
