//! Header-only GGUF reader: validates the header the way ggml's `gguf.cpp` does (and a
//! little more), never reads tensor data, and allocates nothing in proportion to a count
//! before checking that the file can hold that many items.

use super::bitnet::resolve_types;
pub use super::layout::align_up;
use super::layout::{Part, RawTensor};
use super::value::{Array, Value, ValueType};
use crate::error::{Error, Result};
use crate::ggml_type::GgmlType;
use crate::source::{read_to, FileSource, ReadAt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// GGUF magic bytes.
pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";
/// Alignment of the data section and of each tensor when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// What [`GgufFile::open`] reads first: the whole header of most models (a 128k
/// vocabulary takes about 3.4 MiB, 10 MiB with its BPE merges: then a second read).
pub const INITIAL_HEADER_READ: u64 = 4 << 20;
/// The largest header [`GgufFile::open`] reads (metadata and tensor table; the largest
/// real vocabularies take tens of MiB).
pub const MAX_HEADER_BYTES: u64 = 1 << 30;
/// The smallest first read [`GgufFile::read_from`] makes (the fixed preamble and then some).
const MIN_FIRST_READ: u64 = 4096;
/// ggml's `GGML_MAX_NAME`: tensor names must be shorter than this many bytes.
pub const MAX_TENSOR_NAME: usize = 64;
/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: u32 = 4;
/// How deeply arrays may nest (ggml itself accepts no nesting).
pub const MAX_ARRAY_DEPTH: u32 = 8;
/// Smallest possible key-value pair: key length (8), value type (4), one-byte value.
const MIN_KV_BYTES: u64 = 13;
/// Smallest possible tensor info: name length (8), n_dims (4), type (4), offset (8).
const MIN_TENSOR_INFO_BYTES: u64 = 24;
/// A typical key-value pair's bytes (a 30-byte key and a number), to guess how far a
/// header goes before it is read.
const KV_GUESS_BYTES: u64 = 56;
/// A typical tensor info's bytes (`blk.12.attn_output.weight`, two dimensions).
const TENSOR_GUESS_BYTES: u64 = 72;

/// One tensor of the tensor table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, `ne[0]` (innermost, the PyTorch shape reversed) first; 1 to 4 entries
    /// (0 entries for a scalar).
    pub dims: Vec<u64>,
    /// Storage type, with ambiguous BitNet ids already resolved.
    pub ggml_type: GgmlType,
    /// Offset of the tensor's data, relative to [`GgufFile::data_offset`].
    pub offset: u64,
    /// Exact stored bytes ([`GgmlType::nbytes`]), alignment padding excluded.
    pub nbytes: u64,
}

impl TensorInfo {
    /// Number of elements (product of the dimensions; checked not to overflow at parse).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF header.
#[derive(Debug, Clone)]
pub struct GgufFile {
    /// The file this header was read from (for messages).
    pub path: PathBuf,
    /// Format version (2 or 3).
    pub version: u32,
    /// Alignment of the data section and of each tensor's data.
    pub alignment: u64,
    /// File offset where tensor data starts.
    pub data_offset: u64,
    /// Length of the file in bytes.
    pub file_bytes: u64,
    /// The tensor table, in file order.
    pub tensors: Vec<TensorInfo>,
    /// The parts of a split model ([`super::split`]), in order, when this view joins
    /// several files; empty for a single file.
    pub parts: Vec<Part>,
    pub(super) metadata: Vec<(String, Value)>,
    pub(super) key_index: HashMap<String, usize>,
    pub(super) tensor_index: HashMap<String, usize>,
    pub(super) type_notes: Vec<String>,
}

impl GgufFile {
    /// Reads `path`'s header with plain positioned reads and parses it
    /// ([`GgufFile::read_from`] over a [`FileSource`]). No mapping: a file truncated or
    /// replaced while it is read is an error, never a SIGBUS.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        GgufFile::read_from(&FileSource::open(path)?, INITIAL_HEADER_READ)
    }

    /// Reads a header from any positioned-read source (a file, or HTTP range requests)
    /// with a first read of [`INITIAL_HEADER_READ`] bytes.
    pub fn open_from(src: &dyn ReadAt) -> Result<GgufFile> {
        GgufFile::read_from(src, INITIAL_HEADER_READ)
    }

