//! Running the engines people use (llama.cpp, bitnet.cpp, BitNet-rs) under the profiler:
//! the command line each engine needs for a [`predictor::RunConfig`], a prompt of about the
//! requested length, and what the engine's log says about its own memory.

pub mod command;
pub mod log;
pub mod prompt;

pub use command::{engine_command, EngineBinary};
pub use log::parse_log;
