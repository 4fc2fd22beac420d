//! SafeTensors headers, single file and sharded (`model.safetensors.index.json`), validated
//! as huggingface/safetensors does: a JSON header of at most 100 MB starting with `{`, every
//! tensor's bytes exactly `numel * bits / 8`, data offsets contiguous from 0 with no hole or
//! overlap, and the data ending exactly at the end of the file. Tensor data is never read.

use crate::error::{Error, Result};
use crate::hf_config::read_small_file;
use crate::source::{read_to, FileSource, ReadAt};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Largest JSON header accepted (huggingface/safetensors' limit).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;
/// Largest index.json read.
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// What [`SafeTensorsFile::open_from`] reads first: the whole header of most files (a
/// shard of a 70B model lists a few hundred tensors in some 50 KB).
pub const INITIAL_HEADER_READ: u64 = 256 << 10;

/// A SafeTensors element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    /// bool, one byte.
    Bool,
    /// 4-bit float (E2M1), two per byte.
    F4,
    /// 6-bit float E2M3.
    F6E2M3,
    /// 6-bit float E3M2.
    F6E3M2,
    /// u8. BitNet checkpoints (`quant_method: bitnet`) pack four ternary weights per byte
    /// in U8 tensors.
    U8,
    /// i8.
    I8,
    /// 8-bit float E5M2.
    F8E5M2,
    /// 8-bit float E4M3.
    F8E4M3,
    /// 8-bit exponent-only scale E8M0.
    F8E8M0,
    /// i16.
    I16,
    /// u16.
    U16,
    /// f16.
    F16,
    /// bfloat16.
    BF16,
    /// i32.
    I32,
    /// u32.
    U32,
    /// f32.
    F32,
    /// complex64 (two f32).
    C64,
    /// f64.
    F64,
    /// i64.
    I64,
    /// u64.
    U64,
}

impl Dtype {
    /// Parses the header's dtype string (`F16`, `BF16`, `U8`, `F8_E4M3`...).
    pub fn from_name(s: &str) -> Option<Dtype> {
        use Dtype::*;
        Some(match s {
            "BOOL" => Bool,
            "F4" => F4,
            "F6_E2M3" => F6E2M3,
            "F6_E3M2" => F6E3M2,
            "U8" => U8,
            "I8" => I8,
            "F8_E5M2" => F8E5M2,
            "F8_E4M3" => F8E4M3,
            "F8_E8M0" => F8E8M0,
            "I16" => I16,
            "U16" => U16,
            "F16" => F16,
            "BF16" => BF16,
            "I32" => I32,
            "U32" => U32,
            "F32" => F32,
            "C64" => C64,
            "F64" => F64,
            "I64" => I64,
            "U64" => U64,
            _ => return None,
        })
    }

    /// The header's name for the type.
    pub fn name(self) -> &'static str {
        use Dtype::*;
        match self {
            Bool => "BOOL",
            F4 => "F4",
            F6E2M3 => "F6_E2M3",
            F6E3M2 => "F6_E3M2",
            U8 => "U8",
            I8 => "I8",
            F8E5M2 => "F8_E5M2",
            F8E4M3 => "F8_E4M3",
            F8E8M0 => "F8_E8M0",
            I16 => "I16",
            U16 => "U16",
            F16 => "F16",
            BF16 => "BF16",
            I32 => "I32",
            U32 => "U32",
            F32 => "F32",
            C64 => "C64",
            F64 => "F64",
            I64 => "I64",
            U64 => "U64",
        }
    }

    /// Bits per element.
    pub fn bits(self) -> u64 {
        use Dtype::*;
        match self {
            F4 => 4,
            F6E2M3 | F6E3M2 => 6,
            Bool | U8 | I8 | F8E5M2 | F8E4M3 | F8E8M0 => 8,
            I16 | U16 | F16 | BF16 => 16,
            I32 | U32 | F32 => 32,
            C64 | F64 | I64 | U64 => 64,
        }
    }
}

/// One tensor of a SafeTensors header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StTensor {
    /// Tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost first (PyTorch order).
    pub shape: Vec<u64>,
    /// Start of the data, relative to the data section.
    pub begin: u64,
    /// End of the data (exclusive).
    pub end: u64,
}

