//! Model file readers for memcal, validating every offset and length before trusting it:
//! GGUF ([`gguf`]: header, lazily parsed metadata values, and a writer), SafeTensors
//! ([`safetensors`]) with Hugging Face `config.json` ([`hf_config`]), and the sizes of
//! ggml and BitNet tensor types ([`ggml_type`]). The readers take a positioned-read
//! [`source::ReadAt`] (a local file, or HTTP range requests in `memcal-remote`).
//! Dependencies: thiserror and serde only.
#![warn(missing_docs)]

pub mod error;
pub mod ggml_type;
pub mod gguf;
pub mod hf_config;
pub mod safetensors;
pub mod source;

pub use error::{Error, Result};
pub use source::{FileSource, ReadAt};

/// The README's example (the crate page's), compiled by `cargo test --doc`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
