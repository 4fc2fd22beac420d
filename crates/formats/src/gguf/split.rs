//! Split GGUF models (`gguf-split`'s `NAME-00001-of-00003.gguf`, ...): every part's header,
//! joined the way llama.cpp's loader joins them into one view: the metadata of the first
//! part (which holds the vocabulary), the tensors of all parts in part order, the file
//! bytes summed (each part is mapped or read on its own). llama.cpp loads a split model
//! from its first part only, and checks each part's `split.no` and the total tensor count
//! against `split.tensors.count`; so does this.

use super::reader::{GgufFile, TensorInfo};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `split.no`: the part's index, 0-based (u16).
pub const KEY_SPLIT_NO: &str = "split.no";
/// `split.count`: how many parts (u16).
pub const KEY_SPLIT_COUNT: &str = "split.count";
/// `split.tensors.count`: the tensors of all parts together (i32).
pub const KEY_SPLIT_TENSORS: &str = "split.tensors.count";

pub use super::layout::Part;

/// What a GGUF's `split.*` keys say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitKeys {
    /// `split.no` (0-based).
    pub no: u64,
    /// `split.count`.
    pub count: u64,
    /// `split.tensors.count`, when present.
    pub tensors: Option<u64>,
}

/// The split keys of a header; `None` for a file that is not part of a split model (no
/// `split.count`, or a count of 1).
pub fn split_keys(g: &GgufFile) -> Option<SplitKeys> {
    let count = g.get_u64(KEY_SPLIT_COUNT).filter(|&c| c > 1)?;
    Some(SplitKeys {
        no: g.get_u64(KEY_SPLIT_NO).unwrap_or(0),
        count,
        tensors: g.get_u64(KEY_SPLIT_TENSORS),
    })
}

/// The file name of part `no` (0-based) of `count` for a split model whose part `of_no`
/// is named `name` (llama.cpp's `llama_split_path`: `PREFIX-%05d-of-%05d.gguf`); `None`
/// when `name` does not end in that pattern for `of_no`.
pub fn part_name(name: &str, of_no: u64, no: u64, count: u64) -> Option<String> {
    let suffix = format!("-{:05}-of-{count:05}.gguf", of_no + 1);
    let prefix = name.strip_suffix(&suffix)?;
    Some(format!("{prefix}-{:05}-of-{count:05}.gguf", no + 1))
}

/// If `names` are the parts of one split model (the same prefix and count, all of them),
/// the first part.
pub fn first_part(names: &[PathBuf]) -> Option<PathBuf> {
    let parsed: Vec<(String, u64, u64)> = names
        .iter()
        .map(|p| parse_part_name(&p.file_name()?.to_string_lossy()))
        .collect::<Option<_>>()?;
    let (prefix, _, count) = parsed.first()?.clone();
    let same = parsed.iter().all(|(p, _, c)| *p == prefix && *c == count);
    if !same || count != names.len() as u64 {
        return None;
    }
    let i = parsed.iter().position(|(_, no, _)| *no == 1)?;
    names.get(i).cloned()
}

/// `PREFIX-NNNNN-of-MMMMM.gguf` as (prefix, NNNNN, MMMMM).
fn parse_part_name(name: &str) -> Option<(String, u64, u64)> {
    let stem = name.strip_suffix(".gguf")?;
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (prefix, no) = rest.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(no) || !digits(count) {
        return None;
    }
    Some((prefix.to_string(), no.parse().ok()?, count.parse().ok()?))
}

impl GgufFile {
    /// Opens a local GGUF and, when it is the first part of a split model, every other
    /// part beside it, joined ([`GgufFile::join_parts`]). A part other than the first is
    /// refused, as llama.cpp refuses it.
    pub fn open_all_parts(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let first = GgufFile::open(path)?;
        let dir = path.parent().unwrap_or(Path::new(""));
        first.join_parts(|name| GgufFile::open(dir.join(name)))
    }

