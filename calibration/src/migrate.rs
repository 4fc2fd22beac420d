//! `calibration migrate-records`: rewrites record files so that no record names a path of
//! the machine that measured it ([`Record::make_portable`], the function every record
//! writer calls), keeping every record byte for byte otherwise.
//!
//! Only three values change: `model.path`, `engine.argv` and `engine.build`; every other
//! byte of a line is copied. A line is rewritten member by member: the record's object and
//! its `model` and `engine` objects are split into their members with the values' raw
//! text, and only the changed values are serialized again. A line that is not the compact
//! JSON memcal writes (so that re-joining its members would change it), or whose changed
//! values were not written the way serde writes them, is refused rather than reformatted.
//! Running it again changes nothing.
//!
//! A line equal, once migrated, to an earlier line of the same file is the same record
//! twice and is dropped: git's `merge=union` for record files (`.gitattributes`) keeps both
//! the old line and the rewritten one when a branch that migrated records is merged with
//! one that appended records, so migrating after such a merge also removes those copies.

use crate::error::{CalibrationError, Result};
use crate::paths::{files_with_extension, write_atomic};
use predictor::record::Record;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::path::{Path, PathBuf};

/// A JSON object's members in order, each value as its raw text.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Members, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Members {
    /// The members of the object `text`, which must be exactly what [`Members::render`]
    /// gives back (compact JSON, as serde writes it).
    fn parse(text: &str, what: &str) -> std::result::Result<Members, String> {
        let m: Members =
            serde_json::from_str(text).map_err(|e| format!("{what} is not a JSON object: {e}"))?;
        if m.render()? != text {
            return Err(format!(
                "{what} is not compact JSON as memcal writes it; not rewritten"
            ));
        }
        Ok(m)
    }

    /// The object as compact JSON.
    fn render(&self) -> std::result::Result<String, String> {
        let mut out = String::from("{");
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key).map_err(|e| e.to_string())?);
            out.push(':');
            out.push_str(value.get());
        }
        out.push('}');
        Ok(out)
    }

    /// Replaces the value of `key`, which must hold `old` written as serde writes it, by
    /// `new`; `what` names the object for messages.
    fn replace<T: serde::Serialize>(
        &mut self,
        key: &str,
        old: &T,
        new: &T,
        what: &str,
    ) -> std::result::Result<(), String> {
        let json = |v: &T| serde_json::to_string(v).map_err(|e| e.to_string());
        let slot = self
            .0
            .iter_mut()
            .find(|(k, _)| k == key)
            .ok_or_else(|| format!("{what} has no {key:?}"))?;
        if slot.1.get() != json(old)? {
            return Err(format!(
                "{what}.{key} is not written as memcal writes it; not rewritten"
            ));
        }
        slot.1 = RawValue::from_string(json(new)?).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Rewrites the object value of `key` with `f`.
    fn rewrite(
        &mut self,
        key: &str,
        f: impl FnOnce(&mut Members) -> std::result::Result<(), String>,
    ) -> std::result::Result<(), String> {
        let slot = self
            .0
            .iter_mut()
            .find(|(k, _)| k == key)
            .ok_or_else(|| format!("the record has no {key:?}"))?;
        let mut inner = Members::parse(slot.1.get(), key)?;
        f(&mut inner)?;
        slot.1 = RawValue::from_string(inner.render()?).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The line of one record with its machine paths removed, or None when it names none.
pub fn migrate_line(line: &str) -> std::result::Result<Option<String>, String> {
    let old: Record = serde_json::from_str(line).map_err(|e| format!("not a record: {e}"))?;
    let mut new = old.clone();
    new.make_portable();
    if new == old {
        return Ok(None);
    }
    let mut record = Members::parse(line, "the record")?;
    record.rewrite("model", |m| {
        m.replace("path", &old.model.path, &new.model.path, "model")
    })?;
    if let (Some(o), Some(n)) = (&old.engine, &new.engine) {
        record.rewrite("engine", |e| {
            e.replace("argv", &o.argv, &n.argv, "engine")?;
            e.replace("build", &o.build, &n.build, "engine")
        })?;
    }
    let text = record.render()?;
    // What was written reads back as the portable record, and nothing else changed.
    let back: Record = serde_json::from_str(&text).map_err(|e| format!("rewritten: {e}"))?;
    if back != new {
        return Err("the rewritten line does not read back as the portable record".into());
    }
    Ok(Some(text))
}

/// What migrating one file did (or would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMigration {
    /// The records file.
    pub path: PathBuf,
    /// Record lines in it.
    pub records: usize,
    /// Lines rewritten (or to rewrite, when checking).
    pub changed: usize,
    /// Lines dropped (or to drop) as copies of an earlier line, once migrated.
    pub duplicates: usize,
}

/// Migrates the records file `path`: every line that names a machine path is rewritten
/// (blank lines and every other byte kept) and a line equal to an earlier one once
/// migrated is dropped; the file is replaced atomically, and only when something changed
/// and `write` is set.
pub fn migrate_file(path: &Path, write: bool) -> Result<FileMigration> {
    let text = std::fs::read_to_string(path).map_err(|e| CalibrationError::io(path, e))?;
    let mut out = String::with_capacity(text.len());
    let (mut records, mut changed, mut duplicates) = (0, 0, 0);
    let mut seen = std::collections::HashSet::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if body.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        records += 1;
        let migrated = migrate_line(body).map_err(|what| CalibrationError::Record {
            path: path.to_path_buf(),
            line: i + 1,
            what,
        })?;
        let kept = migrated.as_deref().unwrap_or(body);
        if !seen.insert(kept.to_string()) {
            duplicates += 1;
            continue;
        }
        if migrated.is_some() {
            changed += 1;
        }
        out.push_str(kept);
        out.push_str(&line[body.len()..]);
    }
    if write && changed + duplicates > 0 {
        write_atomic(path, out.as_bytes())?;
    }
    Ok(FileMigration {
        path: path.to_path_buf(),
        records,
        changed,
        duplicates,
    })
}