impl StTensor {
    /// Stored bytes.
    pub fn nbytes(&self) -> u64 {
        self.end - self.begin
    }

    /// Number of stored elements (checked not to overflow at parse).
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// A parsed single SafeTensors file header.
#[derive(Debug, Clone)]
pub struct SafeTensorsFile {
    /// The file.
    pub path: PathBuf,
    /// Bytes of the JSON header (N).
    pub header_bytes: u64,
    /// Where tensor data starts (8 + N).
    pub data_offset: u64,
    /// Length of the file.
    pub file_bytes: u64,
    /// Tensors in data order.
    pub tensors: Vec<StTensor>,
    /// The `__metadata__` string map.
    pub metadata: BTreeMap<String, String>,
}

impl SafeTensorsFile {
    /// Reads and validates the header of `path` ([`SafeTensorsFile::read_from`] over a
    /// [`FileSource`]).
    pub fn open(path: &Path) -> Result<SafeTensorsFile> {
        SafeTensorsFile::open_from(&FileSource::open(path)?)
    }

    /// Reads and validates a header from any positioned-read source (a file, or HTTP
    /// range requests) with a first read of [`INITIAL_HEADER_READ`] bytes.
    pub fn open_from(src: &dyn ReadAt) -> Result<SafeTensorsFile> {
        SafeTensorsFile::read_from(src, INITIAL_HEADER_READ)
    }

    /// Reads a header from `src`: first `first_chunk` bytes (at least the 8-byte length,
    /// at most the file), then, if the declared header runs past them, exactly the rest.
    pub fn read_from(src: &dyn ReadAt, first_chunk: u64) -> Result<SafeTensorsFile> {
        let path = src.name();
        let file_len = src.len();
        if file_len < 8 {
            return Err(Error::malformed(
                path,
                format!("file is {file_len} bytes, too short for a SafeTensors header length"),
            ));
        }
        let mut buf = Vec::new();
        let cut_off = |buf: &[u8]| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the file ended after {} bytes", buf.len()),
            ),
        };
        let first = first_chunk.clamp(8, file_len.min(8 + MAX_HEADER_BYTES));
        if !read_to(src, &mut buf, first)? {
            return Err(cut_off(&buf));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&buf[..8]);
        let n = header_len(path, u64::from_le_bytes(len), file_len)?;
        // n <= MAX_HEADER_BYTES and n + 8 <= file_len: bounded by the file.
        if !read_to(src, &mut buf, 8 + n)? {
            return Err(cut_off(&buf));
        }
        parse_header(path, &buf[8..8 + n as usize], file_len)
    }

    /// Parses a whole file (or a prefix holding its header) from memory; `file_len` is the
    /// full file length.
    pub fn parse(path: &Path, bytes: &[u8], file_len: u64) -> Result<SafeTensorsFile> {
        let file_len = file_len.max(bytes.len() as u64);
        let Some(n) = bytes.get(..8) else {
            return Err(Error::malformed(
                path,
                format!("file is {file_len} bytes, too short for a SafeTensors header length"),
            ));
        };
        let mut len = [0u8; 8];
        len.copy_from_slice(n);
        let n = header_len(path, u64::from_le_bytes(len), file_len)?;
        let header = bytes
            .get(8..8 + n as usize)
            .ok_or_else(|| Error::malformed(path, format!("header of {n} bytes is cut off")))?;
        parse_header(path, header, file_len)
    }

    /// Sum of the tensors' bytes.
    pub fn tensor_data_bytes(&self) -> u64 {
        self.tensors.iter().map(StTensor::nbytes).sum()
    }
}

/// Checks the declared header length against the limit and the file.
fn header_len(path: &Path, n: u64, file_len: u64) -> Result<u64> {
    if n > MAX_HEADER_BYTES {
        return Err(Error::malformed(
            path,
            format!("header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit"),
        ));
    }
    if n.saturating_add(8) > file_len {
        return Err(Error::malformed(
            path,
            format!("header length {n} runs past the end of the file ({file_len} bytes)"),
        ));
    }
    Ok(n)
}

