//! `predictor inspect`.

use std::path::PathBuf;

/// Arguments of `predictor inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Model file (.gguf, .safetensors, index.json or a directory).
    file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `predictor inspect`.
pub fn run(a: &InspectArgs) -> anyhow::Result<()> {
    // The reader's errors name the file and what is wrong.
    let i = predictor::inspect::inspect(&a.file)?;
    if a.json {
        super::print_json(&i)
    } else {
        print!("{}", predictor::inspect::render_text(&i));
        Ok(())
    }
}
