//! Test support for memcal's model references (not published): [`Server`], a local HTTP
//! server on a free port serving files with range requests, in plain, Hugging Face-like
//! and Ollama-registry-like layouts, with the hostile behaviours a client must survive
//! ([`Behaviour`]); and [`models`], the test models it serves (the committed tiny llama
//! GGUF, the same split into parts, a sharded SafeTensors repository).

pub mod models;
mod server;

pub use server::{ollama_manifest, Behaviour, Logged, Server};