    /// Reads a header from `src`: first `first_chunk` bytes (or the whole file, if
    /// shorter), then, while the header runs past what was read, the rest as the parse
    /// measures it: exactly, where a declared count of fixed-size items says how far it
    /// goes, else from the sizes of the items already read (the strings of the vocabulary
    /// so far, the tensor infos so far) with a slack of at most half a first read, never
    /// past [`MAX_HEADER_BYTES`]. Every byte is read once: each read continues the previous one.
    pub fn read_from(src: &dyn ReadAt, first_chunk: u64) -> Result<GgufFile> {
        let path = src.name();
        let len = src.len();
        let limit = len.min(MAX_HEADER_BYTES);
        let mut buf = Vec::new();
        let mut want = limit.min(first_chunk.max(MIN_FIRST_READ));
        loop {
            let complete = read_to(src, &mut buf, want)?;
            let got = buf.len() as u64;
            let failure = match parse_prefix(path, &buf, len) {
                Ok(g) => return Ok(g),
                Err(f) => f,
            };
            let need = match failure.need {
                // The header runs past what was read, and there is more to read.
                Some(need) if complete && got < len => need,
                _ => return Err(failure.error),
            };
            if got >= limit || (need.at_least > limit && limit < len) {
                return Err(Error::malformed(
                    path,
                    format!(
                        "header not parsed within its first {MAX_HEADER_BYTES} bytes ({})",
                        failure.error
                    ),
                ));
            }
            let guess = need.guess.max(need.at_least);
            // Slack against a guess a little short, within half a first read (so that the
            // bytes read stay within the header and one first read).
            let slack = (guess / 8).min(first_chunk / 2).max(MIN_FIRST_READ);
            want = guess
                .saturating_add(slack)
                .max(need.at_least)
                .max(got + 1)
                .min(limit);
        }
    }

    /// Parses a GGUF header from `bytes` (the file's contents, or a prefix holding at least
    /// the whole header); `file_len` is the file's full length, used to check that every
    /// tensor's data lies inside the file. `path_for_errors` names the file in errors.
    pub fn parse(path_for_errors: &Path, bytes: &[u8], file_len: u64) -> Result<GgufFile> {
        parse_prefix(path_for_errors, bytes, file_len).map_err(|f| f.error)
    }

    /// The value of a metadata key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// An integer key of any integer type, non-negative, as u64.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    /// A numeric key (integer or float) as f64.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    /// A string key.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// The key `<architecture>.<suffix>`, e.g. `arch_get("block_count")`.
    pub fn arch_get(&self, suffix: &str) -> Option<&Value> {
        let arch = self.architecture()?;
        self.get(&format!("{arch}.{suffix}"))
    }

    /// A tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// All metadata keys and values, in file order.
    pub fn metadata(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of metadata keys.
    pub fn n_kv(&self) -> usize {
        self.metadata.len()
    }

    /// How ambiguous type ids were read (BitNet fork vs upstream), one line per id.
    pub fn type_notes(&self) -> &[String] {
        &self.type_notes
    }

    /// Sum of the tensors' stored bytes, padding excluded.
    pub fn tensor_data_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.nbytes).sum()
    }
}

/// Why a parse failed: the error, and, when the bytes ran out before the header did, how
/// far the header goes.
struct Failure {
    error: Error,
    need: Option<Need>,
}

/// How far a header that ran past the bytes read goes.
#[derive(Debug, Clone, Copy)]
struct Need {
    /// It certainly reaches this offset.
    at_least: u64,
    /// It probably ends about here (from the sizes of what was read).
    guess: u64,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure { error, need: None }
    }
}

/// [`GgufFile::parse`], saying when the failure is the end of `bytes` inside the header.
fn parse_prefix(
    path_for_errors: &Path,
    bytes: &[u8],
    file_len: u64,
) -> std::result::Result<GgufFile, Failure> {
    let file_len = file_len.max(bytes.len() as u64);
    let mut c = Cursor {
        path: path_for_errors,
        bytes,
        pos: 0,
        need: None,
        tail: 0,
        prefix: (bytes.len() as u64) < file_len,
    };
    let result = parse_cursor(&mut c, file_len);
    result.map_err(|error| Failure {
        error,
        need: c.need,
    })
}