/// Validates the JSON header and the data layout.
fn parse_header(path: &Path, header: &[u8], file_len: u64) -> Result<SafeTensorsFile> {
    let bad = |what: String| Error::malformed(path, what);
    if header.first() != Some(&b'{') {
        return Err(bad("header does not start with '{'".to_string()));
    }
    let json: serde_json::Map<String, Value> = serde_json::from_slice(header)
        .map_err(|e| bad(format!("header is not a valid JSON object: {e}")))?;
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::with_capacity(json.len());
    for (name, entry) in &json {
        if name == "__metadata__" {
            let m = entry
                .as_object()
                .ok_or_else(|| bad("__metadata__ is not an object".to_string()))?;
            for (k, v) in m {
                let s = v
                    .as_str()
                    .ok_or_else(|| bad(format!("__metadata__ value of {k:?} is not a string")))?;
                metadata.insert(k.clone(), s.to_string());
            }
            continue;
        }
        tensors.push(parse_entry(path, name, entry)?);
    }
    tensors.sort_by_key(|t| (t.begin, t.end));
    let data_offset = 8 + header.len() as u64;
    let mut expected = 0u64;
    for t in &tensors {
        if t.begin != expected {
            return Err(bad(if t.begin < expected {
                format!(
                    "tensor {:?} data [{}, {}) overlaps the previous tensor, which ends at {expected}",
                    t.name, t.begin, t.end
                )
            } else {
                format!(
                    "tensor {:?} starts at {}, leaving a hole after offset {expected}",
                    t.name, t.begin
                )
            }));
        }
        expected = t.end;
    }
    let data_len = file_len - data_offset;
    if expected != data_len {
        return Err(bad(format!(
            "tensor data ends at {expected}, but the file holds {data_len} bytes of data \
             after the {}-byte header",
            header.len()
        )));
    }
    Ok(SafeTensorsFile {
        path: path.to_path_buf(),
        header_bytes: header.len() as u64,
        data_offset,
        file_bytes: file_len,
        tensors,
        metadata,
    })
}

/// One `name: {dtype, shape, data_offsets}` entry.
fn parse_entry(path: &Path, name: &str, entry: &Value) -> Result<StTensor> {
    let bad = |what: &str| Error::malformed(path, format!("tensor {name:?}: {what}"));
    let obj = entry
        .as_object()
        .ok_or_else(|| bad("entry is not an object"))?;
    let dtype_name = obj
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing dtype"))?;
    let dtype = Dtype::from_name(dtype_name)
        .ok_or_else(|| bad(&format!("unknown dtype {dtype_name:?}")))?;
    let shape = obj
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("missing shape"))?
        .iter()
        .map(|d| d.as_u64().ok_or_else(|| bad("shape holds a non-integer")))
        .collect::<Result<Vec<u64>>>()?;
    let offsets = obj
        .get("data_offsets")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 2)
        .ok_or_else(|| bad("data_offsets is not a [begin, end] pair"))?;
    let (Some(begin), Some(end)) = (offsets[0].as_u64(), offsets[1].as_u64()) else {
        return Err(bad("data_offsets holds a non-integer"));
    };
    if end < begin {
        return Err(bad(&format!(
            "data_offsets [{begin}, {end}] end before they begin"
        )));
    }
    let bits = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(dtype.bits()))
        .ok_or_else(|| bad(&format!("shape {shape:?} overflows")))?;
    if bits % 8 != 0 {
        return Err(bad(&format!(
            "shape {shape:?} of {dtype_name} is not a whole number of bytes"
        )));
    }
    if end - begin != bits / 8 {
        return Err(bad(&format!(
            "data_offsets [{begin}, {end}] hold {} bytes, but {dtype_name} {shape:?} takes {}",
            end - begin,
            bits / 8
        )));
    }
    Ok(StTensor {
        name: name.to_string(),
        dtype,
        shape,
        begin,
        end,
    })
}

