//! Default locations, resolved against the workspace root so the command works from any
//! directory, and the workspace-relative names written into tables and reports.

use crate::error::{CalibrationError, Result};
use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// Default directory of the measured records (`calibration/data`).
pub fn default_data_dir() -> PathBuf {
    workspace_root().join("calibration").join("data")
}

/// Directory of the held-out records nothing is fitted on (`calibration/holdout`).
pub fn default_holdout_dir() -> PathBuf {
    workspace_root().join("calibration").join("holdout")
}

/// Default directory of the calibration tables (`crates/predict/tables`: inside the
/// predictor library's package, which embeds them).
pub fn default_tables_dir() -> PathBuf {
    workspace_root()
        .join("crates")
        .join("predict")
        .join("tables")
}

/// Default directory of the generated report (`reports`).
pub fn default_reports_dir() -> PathBuf {
    workspace_root().join("reports")
}

/// `path` relative to the workspace root with `/` separators when it lies inside it, its
/// last two components (`<dir>/<file>`) otherwise. Used for names written into tables and
/// reports, so they depend neither on where the workspace is checked out nor on the name
/// of a scratch directory.
pub fn display_name(path: &Path) -> String {
    let root = workspace_root();
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let full = canonical(path);
    match full.strip_prefix(canonical(&root)) {
        Ok(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => {
            let parts: Vec<String> = path
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            parts[parts.len().saturating_sub(2)..].join("/")
        }
    }
}

/// The temporary name a file is written under before it is renamed into place (same
/// directory, so the rename is atomic): `.<name>.tmp`.
pub fn temporary_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `contents` to a temporary file beside `path` and renames it into place, so a
/// crash never leaves a truncated table or report behind.
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    let tmp = temporary_name(path);
    std::fs::write(&tmp, contents).map_err(|e| CalibrationError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CalibrationError::io(path, e))
}

/// The files of `dir` whose name ends in `.<ext>`, sorted; none when `dir` does not exist
/// (so commands work before the first sweep or fit).
pub fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CalibrationError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let p = entry.map_err(|e| CalibrationError::io(dir, e))?.path();
        if p.is_file() && p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_lie_under_the_workspace_and_display_relative() {
        let data = default_data_dir();
        assert!(data.starts_with(workspace_root()));
        assert_eq!(display_name(&data), "calibration/data");
        assert_eq!(display_name(&default_reports_dir()), "reports");
        let outside = Path::new("/nonexistent-memcal-dir/x.jsonl");
        assert_eq!(display_name(outside), "nonexistent-memcal-dir/x.jsonl");
    }
}