/// The parse itself, over a cursor that records where the bytes ran out.
fn parse_cursor(c: &mut Cursor<'_>, file_len: u64) -> Result<GgufFile> {
    let path_for_errors = c.path;
    let version = read_preamble(c, file_len)?;
    let n_tensors = c.u64(|| "tensor count".into())?;
    let n_kv = c.u64(|| "key-value count".into())?;
    let remaining = c.remaining() as u64;
    let needed = n_kv.checked_mul(MIN_KV_BYTES).and_then(|kv| {
        n_tensors
            .checked_mul(MIN_TENSOR_INFO_BYTES)?
            .checked_add(kv)
    });
    if !matches!(needed, Some(n) if n <= remaining) {
        let at_least = (c.pos as u64).saturating_add(needed.unwrap_or(u64::MAX));
        return Err(c.short(
            at_least,
            at_least,
            format!(
                "header declares {n_kv} key-value pairs and {n_tensors} tensors, but only \
                 {remaining} header bytes follow (each pair needs at least {MIN_KV_BYTES}, \
                 each tensor info {MIN_TENSOR_INFO_BYTES})"
            ),
        ));
    }

    c.tail = n_tensors.saturating_mul(TENSOR_GUESS_BYTES);
    let raw_kv = read_kv_section(c, n_kv)?;
    let kv_end = c.pos;
    let shared: Arc<[u8]> = Arc::from(c.bytes.get(..kv_end).unwrap_or(&[]));
    let mut metadata = Vec::with_capacity(raw_kv.len());
    let mut key_index = HashMap::with_capacity(raw_kv.len());
    for (i, (key, raw)) in raw_kv.into_iter().enumerate() {
        let value = match raw {
            RawValue::Scalar(v) => v,
            RawValue::Array {
                elem,
                len,
                start,
                end,
            } => Value::Array(Array::new(elem, len, shared.clone(), start, end)),
        };
        key_index.insert(key.clone(), i);
        metadata.push((key, value));
    }

    let alignment = read_alignment(path_for_errors, &metadata, &key_index)?;
    let (raws, tensor_index) = read_tensor_infos(c, n_tensors)?;
    let data_offset = align_up(c.pos as u64, alignment)
        .ok_or_else(|| c.err("data offset overflows".to_string()))?;

    let lookup = |k: &str| key_index.get(k).map(|&i| &metadata[i].1);
    let arch = lookup("general.architecture").and_then(Value::as_str);
    let file_type = lookup("general.file_type").and_then(Value::as_u64);
    let data_room = file_len.saturating_sub(data_offset);
    let resolved = resolve_types(&raws, alignment, data_room, arch, file_type)
        .map_err(|what| Error::malformed(path_for_errors, what))?;
    if data_offset > file_len && !raws.is_empty() {
        return Err(Error::malformed(
            path_for_errors,
            format!("data section would start at {data_offset}, past the end of the file ({file_len} bytes)"),
        ));
    }
    let tensors = raws
        .into_iter()
        .zip(resolved.types)
        .map(|(r, (ggml_type, nbytes))| TensorInfo {
            name: r.name,
            dims: r.dims,
            ggml_type,
            offset: r.offset,
            nbytes,
        })
        .collect();

    Ok(GgufFile {
        path: path_for_errors.to_path_buf(),
        version,
        alignment,
        data_offset,
        file_bytes: file_len,
        tensors,
        parts: Vec::new(),
        metadata,
        key_index,
        tensor_index,
        type_notes: resolved.notes,
    })
}

/// A bounds-checked little-endian reader over the header bytes.
struct Cursor<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
    /// Set when the bytes ran out inside the header: how far it goes.
    need: Option<Need>,
    /// A guess of the header's bytes after the item being read (the key-value pairs and
    /// tensor infos still to come), for [`Need::guess`].
    tail: u64,
    /// Whether `bytes` is a prefix of the file (the header may run past it).
    prefix: bool,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn err(&self, what: String) -> Error {
        Error::malformed(self.path, what)
    }

    /// The error for bytes that ran out inside the header, which reaches at least offset
    /// `at_least` and probably about `item_end` plus what follows the current item.
    fn short(&mut self, at_least: u64, item_end: u64, what: String) -> Error {
        self.need = Some(Need {
            at_least,
            guess: item_end.max(at_least).saturating_add(self.tail),
        });
        self.err(what)
    }

    fn take(&mut self, n: usize, what: impl FnOnce() -> String) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => {
                let end = (self.pos as u64).saturating_add(n as u64);
                let what = format!(
                    "unexpected end of file at offset {} reading {}: {n} bytes needed, {} left",
                    self.pos,
                    what(),
                    self.remaining()
                );
                Err(self.short(end, end, what))
            }
        }
    }

    fn array<const N: usize>(&mut self, what: impl FnOnce() -> String) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A length-prefixed string's bytes, the length checked against what is left.
    fn str_bytes(&mut self, what: impl Fn() -> String) -> Result<&'a [u8]> {
        let at = self.pos;
        let len = self.u64(&what)?;
        if len > self.remaining() as u64 {
            let end = (self.pos as u64).saturating_add(len);
            let what = format!(
                "{} at offset {at} declares {len} bytes, but only {} bytes remain",
                what(),
                self.remaining()
            );
            return Err(self.short(end, end, what));
        }
        self.take(len as usize, what)
    }
}

