//! `profiler reprofile`: recompute the model profile stored in records from the model
//! files themselves, after the profile gained fields (e.g. where each block lies in the
//! file). A profile is derived from the file alone, so this changes no measurement: each
//! record whose model file is found (same file name, size and content hash) gets the
//! current reader's profile; every other field of the record is kept as it was.

use crate::measure::filehash;
use anyhow::Context;
use predictor::record::Record;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Arguments of `profiler reprofile`.
#[derive(Debug, clap::Args)]
pub struct ReprofileArgs {
    /// Folder holding the model files (found by the file name a record names).
    #[arg(long, value_name = "DIR")]
    pub models: PathBuf,
    /// JSON Lines files of records to update in place (written to a temporary name and
    /// renamed).
    #[arg(required = true, value_name = "FILE.jsonl")]
    pub files: Vec<PathBuf>,
}

fn file_name(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

/// Runs `profiler reprofile`; prints how many records of each file were updated.
pub fn run(args: &ReprofileArgs) -> anyhow::Result<()> {
    // One profile per model file, read once.
    let mut profiles: HashMap<String, Option<predictor::ModelProfile>> = HashMap::new();
    for file in &args.files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let mut out = String::with_capacity(text.len());
        let (mut updated, mut total) = (0usize, 0usize);
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            total += 1;
            let mut r: Record = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a record", file.display(), i + 1))?;
            let name = file_name(&r.model.path).to_string();
            let profile = profiles.entry(name.clone()).or_insert_with(|| {
                let path = args.models.join(&name);
                let (hash, bytes) = filehash::hash_file(&path).ok()?;
                (hash == r.model.hash && bytes == r.model.bytes)
                    .then(|| predictor::read::load_profile(&path).ok())
                    .flatten()
            });
            match profile {
                Some(p) if p.name == r.profile.name => {
                    if r.profile != *p {
                        r.profile = p.clone();
                        updated += 1;
                    }
                    out.push_str(&serde_json::to_string(&r).context("encoding a record")?);
                }
                _ => out.push_str(line),
            }
            out.push('\n');
        }
        crate::measure::store::write_atomic(file, out.as_bytes())
            .with_context(|| format!("writing {}", file.display()))?;
        println!(
            "{}: {updated} of {total} record(s) given the current profile",
            file.display()
        );
    }
    Ok(())
}
