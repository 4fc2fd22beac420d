//! `predictor inspect`.

use predictor::inspect::Inspection;
use std::path::PathBuf;

/// Arguments of `predictor inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// Model file (.gguf, .safetensors, index.json or a directory).
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What `predictor inspect` reports for these arguments (its `--json` answer).
pub fn inspect(a: &InspectArgs) -> anyhow::Result<Inspection> {
    // The reader's errors name the file and what is wrong.
    Ok(predictor::inspect::inspect(&a.file)?)
}

/// Runs `predictor inspect`.
pub fn run(a: &InspectArgs) -> anyhow::Result<()> {
    let i = inspect(a)?;
    if a.json {
        super::print_json(&i)
    } else {
        print!("{}", predictor::inspect::render_text(&i));
        Ok(())
    }
}
