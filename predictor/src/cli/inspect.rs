//! `predictor inspect`.

use predictor::inspect::Inspection;
use std::path::PathBuf;

/// Arguments of `predictor inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// Model file (.gguf, .safetensors, index.json or a directory), or a model reference
    /// read header-only: an http(s):// URL, `hf://OWNER/REPO[@REV]/FILE`,
    /// `hf://OWNER/REPO[@REV][:QUANT]`, `ollama://[NAMESPACE/]MODEL[:TAG]`.
    pub file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How model references are read.
    #[command(flatten)]
    pub remote: crate::cli_args::RemoteArgs,
}

/// What `predictor inspect` reports for these arguments (its `--json` answer).
pub fn inspect(a: &InspectArgs) -> anyhow::Result<Inspection> {
    // The reader's errors name the file (or URL) and what is wrong.
    if predictor::model_ref::is_reference(&a.file) {
        let opened = predictor::model_ref::open_reference(&a.file, a.remote.options())?;
        return Ok(predictor::inspect::inspect_opened(&opened.model)?);
    }
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
