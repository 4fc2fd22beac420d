//! The header cache on disk: what a reference resolved to, and the first bytes of each
//! remote file read (its header), so that a second query for the same model makes no
//! request at all and works offline.
//!
//! Entries are keyed by URL (a Hugging Face file's URL holds the commit it was resolved
//! to, an Ollama blob's its digest; a plain URL's entry keeps the `ETag` it was read with)
//! and by reference for resolutions (a branch or tag is resolved once and kept until
//! `--refresh`). Each entry is one file, written under a temporary name and renamed, so a
//! reader never sees half of one; its key is stored in it and checked, so a hash
//! collision is a miss.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// A cached file header: the file's length, its `ETag`, and its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedHeader {
    /// The file's length.
    pub len: u64,
    /// The `ETag` it was read with.
    pub etag: Option<String>,
    /// Its first bytes (the header, as far as it was read).
    pub prefix: Vec<u8>,
}

const MAGIC: &[u8] = b"MEMCAL-HEADER-1\n";

/// FNV-1a, 64 bits: file names from keys.
fn hash(key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Cache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, kind: &str, key: &str) -> PathBuf {
        self.dir.join(format!("{}.{kind}", hash(key)))
    }

    /// The cached header of `url`, if any (a damaged entry is a miss).
    pub fn header(&self, url: &str) -> Option<CachedHeader> {
        let bytes = std::fs::read(self.path("hdr", url)).ok()?;
        let rest = bytes.strip_prefix(MAGIC)?;
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let meta: serde_json::Value = serde_json::from_slice(&rest[..nl]).ok()?;
        let prefix = &rest[nl + 1..];
        if meta.get("key")?.as_str()? != url || meta.get("prefix")?.as_u64()? != prefix.len() as u64
        {
            return None;
        }
        Some(CachedHeader {
            len: meta.get("len")?.as_u64()?,
            etag: meta
                .get("etag")
                .and_then(|e| e.as_str())
                .map(str::to_string),
            prefix: prefix.to_vec(),
        })
    }

    /// Stores the header of `url`.
    pub fn put_header(&self, url: &str, h: &CachedHeader) -> Result<()> {
        let meta = serde_json::json!({
            "key": url, "len": h.len, "etag": h.etag, "prefix": h.prefix.len()
        });
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(meta.to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&h.prefix);
        self.write(&self.path("hdr", url), &out)
    }

    /// A cached resolution (any JSON value) under `key`.
    pub fn resolution(&self, key: &str) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.path("json", key)).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        if v.get("key")?.as_str()? != key {
            return None;
        }
        v.get("value").cloned()
    }

    /// Stores a resolution under `key`.
    pub fn put_resolution(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        let v = serde_json::json!({ "key": key, "value": value });
        self.write(&self.path("json", key), v.to_string().as_bytes())
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let fail = |what: String| Error::Cache {
            path: path.to_path_buf(),
            what,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| fail(format!("cannot create: {e}")))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = path.with_extension(format!("tmp.{}.{nanos}", std::process::id()));
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(format!("cannot write: {e}")));
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(format!("cannot rename into place: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_a_damaged_one_is_a_miss() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let c = Cache::new(dir.path().join("c"));
        let h = CachedHeader {
            len: 1000,
            etag: Some("\"x\"".into()),
            prefix: b"GGUF\x03\0\0\0".to_vec(),
        };
        assert_eq!(c.header("http://a/m.gguf"), None);
        c.put_header("http://a/m.gguf", &h)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.header("http://a/m.gguf"), Some(h));
        assert_eq!(c.header("http://a/other.gguf"), None);
        let path = c.path("hdr", "http://a/m.gguf");
        let mut bytes = std::fs::read(&path).unwrap_or_default();
        bytes.truncate(bytes.len() - 2);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.header("http://a/m.gguf"), None);
        c.put_resolution("hf://o/r", &serde_json::json!({"a": 1}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.resolution("hf://o/r"), Some(serde_json::json!({"a": 1})));
    }
}