/// Magic and version; returns the version.
fn read_preamble(c: &mut Cursor, file_len: u64) -> Result<u32> {
    if c.bytes.len() < 4 {
        return Err(c.err(format!(
            "file is {file_len} bytes, too short for a GGUF header (magic, version, counts: 24 bytes)"
        )));
    }
    let magic = c.array::<4>(|| "magic".into())?;
    if &magic != GGUF_MAGIC {
        return Err(c.err(format!(
            "not a GGUF file: magic is {:?}, expected \"GGUF\"",
            String::from_utf8_lossy(&magic)
        )));
    }
    let version = c.u32(|| "version".into())?;
    let unsupported = |what: String| Error::Unsupported {
        path: c.path.to_path_buf(),
        what,
    };
    if version == 0 {
        return Err(c.err("GGUF version 0 is invalid".to_string()));
    }
    if version & 0xFFFF == 0 {
        return Err(unsupported(format!(
            "big-endian GGUF (version field reads {version:#x}); only little-endian files are supported"
        )));
    }
    if version == 1 {
        return Err(unsupported(
            "GGUF version 1 (32-bit counts) is no longer supported; convert the file to v3"
                .to_string(),
        ));
    }
    if version > 3 {
        return Err(unsupported(format!(
            "GGUF version {version}; this reader supports versions 2 and 3"
        )));
    }
    Ok(version)
}

/// A value as first read: scalars decoded, arrays as validated byte ranges.
enum RawValue {
    Scalar(Value),
    Array {
        elem: ValueType,
        len: u64,
        start: usize,
        end: usize,
    },
}

/// Reads the key-value section, rejecting duplicate keys.
fn read_kv_section(c: &mut Cursor, n_kv: u64) -> Result<Vec<(String, RawValue)>> {
    // n_kv * MIN_KV_BYTES fits in what is left (checked by the caller).
    let mut out: Vec<(String, RawValue)> = Vec::with_capacity(n_kv as usize);
    let mut seen: HashMap<&[u8], u64> = HashMap::with_capacity(n_kv as usize);
    let tensors_guess = c.tail;
    for i in 0..n_kv {
        c.tail = (n_kv - i - 1)
            .saturating_mul(KV_GUESS_BYTES)
            .saturating_add(tensors_guess);
        let at = c.pos;
        let key_bytes = c.str_bytes(|| format!("key of pair {i}"))?;
        if let Some(prev) = seen.insert(key_bytes, i) {
            return Err(c.err(format!(
                "duplicate key {:?} (pairs {prev} and {i}, offset {at})",
                String::from_utf8_lossy(key_bytes)
            )));
        }
        let key = std::str::from_utf8(key_bytes)
            .map_err(|_| c.err(format!("key of pair {i} at offset {at} is not valid UTF-8")))?
            .to_string();
        let type_at = c.pos;
        let type_id = c.u32(|| format!("type of key '{key}'"))?;
        let ty = ValueType::from_id(type_id).ok_or_else(|| {
            c.err(format!(
                "key '{key}' has unknown value type {type_id} at offset {type_at}"
            ))
        })?;
        if key == "tokenizer.ggml.tokens" {
            // llama.cpp's converters write a score and a type (4 bytes each) per token after
            // the tokens: count them in the guess of how far the header goes.
            let per_token: u64 = ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"]
                .iter()
                .filter(|k| !seen.contains_key(k.as_bytes()))
                .map(|_| 4)
                .sum();
            let n_tokens = c
                .bytes
                .get(c.pos + 4..c.pos + 12)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_le_bytes);
            c.tail = c.tail.saturating_add(n_tokens.saturating_mul(per_token));
        }
        let value = read_value(c, ty, &key)?;
        out.push((key, value));
    }
    Ok(out)
}

