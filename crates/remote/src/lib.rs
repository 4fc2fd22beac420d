//! Model references for memcal, before the download: estimate from a URL, a Hugging Face
//! repository or an Ollama model, reading only the header.
//!
//! - `http(s)://…/model.gguf` or `….safetensors`: read with HTTP range requests;
//! - `hf://OWNER/REPO[@REVISION]/FILE` and `hf://OWNER/REPO[@REVISION][:QUANT]` (a GGUF
//!   picked by its quantization tag as llama.cpp's `-hf` picks it; a SafeTensors
//!   repository read whole: config.json, the index, every shard's header);
//! - `ollama://[NAMESPACE/]MODEL[:TAG]`: the registry's manifest, then the model layer's
//!   blob read by range, and the params layer (`num_ctx`...);
//! - split GGUF models: every part's header, joined
//!   ([`memcal_formats::gguf::GgufFile::join_parts`]).
//!
//! The local stores come first, without the network (Ollama's model directory, the
//! Hugging Face cache), then a header cache on disk ([`cache`]: a second query makes no
//! request), then the network, through the same readers as local files
//! ([`memcal_formats::ReadAt`], implemented by [`source::HttpSource`]). Endpoints and
//! limits come from the environment ([`Options::from_env`]: `HF_ENDPOINT`, `HF_TOKEN`,
//! `HF_HUB_CACHE`/`HF_HOME`, `OLLAMA_MODELS`, `MEMCAL_OLLAMA_REGISTRY`, `HTTPS_PROXY`).
//!
//! ```no_run
//! let remote = memcal_remote::Remote::from_env();
//! let opened = remote.open("hf://bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M")?;
//! if let memcal_remote::Target::Gguf(g) = &opened.target {
//!     println!("{} tensors, {} bytes", g.tensors.len(), g.file_bytes);
//! }
//! println!("{} requests", remote.stats().requests());
//! # Ok::<(), memcal_remote::Error>(())
//! ```
#![warn(missing_docs)]

pub mod cache;
pub mod error;
pub mod hf;
pub mod http;
pub mod ollama;
mod open;
pub mod options;
mod plan;
pub mod reference;
pub mod source;

/// The README's example, compiled by `cargo test --doc`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use error::{Error, Result};
pub use open::{Opened, Remote, Target};
pub use options::{HttpOptions, Options};
pub use reference::{is_reference, ModelRef};
