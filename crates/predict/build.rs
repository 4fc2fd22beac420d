//! Embeds the calibration tables (`tables/*.json`, inside this package) into the library.
//!
//! The build fails, naming the file, when the folder is missing or empty, or when a table
//! is not a JSON object with the fields every table has (`format`, `name`, `backend`,
//! `device_kind`, `qtype`, `correction`, `validation`) and the format version
//! `TABLE_FORMAT_VERSION` of `src/calibrate/table.rs`. (`CalibrationTable::from_json`, tested on
//! every embedded table, checks the rest.)
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Fields every table has.
const REQUIRED: [&str; 7] = [
    "format",
    "name",
    "backend",
    "device_kind",
    "qtype",
    "correction",
    "validation",
];

/// The format version, read from `src/calibrate/table.rs` so that there is one source of it.
fn format_version(manifest: &Path) -> Result<u64, String> {
    let src = manifest.join("src/calibrate/table.rs");
    let text = std::fs::read_to_string(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("pub const TABLE_FORMAT_VERSION: u32 =")
                .and_then(|v| v.trim().trim_end_matches(';').parse().ok())
        })
        .ok_or_else(|| format!("{}: no TABLE_FORMAT_VERSION", src.display()))
}

fn check(path: &Path, version: u64) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{}: not a JSON object", path.display()))?;
    if let Some(missing) = REQUIRED.iter().find(|k| !obj.contains_key(**k)) {
        return Err(format!("{}: no field {missing:?}", path.display()));
    }
    match obj["format"].as_u64() {
        Some(f) if f == version => Ok(()),
        other => Err(format!(
            "{}: format {other:?}, this library reads format {version}",
            path.display()
        )),
    }
}

fn run() -> Result<(), String> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let dir = manifest.join("tables");
    println!("cargo:rerun-if-changed={}", dir.display());
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("src/calibrate/table.rs").display()
    );
    let version = format_version(&manifest)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("calibration tables folder {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "no calibration tables (*.json) in {}",
            dir.display()
        ));
    }
    let mut out = String::from(
        "/// The embedded tables: (file name, JSON text).\npub static TABLES: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        check(f, version)?;
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            f.display().to_string()
        );
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    std::fs::write(out_dir.join("embedded_tables.rs"), out)
        .map_err(|e| format!("cannot write embedded_tables.rs: {e}"))
}

fn main() {
    if let Err(e) = run() {
        // A build script reports failure by exiting non-zero; the message names the file.
        eprintln!("error: {e}");
        println!("cargo:warning={e}");
        std::process::exit(1);
    }
}