/// A checkpoint: one file, or the shards of an index.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The file opened (the .safetensors file or the index.json).
    pub path: PathBuf,
    /// Each shard's header.
    pub shards: Vec<SafeTensorsFile>,
    /// Notes (index inconsistencies that are not errors).
    pub notes: Vec<String>,
}

impl Checkpoint {
    /// All tensors of all shards.
    pub fn tensors(&self) -> impl Iterator<Item = &StTensor> {
        self.shards.iter().flat_map(|s| s.tensors.iter())
    }

    /// Total bytes of all shard files.
    pub fn file_bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.file_bytes).sum()
    }

    /// Opens a single `.safetensors` file.
    pub fn open_file(path: &Path) -> Result<Checkpoint> {
        Ok(Checkpoint {
            path: path.to_path_buf(),
            shards: vec![SafeTensorsFile::open(path)?],
            notes: Vec::new(),
        })
    }

    /// Opens a `model.safetensors.index.json` and every shard it names (shards must sit in
    /// the index's directory), checking each listed tensor is in its shard and no tensor is
    /// in two shards.
    pub fn open_index(index: &Path) -> Result<Checkpoint> {
        let text = read_small_file(index, MAX_INDEX_BYTES, "the index")?;
        let dir = index.parent().unwrap_or(Path::new("."));
        Checkpoint::from_index(index, &text, |shard| {
            SafeTensorsFile::open(&dir.join(shard))
        })
    }

    /// A checkpoint from an index's text (`index` names it in errors) and each shard's
    /// header as `open_shard` reads it from the shard's plain file name (local files, or
    /// HTTP range requests beside the index), with the checks of
    /// [`Checkpoint::open_index`]. Shards are opened in name order.
    pub fn from_index(
        index: &Path,
        text: &[u8],
        mut open_shard: impl FnMut(&str) -> Result<SafeTensorsFile>,
    ) -> Result<Checkpoint> {
        let json: Value = serde_json::from_slice(text)
            .map_err(|e| Error::malformed(index, format!("index is not valid JSON: {e}")))?;
        let map = json
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::malformed(index, "index has no weight_map object"))?;
        let mut by_shard: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (tensor, shard) in map {
            let shard = shard.as_str().ok_or_else(|| {
                Error::malformed(
                    index,
                    format!("weight_map entry {tensor:?} is not a file name"),
                )
            })?;
            let plain = Path::new(shard)
                .file_name()
                .is_some_and(|f| f == std::ffi::OsStr::new(shard));
            if !plain {
                return Err(Error::malformed(
                    index,
                    format!("shard {shard:?} is not a plain file name in the index's directory"),
                ));
            }
            by_shard.entry(shard).or_default().push(tensor);
        }
        let mut shards = Vec::with_capacity(by_shard.len());
        let mut notes = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (shard, listed) in &by_shard {
            let file = open_shard(shard)?;
            let names: HashMap<&str, ()> =
                file.tensors.iter().map(|t| (t.name.as_str(), ())).collect();
            if let Some(missing) = listed.iter().find(|n| !names.contains_key(**n)) {
                return Err(Error::malformed(
                    index,
                    format!("weight_map puts {missing:?} in {shard}, which does not hold it"),
                ));
            }
            for t in &file.tensors {
                if let Some(other) = seen.insert(t.name.clone(), shard.to_string()) {
                    return Err(Error::malformed(
                        index,
                        format!("tensor {:?} is in both {other} and {shard}", t.name),
                    ));
                }
            }
            let extra = file.tensors.len().saturating_sub(listed.len());
            if extra > 0 {
                notes.push(format!(
                    "{shard} holds {extra} tensors the index does not list"
                ));
            }
            shards.push(file);
        }
        let declared = json
            .get("metadata")
            .and_then(|m| m.get("total_size"))
            .and_then(Value::as_u64);
        let actual: u64 = shards.iter().map(SafeTensorsFile::tensor_data_bytes).sum();
        if let Some(d) = declared.filter(|&d| d != actual) {
            notes.push(format!(
                "index metadata.total_size is {d}, the shards hold {actual} bytes of tensors"
            ));
        }
        Ok(Checkpoint {
            path: index.to_path_buf(),
            shards,
            notes,
        })
    }
}
