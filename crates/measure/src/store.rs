//! The JSON Lines record store: one record per line, appended atomically, read back with
//! torn lines skipped.
//!
//! Appending: the file is opened with `O_APPEND`, locked with `flock` (so two sweeps on one
//! file do not interleave); if it does not end with a newline, the torn tail a crash left
//! in the middle of a write (a record whose append never returned) is cut off, so the
//! next record starts on a fresh line and readers never meet a broken line in the middle
//! of the file; the whole record line goes out in one `write`, and `fsync` makes it durable
//! before the call returns. A record whose append returned is never lost by a later crash.
//! Reading still skips any line that does not parse (a torn last line after a kill).

use super::error::MeasureError;
use predictor::record::{parse_jsonl, Record, RECORD_SCHEMA_VERSION};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// A records file.
#[derive(Debug, Clone)]
pub struct RecordStore {
    path: PathBuf,
}

/// What reading a store found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Records that parsed, in file order.
    pub records: Vec<Record>,
    /// Lines that did not parse or have another schema: (line number, why).
    pub skipped: Vec<(usize, String)>,
}

impl Loaded {
    /// The status of the last record of each key (later lines win).
    pub fn latest_by_key(&self) -> HashMap<String, &Record> {
        let mut map = HashMap::new();
        for r in &self.records {
            map.insert(r.key.clone(), r);
        }
        map
    }
}

struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    fn exclusive(file: &'a File, path: &Path) -> Result<FileLock<'a>, MeasureError> {
        loop {
            // SAFETY: flock on a descriptor we own.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                return Ok(FileLock(file));
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(MeasureError::io(path, e));
            }
        }
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        // SAFETY: unlocking our own descriptor.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Length of the file up to and including its last newline (the complete lines): what is
/// after it is a torn write.
fn complete_prefix(file: &File, len: u64) -> std::io::Result<u64> {
    const CHUNK: u64 = 64 << 10;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        file.read_exact_at(&mut buf[..n], start)?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Writes `contents` to a temporary file beside `path` (`.<name>.tmp`) and renames it into
/// place, so a crash never leaves a half-written store behind.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), MeasureError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents).map_err(|e| MeasureError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| MeasureError::io(path, e))
}

impl RecordStore {
    /// A store at `path` (the file is created on the first append).
    pub fn new(path: impl Into<PathBuf>) -> RecordStore {
        RecordStore { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every record; a missing file is an empty store. Lines that do not parse
    /// (a torn last line after a kill) or carry another schema version are skipped and
    /// listed in [`Loaded::skipped`].
    pub fn load(&self) -> Result<Loaded, MeasureError> {
        let text = match std::fs::read(&self.path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
            Err(e) => return Err(MeasureError::io(&self.path, e)),
        };
        let mut out = Loaded::default();
        for item in parse_jsonl(&text) {
            match item {
                Ok(r) if r.schema == RECORD_SCHEMA_VERSION => out.records.push(r),
                Ok(r) => out.skipped.push((
                    0,
                    format!(
                        "record {} has schema {} (this build reads {RECORD_SCHEMA_VERSION})",
                        r.key, r.schema
                    ),
                )),
                Err((line, why)) => out.skipped.push((line, why)),
            }
        }
        Ok(out)
    }

    /// Appends one record as one line, durably (see the module docs).
    pub fn append(&self, record: &Record) -> Result<(), MeasureError> {
        let mut line = serde_json::to_vec(record).map_err(|source| MeasureError::Json {
            what: format!("encoding record {}", record.key),
            source,
        })?;
        line.push(b'\n');
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| MeasureError::io(dir, e))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .read(true)
            .mode(0o644)
            .open(&self.path)
            .map_err(|e| MeasureError::io(&self.path, e))?;
        let _lock = FileLock::exclusive(&file, &self.path)?;
        let len = file
            .metadata()
            .map_err(|e| MeasureError::io(&self.path, e))?
            .len();
        let keep = complete_prefix(&file, len).map_err(|e| MeasureError::io(&self.path, e))?;
        if keep < len {
            file.set_len(keep)
                .map_err(|e| MeasureError::io(&self.path, e))?;
        }
        (&file)
            .write_all(&line)
            .map_err(|e| MeasureError::io(&self.path, e))?;
        file.sync_data()
            .map_err(|e| MeasureError::io(&self.path, e))?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use predictor::profile::{ModelFormat, ModelProfile, ModelShape};
    use predictor::record::{Machine, Measured, ModelFile, Predicted, Software, Status};
    use predictor::RunConfig;

    /// A small but complete record for store tests.
    pub(crate) fn sample_record(key: &str) -> Record {
        Record {
            schema: RECORD_SCHEMA_VERSION,
            key: key.to_string(),
            timestamp: 1,
            backend: "test".into(),
            machine: Machine::default(),
            software: Software::default(),
            model: ModelFile::default(),
            profile: ModelProfile {
                name: "m".into(),
                format: ModelFormat::Preset,
                shape: ModelShape {
                    architecture: "llama".into(),
                    n_layers: 1,
                    hidden: 8,
                    n_heads: 1,
                    n_kv_heads: vec![1],
                    head_dim_k: 8,
                    head_dim_v: 8,
                    ffn: 16,
                    vocab: 32,
                    ctx_train: 128,
                    tied_embeddings: true,
                    sliding_window: None,
                    sliding_layers: vec![],
                    experts: None,
                    mla: None,
                },
                n_params: 0,
                tensor_data_bytes: 0,
                file_bytes: 0,
                dominant_type: Some("F32".parse().expect("a ggml type")),
                by_type: Default::default(),
                by_role: Default::default(),
                layer_bytes: vec![0],
                layer_parts: Vec::new(),
                block_weights: Vec::new(),
                largest_tensor_bytes: 0,
                largest_tensor_elements: 0,
                sequential_load_peak_bytes: 0,
                header: Default::default(),
                spans: None,
                repack_candidates: Default::default(),
                matmul_weights: Vec::new(),
                trailing_weights: Vec::new(),
                block_norms: None,
                fused_gate_up: false,
                fused_qkv: false,
                ungated_ffn: false,
                parallel_residual: false,
                notes: vec![],
            },
            config: RunConfig::default(),
            prompt_tokens: 1,
            decode_tokens: 1,
            measured: Measured::default(),
            predicted: Predicted::default(),
            status: Status::Ok,
            message: None,
            engine: None,
            engine_key: None,
            role: Default::default(),
            device_name: None,
            workload: None,
        }
    }

    #[test]
    fn a_torn_line_is_skipped_on_reading_and_cut_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::new(dir.path().join("sub/r.jsonl"));
        assert!(store.load().unwrap().records.is_empty());
        store.append(&sample_record("a")).unwrap();
        // A crash in the middle of a line leaves half a record without a newline.
        let mut f = OpenOptions::new().append(true).open(store.path()).unwrap();
        f.write_all(b"{\"schema\":1,\"key\":\"tor").unwrap();
        drop(f);
        let torn = store.load().unwrap();
        assert_eq!(torn.records.len(), 1);
        assert_eq!(torn.skipped.len(), 1);
        assert_eq!(torn.skipped[0].0, 2);
        store.append(&sample_record("b")).unwrap();
        let loaded = store.load().unwrap();
        let keys: Vec<_> = loaded.records.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(loaded.skipped.is_empty());
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.ends_with('\n'));
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn later_records_of_a_key_win_and_other_schemas_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::new(dir.path().join("r.jsonl"));
        let mut first = sample_record("k");
        first.status = Status::Error;
        store.append(&first).unwrap();
        store.append(&sample_record("k")).unwrap();
        let mut future = sample_record("f");
        future.schema = RECORD_SCHEMA_VERSION + 1;
        store.append(&future).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.records.len(), 2);
        assert_eq!(loaded.skipped.len(), 1);
        assert_eq!(loaded.latest_by_key()["k"].status, Status::Ok);
    }
}