/// Migrates every `*.jsonl` file of `dirs` (see [`migrate_file`]).
pub fn migrate_dirs(dirs: &[PathBuf], write: bool) -> Result<Vec<FileMigration>> {
    let mut out = Vec::new();
    for dir in dirs {
        for file in files_with_extension(dir, "jsonl")? {
            out.push(migrate_file(&file, write)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record line as `profiler exec` wrote them before: absolute paths of one machine.
    fn old_line() -> String {
        use crate::synthetic::{synthetic_profile, synthetic_record, Peaks, Truth};
        let truth = Truth {
            factors: [1.0; 4],
            additive_bytes: 0.0,
        };
        let config = predictor::RunConfig::default();
        let mut r = synthetic_record(
            &synthetic_profile(0, "Q4_0"),
            &config,
            &truth,
            0.0,
            Peaks::Summed,
        );
        r.model.path = "/data/cache/memcal/models/m.gguf".into();
        r.engine = Some(predictor::record::EngineRun {
            name: "llama.cpp".into(),
            version: "1".into(),
            build: r#"{"bin":"/data/cache/memcal/engines/llama.cpp-1/bin","name":"llama.cpp"}"#
                .into(),
            argv: [
                "/data/cache/memcal/engines/llama.cpp-1/bin/llama-completion",
                "-m",
                "/data/cache/memcal/models/m.gguf",
                "-p",
                "Once the",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        });
        serde_json::to_string(&r).unwrap()
    }

    #[test]
    fn only_the_paths_change_and_a_second_run_changes_nothing() {
        let old = old_line();
        let new = migrate_line(&old).unwrap().expect("paths to remove");
        let expected = old
            .replace(
                r#""path":"/data/cache/memcal/models/m.gguf""#,
                r#""path":"m.gguf""#,
            )
            .replace(
                r#"\"bin\":\"/data/cache/memcal/engines/llama.cpp-1/bin\""#,
                r#"\"bin\":\"bin\""#,
            )
            .replace(
                r#""/data/cache/memcal/engines/llama.cpp-1/bin/llama-completion","-m","/data/cache/memcal/models/m.gguf""#,
                r#""llama-completion","-m","m.gguf""#,
            );
        assert_ne!(expected, old);
        assert_eq!(new, expected);
        assert_eq!(migrate_line(&new).unwrap(), None);
    }

    #[test]
    fn a_file_keeps_its_blank_lines_and_unchanged_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let portable = migrate_line(&old_line()).unwrap().unwrap();
        // Another record, already portable, between them.
        let other = portable.replace(r#""timestamp":"#, r#""timestamp":1"#);
        assert_ne!(other, portable);
        let text = format!("{}\n\n{other}\n", old_line());
        std::fs::write(&path, &text).unwrap();
        let checked = migrate_file(&path, false).unwrap();
        assert_eq!(
            (checked.records, checked.changed, checked.duplicates),
            (2, 1, 0)
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        migrate_file(&path, true).unwrap();
        let done = std::fs::read_to_string(&path).unwrap();
        assert_eq!(done, format!("{portable}\n\n{other}\n"));
        let again = migrate_file(&path, true).unwrap();
        assert_eq!((again.changed, again.duplicates), (0, 0));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), done);
    }

    #[test]
    fn copies_a_union_merge_left_behind_are_dropped() {
        // What `merge=union` gives when one side migrated [a] and the other appended b:
        // the old a, b, then the migrated a.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let a = old_line();
        let b = a.replace(r#""timestamp":"#, r#""timestamp":1"#);
        let (a2, b2) = (
            migrate_line(&a).unwrap().unwrap(),
            migrate_line(&b).unwrap().unwrap(),
        );
        std::fs::write(&path, format!("{a}\n{b}\n{a2}\n")).unwrap();
        let m = migrate_file(&path, true).unwrap();
        assert_eq!((m.records, m.changed, m.duplicates), (3, 2, 1));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{a2}\n{b2}\n")
        );
    }

    #[test]
    fn a_line_memcal_did_not_write_is_refused_not_reformatted() {
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&old_line()).unwrap(),
        )
        .unwrap();
        let e = migrate_line(&pretty).unwrap_err();
        assert!(e.contains("not compact JSON"), "{e}");
    }
}
