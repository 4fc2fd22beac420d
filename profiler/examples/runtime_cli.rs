//! The runtime's two commands (`synth`, `generate`) on their own, for acceptance runs while
//! the full `profiler` binary is assembled: `cargo run --release -p profiler --example
//! runtime_cli -- synth --preset tiny -o /tmp/tiny.gguf`.

use clap::{Parser, Subcommand};
use profiler::cli::{generate, synth};

#[derive(Parser)]
#[command(about = "memcal reference runtime: synthetic models and greedy generation")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a deterministic synthetic GGUF model.
    Synth(Box<synth::SynthArgs>),
    /// Greedy generation from token ids.
    Generate(generate::GenerateArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Synth(a) => synth::run(&a),
        Cmd::Generate(a) => generate::run(&a),
    }
}
