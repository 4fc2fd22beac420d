//! `predictor presets`.

use crate::cli_args::human_bytes;

/// Arguments of `predictor presets`.
#[derive(Debug, Clone, clap::Args)]
pub struct PresetsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `predictor presets`.
pub fn run(a: &PresetsArgs) -> anyhow::Result<()> {
    let list = predictor::presets::all();
    if a.json {
        return super::print_json(&list);
    }
    println!(
        "{:<30} {:>6} {:>6} {:>7} {:>6} {:>7} {:>8} {:>12}",
        "preset", "layers", "hidden", "heads", "ffn", "vocab", "type", "weights"
    );
    for p in &list {
        let profile = predictor::presets::profile(p.name)?;
        println!(
            "{:<30} {:>6} {:>6} {:>3}/{:<3} {:>6} {:>7} {:>8} {:>12}",
            p.name,
            p.layers,
            p.hidden,
            p.heads,
            p.kv_heads,
            p.ffn,
            p.vocab,
            p.default_type,
            human_bytes(profile.tensor_data_bytes)
        );
    }
    println!("\nUse --preset NAME or NAME:TYPE (e.g. llama-3.1-8b:Q8_0).");
    Ok(())
}
