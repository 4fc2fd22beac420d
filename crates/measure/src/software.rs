//! What produced a record: memcal's version, the candle-core version the reference
//! runtime was built with (read from the workspace's Cargo.lock at compile time), and the
//! git commit and build profile of the binary (compiled in by `build.rs`; `+dirty` when
//! tracked files differed from the commit, `unknown` outside git).

use predictor::record::Software;
use std::sync::OnceLock;

/// The workspace's lock file, embedded so the version is the one really built.
const CARGO_LOCK: &str = include_str!("../../../Cargo.lock");

/// Version of `package` in a Cargo.lock text, if it is listed.
pub fn locked_version(lock: &str, package: &str) -> Option<String> {
    let needle = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == needle {
            let v = lines.next()?.trim();
            return v
                .strip_prefix("version = \"")
                .and_then(|r| r.strip_suffix('"'))
                .map(str::to_string);
        }
    }
    None
}

/// The software description, computed once per process.
pub fn describe() -> Software {
    static CELL: OnceLock<Software> = OnceLock::new();
    CELL.get_or_init(|| Software {
        memcal_version: env!("CARGO_PKG_VERSION").to_string(),
        candle_version: locked_version(CARGO_LOCK, "candle-core").unwrap_or_default(),
        git_commit: env!("MEMCAL_BUILD_COMMIT").to_string(),
        build_profile: env!("MEMCAL_BUILD_PROFILE").to_string(),
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_versions_in_a_lock_file() {
        let lock = "[[package]]\nname = \"candle-core\"\nversion = \"0.11.1\"\n";
        assert_eq!(
            locked_version(lock, "candle-core").as_deref(),
            Some("0.11.1")
        );
        assert_eq!(locked_version(lock, "serde"), None);
        assert!(locked_version(CARGO_LOCK, "candle-core").is_some());
    }

    #[test]
    fn describes_itself() {
        let s = describe();
        assert_eq!(s.memcal_version, env!("CARGO_PKG_VERSION"));
        assert!(!s.git_commit.is_empty());
    }
}
