//! Which builds measured the records: a record keeps the commit of the binary that measured
//! it, with `+dirty` when that tree had uncommitted changes. Records from a dirty build are
//! fitted only when accepted: listed by commit in `<data>/accepted-dirty.txt` (one commit
//! per line, `#` starts a comment giving the reason), or with `--allow-dirty` for one run.

use crate::error::{CalibrationError, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The file, in a records directory, that accepts dirty builds by commit.
pub const ACCEPTED_DIRTY_FILE: &str = "accepted-dirty.txt";

/// The suffix a dirty build's commit carries.
pub const DIRTY_SUFFIX: &str = "+dirty";

/// The commits accepted in `dir`'s [`ACCEPTED_DIRTY_FILE`] (none when it is absent).
pub fn accepted_dirty(dir: &Path) -> Result<BTreeSet<String>> {
    let path = dir.join(ACCEPTED_DIRTY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(CalibrationError::io(&path, e)),
    };
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty())
        .map(|c| c.trim_end_matches(DIRTY_SUFFIX).to_string())
        .collect())
}

/// Usable records per dirty-build commit (without the suffix) that `accepted` does not
/// list, from the commits of the records.
pub fn unaccepted_dirty<'a>(
    commits: impl IntoIterator<Item = &'a str>,
    accepted: &BTreeSet<String>,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in commits {
        if let Some(base) = c.strip_suffix(DIRTY_SUFFIX) {
            if !accepted.contains(base) {
                *out.entry(base.to_string()).or_insert(0) += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dirty_commits_not_accepted_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert!(accepted_dirty(dir.path()).unwrap().is_empty());
        std::fs::write(
            dir.path().join(ACCEPTED_DIRTY_FILE),
            "# reviewed\naaa  # sweep of session 1\n\nbbb+dirty\n",
        )
        .unwrap();
        let ok = accepted_dirty(dir.path()).unwrap();
        assert_eq!(ok.iter().collect::<Vec<_>>(), ["aaa", "bbb"]);
        let commits = [
            "aaa+dirty",
            "bbb+dirty",
            "ccc+dirty",
            "ccc+dirty",
            "ddd",
            "unknown",
        ];
        let bad = unaccepted_dirty(commits, &ok);
        assert_eq!(
            bad.into_iter().collect::<Vec<_>>(),
            [("ccc".to_string(), 2)]
        );
    }
}