    /// When this header is the first part of a split model, reads the other parts with
    /// `open_part` (given each part's file name, beside this one) and joins them: the
    /// metadata of this part, the tensors of all in part order (offsets counting the
    /// parts' data sections one after the other), the file bytes summed, the parts listed
    /// in [`GgufFile::parts`]. A file that is not split is returned as it is.
    pub fn join_parts(
        self,
        mut open_part: impl FnMut(&str) -> Result<GgufFile>,
    ) -> Result<GgufFile> {
        let Some(keys) = split_keys(&self) else {
            return Ok(self);
        };
        let path = self.path.clone();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let part_of = |no: u64| part_name(&name, keys.no, no, keys.count);
        if keys.no != 0 {
            let first = part_of(0).map_or_else(
                || "its first part".to_string(),
                |n| format!("the first part, {n}"),
            );
            return Err(Error::Unsupported {
                path,
                what: format!(
                    "part {} of {} of a split model: give {first} (llama.cpp loads a split \
                     model from its first part)",
                    keys.no + 1,
                    keys.count
                ),
            });
        }
        if keys.count > u64::from(u16::MAX) {
            return Err(Error::malformed(
                &path,
                format!("{KEY_SPLIT_COUNT} is {}, more than a u16", keys.count),
            ));
        }
        if part_of(0).is_none() {
            return Err(Error::malformed(
                &path,
                format!(
                    "{KEY_SPLIT_COUNT} is {} but the file name does not end in \
                     -00001-of-{:05}.gguf, so its other parts cannot be named",
                    keys.count, keys.count
                ),
            ));
        }
        let mut joined = self;
        joined.parts.push(Part {
            path: joined.path.clone(),
            file_bytes: joined.file_bytes,
            data_offset: joined.data_offset,
            n_tensors: joined.tensors.len(),
        });
        let mut base = joined.file_bytes.saturating_sub(joined.data_offset);
        for no in 1..keys.count {
            let part_file = part_of(no).unwrap_or_default();
            let part = open_part(&part_file)?;
            let pk = split_keys(&part);
            if pk.map(|k| (k.no, k.count)) != Some((no, keys.count)) {
                return Err(Error::malformed(
                    &part.path,
                    format!(
                        "part {} of {} of {} should have {KEY_SPLIT_NO} = {no} and \
                         {KEY_SPLIT_COUNT} = {}; it has {}",
                        no + 1,
                        keys.count,
                        name,
                        keys.count,
                        pk.map_or("no split keys".to_string(), |k| format!(
                            "{KEY_SPLIT_NO} = {}, {KEY_SPLIT_COUNT} = {}",
                            k.no, k.count
                        ))
                    ),
                ));
            }
            joined.add_part(part, base)?;
            let last = joined
                .parts
                .last()
                .map_or(0, |p| p.file_bytes - p.data_offset);
            base = base.saturating_add(last);
        }
        if let Some(want) = keys.tensors.filter(|&t| t != joined.tensors.len() as u64) {
            return Err(Error::malformed(
                &path,
                format!(
                    "{KEY_SPLIT_TENSORS} is {want}, but the {} parts hold {} tensors",
                    keys.count,
                    joined.tensors.len()
                ),
            ));
        }
        Ok(joined)
    }

    /// Appends a part's tensors (offsets moved by `base`) and bytes.
    fn add_part(&mut self, part: GgufFile, base: u64) -> Result<()> {
        self.parts.push(Part {
            path: part.path.clone(),
            file_bytes: part.file_bytes,
            data_offset: part.data_offset,
            n_tensors: part.tensors.len(),
        });
        self.file_bytes = self.file_bytes.saturating_add(part.file_bytes);
        for note in part.type_notes {
            if !self.type_notes.contains(&note) {
                self.type_notes.push(note);
            }
        }
        let mut index: HashMap<String, usize> = std::mem::take(&mut self.tensor_index);
        for t in part.tensors {
            if index.contains_key(&t.name) {
                return Err(Error::malformed(
                    &part.path,
                    format!("tensor '{}' is also in an earlier part", t.name),
                ));
            }
            index.insert(t.name.clone(), self.tensors.len());
            self.tensors.push(TensorInfo {
                offset: t.offset.saturating_add(base),
                ..t
            });
        }
        self.tensor_index = index;
        Ok(())
    }
}