/// Reads one value of type `ty` for `key`.
fn read_value(c: &mut Cursor, ty: ValueType, key: &str) -> Result<RawValue> {
    let what = || format!("value of key '{key}'");
    Ok(RawValue::Scalar(match ty {
        ValueType::U8 => Value::U8(c.array::<1>(what)?[0]),
        ValueType::I8 => Value::I8(i8::from_le_bytes(c.array(what)?)),
        ValueType::U16 => Value::U16(u16::from_le_bytes(c.array(what)?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(c.array(what)?)),
        ValueType::U32 => Value::U32(c.u32(what)?),
        ValueType::I32 => Value::I32(i32::from_le_bytes(c.array(what)?)),
        ValueType::F32 => Value::F32(f32::from_le_bytes(c.array(what)?)),
        ValueType::Bool => Value::Bool(c.array::<1>(what)?[0] != 0),
        ValueType::U64 => Value::U64(c.u64(what)?),
        ValueType::I64 => Value::I64(i64::from_le_bytes(c.array(what)?)),
        ValueType::F64 => Value::F64(f64::from_le_bytes(c.array(what)?)),
        ValueType::String => {
            Value::String(String::from_utf8_lossy(c.str_bytes(what)?).into_owned())
        }
        ValueType::Array => {
            let (elem, len, start, end) = skip_array(c, key, 0)?;
            return Ok(RawValue::Array {
                elem,
                len,
                start,
                end,
            });
        }
    }))
}

/// Validates one array (element type, count, every string length, nested arrays) and steps
/// over it; returns (element type, count, elements start, elements end).
fn skip_array(c: &mut Cursor, key: &str, depth: u32) -> Result<(ValueType, u64, usize, usize)> {
    let at = c.pos;
    let elem_id = c.u32(|| format!("array element type of key '{key}'"))?;
    let elem = ValueType::from_id(elem_id).ok_or_else(|| {
        c.err(format!(
            "key '{key}': array at offset {at} has unknown element type {elem_id}"
        ))
    })?;
    let len = c.u64(|| format!("array length of key '{key}'"))?;
    let remaining = c.remaining() as u64;
    let least = len.checked_mul(elem.min_size() as u64);
    // In a prefix of the file, a string array's strings are scanned up to the end of the
    // bytes (a scan allocates nothing), so that their sizes so far measure the rest.
    let scan = elem == ValueType::String && c.prefix;
    if !scan && !matches!(least, Some(n) if n <= remaining) {
        let end = (c.pos as u64).saturating_add(least.unwrap_or(u64::MAX));
        let what = format!(
            "key '{key}': array at offset {at} declares {len} {elem} elements, \
             but only {remaining} bytes remain"
        );
        return Err(c.short(end, end, what));
    }
    let start = c.pos;
    match elem {
        ValueType::String => {
            // The hot loop of a header (a tokenizer holds 100k+ strings): plain indexing,
            // no allocation, one length check per string.
            let bytes = c.bytes;
            let mut pos = c.pos;
            // Where the array probably ends, from the strings read so far.
            let projected = |pos: usize, i: u64| {
                let avg = match i {
                    0 => 16,
                    _ => ((pos - start) as u64 / i).max(8),
                };
                (pos as u64).saturating_add((len - i).saturating_mul(avg))
            };
            for i in 0..len {
                let Some(n) = bytes.get(pos..pos + 8) else {
                    c.pos = pos;
                    let what = format!(
                        "unexpected end of file at offset {pos} reading the length of \
                         string {i} of key '{key}'"
                    );
                    let at_least = (pos as u64).saturating_add((len - i).saturating_mul(8));
                    return Err(c.short(at_least, projected(pos, i), what));
                };
                let mut le = [0u8; 8];
                le.copy_from_slice(n);
                let n = u64::from_le_bytes(le);
                let left = (bytes.len() - pos - 8) as u64;
                if n > left {
                    let what = format!(
                        "key '{key}': string {i} at offset {pos} declares {n} bytes, \
                         but only {left} bytes remain"
                    );
                    let at_least = (pos as u64)
                        .saturating_add(8)
                        .saturating_add(n)
                        .saturating_add((len - i - 1).saturating_mul(8));
                    return Err(c.short(at_least, projected(pos, i), what));
                }
                pos += 8 + n as usize;
            }
            c.pos = pos;
        }
        ValueType::Array => {
            if depth + 1 >= MAX_ARRAY_DEPTH {
                return Err(c.err(format!(
                    "key '{key}': arrays nested more than {MAX_ARRAY_DEPTH} deep at offset {at}"
                )));
            }
            for _ in 0..len {
                skip_array(c, key, depth + 1)?;
            }
        }
        fixed => {
            // len * size <= remaining, checked above (min_size == fixed size).
            let size = fixed.fixed_size().unwrap_or(1);
            c.take(len as usize * size, || format!("array of key '{key}'"))?;
        }
    }
    Ok((elem, len, start, c.pos))
}

/// `general.alignment`: a u32 power of two, default 32.
fn read_alignment(
    path: &Path,
    metadata: &[(String, Value)],
    index: &HashMap<String, usize>,
) -> Result<u64> {
    let Some(&i) = index.get("general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match metadata[i].1 {
        Value::U32(a) if a != 0 && a.is_power_of_two() => Ok(a.into()),
        Value::U32(a) => Err(Error::malformed(
            path,
            format!("general.alignment is {a}, not a power of two"),
        )),
        ref other => Err(Error::malformed(
            path,
            format!(
                "general.alignment has type {}, expected u32",
                other.value_type()
            ),
        )),
    }
}

/// Reads the tensor table (names, shapes, raw type ids, offsets).
fn read_tensor_infos(
    c: &mut Cursor,
    n_tensors: u64,
) -> Result<(Vec<RawTensor>, HashMap<String, usize>)> {
    let remaining = c.remaining() as u64;
    let least = n_tensors.checked_mul(MIN_TENSOR_INFO_BYTES);
    if !matches!(least, Some(n) if n <= remaining) {
        let end = (c.pos as u64).saturating_add(least.unwrap_or(u64::MAX));
        let guess = (c.pos as u64).saturating_add(n_tensors.saturating_mul(TENSOR_GUESS_BYTES));
        let what = format!(
            "header declares {n_tensors} tensors, but only {remaining} bytes remain for their infos"
        );
        c.tail = 0;
        return Err(c.short(end, guess, what));
    }
    let start = c.pos;
    let mut raws = Vec::with_capacity(n_tensors as usize);
    let mut index = HashMap::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let at = c.pos;
        let avg = match i {
            0 => TENSOR_GUESS_BYTES,
            _ => ((at - start) as u64 / i).max(MIN_TENSOR_INFO_BYTES),
        };
        c.tail = (n_tensors - i - 1).saturating_mul(avg);
        let name_bytes = c.str_bytes(|| format!("name of tensor {i}"))?;
        if name_bytes.len() >= MAX_TENSOR_NAME {
            return Err(c.err(format!(
                "tensor {i} at offset {at}: name is {} bytes, ggml allows at most {}",
                name_bytes.len(),
                MAX_TENSOR_NAME - 1
            )));
        }
        let name = std::str::from_utf8(name_bytes)
            .map_err(|_| {
                c.err(format!(
                    "tensor {i} at offset {at}: name is not valid UTF-8"
                ))
            })?
            .to_string();
        let n_dims = c.u32(|| format!("n_dims of tensor '{name}'"))?;
        if n_dims > MAX_DIMS {
            return Err(c.err(format!(
                "tensor '{name}' has {n_dims} dimensions, at most {MAX_DIMS} allowed"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        let mut elements: u64 = 1;
        for j in 0..n_dims {
            let ne = c.u64(|| format!("dimension {j} of tensor '{name}'"))?;
            if ne > i64::MAX as u64 {
                return Err(c.err(format!(
                    "tensor '{name}' dimension {j} is {} (negative as i64)",
                    ne as i64
                )));
            }
            elements = elements
                .checked_mul(ne)
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| {
                    c.err(format!(
                        "tensor '{name}': element count overflows i64 at dimension {j}"
                    ))
                })?;
            dims.push(ne);
        }
        let type_id = c.u32(|| format!("type of tensor '{name}'"))?;
        let offset = c.u64(|| format!("offset of tensor '{name}'"))?;
        if let Some(prev) = index.insert(name.clone(), raws.len()) {
            return Err(c.err(format!(
                "duplicate tensor name '{name}' (tensors {prev} and {i})"
            )));
        }
        raws.push(RawTensor {
            name,
            dims,
            type_id,
            offset,
        });
    }
    Ok((raws, index))
}
