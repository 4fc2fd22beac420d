//! A GGUF v3 writer. Key-value pairs are encoded as they are added (a 128k-token string
//! array costs one buffer, not 128k `String`s); tensors are declared first and their data
//! is either stored with them, streamed per tensor at write time, or left as a hole in a
//! sparse file (`set_len`), so a large synthetic model is never held in memory twice.
//!
//! The writer enforces what the reader checks (unique keys and names, names shorter than
//! 64 bytes, at most 4 dimensions, sizes that exist for the type), so what it writes reads
//! back.

use super::layout::align_up;
use super::reader::{DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS, MAX_TENSOR_NAME};
use super::value::{OwnedArray, OwnedValue, Value, ValueType};
use crate::ggml_type::GgmlType;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

/// What can go wrong writing a GGUF file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Writing to the destination failed.
    #[error("writing GGUF: {0}")]
    Io(#[from] io::Error),
    /// The caller asked for something GGUF cannot hold.
    #[error("invalid GGUF content: {0}")]
    Invalid(String),
}

/// Result of the writer.
pub type WriteResult<T> = Result<T, WriteError>;

/// A declared tensor.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    /// Tensor name.
    pub name: String,
    /// Dimensions, `ne[0]` first.
    pub dims: Vec<u64>,
    /// Storage type.
    pub ggml_type: GgmlType,
    /// The type id written to the file (normally `ggml_type.id()`; e.g. 42 to write TL2 as
    /// newer BitNet fork builds do).
    pub type_id: u32,
    /// Stored bytes.
    pub nbytes: u64,
    data: Option<Vec<u8>>,
}

/// Builds a GGUF v3 file.
#[derive(Debug, Clone)]
pub struct GgufWriter {
    kv: Vec<u8>,
    n_kv: u64,
    keys: HashSet<String>,
    alignment: u64,
    tensors: Vec<TensorSpec>,
    names: HashSet<String>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        GgufWriter::new()
    }
}

fn invalid(what: impl Into<String>) -> WriteError {
    WriteError::Invalid(what.into())
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Appends a scalar's payload (no type id); arrays go through [`put_array`].
fn put_payload(buf: &mut Vec<u8>, v: &OwnedValue) {
    match v {
        Value::U8(x) => buf.push(*x),
        Value::I8(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => buf.push(u8::from(*x)),
        Value::String(s) => put_str(buf, s),
        Value::Array(a) => put_array(buf, a),
        Value::U64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => buf.extend_from_slice(&x.to_le_bytes()),
    }
}

/// Appends an array: element type, count, elements.
fn put_array(buf: &mut Vec<u8>, a: &OwnedArray) {
    buf.extend_from_slice(&a.elem_type().id().to_le_bytes());
    buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
    macro_rules! le_all {
        ($v:expr) => {
            for x in $v {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match a {
        OwnedArray::U8(v) => buf.extend_from_slice(v),
        OwnedArray::I8(v) => le_all!(v),
        OwnedArray::U16(v) => le_all!(v),
        OwnedArray::I16(v) => le_all!(v),
        OwnedArray::U32(v) => le_all!(v),
        OwnedArray::I32(v) => le_all!(v),
        OwnedArray::F32(v) => le_all!(v),
        OwnedArray::Bool(v) => buf.extend(v.iter().map(|&b| u8::from(b))),
        OwnedArray::String(v) => v.iter().for_each(|s| put_str(buf, s)),
        OwnedArray::Array(v) => v.iter().for_each(|inner| put_array(buf, inner)),
        OwnedArray::U64(v) => le_all!(v),
        OwnedArray::I64(v) => le_all!(v),
        OwnedArray::F64(v) => le_all!(v),
    }
}

/// Counts the bytes a tensor-data callback writes.
struct Counting<'a, W: Write> {
    inner: &'a mut W,
    written: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_zeros<W: Write>(w: &mut W, mut n: u64) -> io::Result<()> {
    const ZEROS: [u8; 4096] = [0; 4096];
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        w.write_all(&ZEROS[..k])?;
        n -= k as u64;
    }
    Ok(())
}

impl GgufWriter {
    /// An empty file: no keys, no tensors, alignment 32.
    pub fn new() -> GgufWriter {
        GgufWriter {
            kv: Vec::new(),
            n_kv: 0,
            keys: HashSet::new(),
            alignment: DEFAULT_ALIGNMENT,
            tensors: Vec::new(),
            names: HashSet::new(),
        }
    }

    /// The alignment in force (set through `general.alignment`).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Sets the alignment by adding the `general.alignment` key (a power of two).
    pub fn set_alignment(&mut self, alignment: u32) -> WriteResult<&mut Self> {
        self.add_u32("general.alignment", alignment)
    }

    /// Starts a key: checks it is new, writes key and type id.
    fn begin_key(&mut self, key: &str, ty: ValueType) -> WriteResult<()> {
        if !self.keys.insert(key.to_string()) {
            return Err(invalid(format!("duplicate key '{key}'")));
        }
        put_str(&mut self.kv, key);
        self.kv.extend_from_slice(&ty.id().to_le_bytes());
        self.n_kv += 1;
        Ok(())
    }

    /// Adds a key with any value, arrays (nested or not) included.
    pub fn add_value(&mut self, key: &str, value: &OwnedValue) -> WriteResult<&mut Self> {
        if key == "general.alignment" {
            match value {
                Value::U32(a) if *a != 0 && a.is_power_of_two() => self.alignment = (*a).into(),
                _ => {
                    return Err(invalid(format!(
                        "general.alignment must be a u32 power of two, got {value}"
                    )))
                }
            }
        }
        self.begin_key(key, value.value_type())?;
        put_payload(&mut self.kv, value);
        Ok(self)
    }

    /// Adds an array key.
    pub fn add_array(&mut self, key: &str, array: &OwnedArray) -> WriteResult<&mut Self> {
        self.begin_key(key, ValueType::Array)?;
        put_array(&mut self.kv, array);
        Ok(self)
    }

    /// Adds a u32 key.
    pub fn add_u32(&mut self, key: &str, v: u32) -> WriteResult<&mut Self> {
        self.add_value(key, &Value::U32(v))
    }

    /// Adds an i32 key.
    pub fn add_i32(&mut self, key: &str, v: i32) -> WriteResult<&mut Self> {
        self.add_value(key, &Value::I32(v))
    }

    /// Adds a u64 key.
    pub fn add_u64(&mut self, key: &str, v: u64) -> WriteResult<&mut Self> {
        self.add_value(key, &Value::U64(v))
    }

    /// Adds an f32 key.
    pub fn add_f32(&mut self, key: &str, v: f32) -> WriteResult<&mut Self> {
        self.add_value(key, &Value::F32(v))
    }

    /// Adds a bool key.
    pub fn add_bool(&mut self, key: &str, v: bool) -> WriteResult<&mut Self> {
        self.add_value(key, &Value::Bool(v))
    }

    /// Adds a string key.
    pub fn add_string(&mut self, key: &str, v: &str) -> WriteResult<&mut Self> {
        self.begin_key(key, ValueType::String)?;
        put_str(&mut self.kv, v);
        Ok(self)
    }

    /// Adds a string array, streamed from an iterator (no per-string allocation).
    pub fn add_string_array<I, S>(&mut self, key: &str, items: I) -> WriteResult<&mut Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.begin_key(key, ValueType::Array)?;
        self.kv
            .extend_from_slice(&ValueType::String.id().to_le_bytes());
        let count_at = self.kv.len();
        self.kv.extend_from_slice(&0u64.to_le_bytes());
        let mut n: u64 = 0;
        for s in items {
            put_str(&mut self.kv, s.as_ref());
            n += 1;
        }
        self.kv[count_at..count_at + 8].copy_from_slice(&n.to_le_bytes());
        Ok(self)
    }

    /// Adds an f32 array.
    pub fn add_f32_array(&mut self, key: &str, v: &[f32]) -> WriteResult<&mut Self> {
        self.add_array(key, &OwnedArray::F32(v.to_vec()))
    }

    /// Adds an i32 array.
    pub fn add_i32_array(&mut self, key: &str, v: &[i32]) -> WriteResult<&mut Self> {
        self.add_array(key, &OwnedArray::I32(v.to_vec()))
    }

    /// Adds a u32 array (e.g. a per-layer `head_count_kv`).
    pub fn add_u32_array(&mut self, key: &str, v: &[u32]) -> WriteResult<&mut Self> {
        self.add_array(key, &OwnedArray::U32(v.to_vec()))
    }

    /// Declares a tensor whose data is given now (its length must equal the type's size).
    pub fn add_tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        ggml_type: GgmlType,
        data: Vec<u8>,
    ) -> WriteResult<&mut Self> {
        self.declare(name, dims, ggml_type, ggml_type.id(), Some(data))?;
        Ok(self)
    }

    /// Declares a tensor whose data comes later (streamed by [`GgufWriter::write_with`], or
    /// a hole with [`GgufWriter::write_sparse`]). Returns its size in bytes.
    pub fn add_tensor_info(
        &mut self,
        name: &str,
        dims: &[u64],
        ggml_type: GgmlType,
    ) -> WriteResult<u64> {
        self.declare(name, dims, ggml_type, ggml_type.id(), None)
    }

    /// Like [`GgufWriter::add_tensor_info`] but writes `type_id` as the tensor's type (for
    /// files using another id for the same type, such as TL2 as 42).
    pub fn add_tensor_info_with_id(
        &mut self,
        name: &str,
        dims: &[u64],
        ggml_type: GgmlType,
        type_id: u32,
    ) -> WriteResult<u64> {
        self.declare(name, dims, ggml_type, type_id, None)
    }

    fn declare(
        &mut self,
        name: &str,
        dims: &[u64],
        ggml_type: GgmlType,
        type_id: u32,
        data: Option<Vec<u8>>,
    ) -> WriteResult<u64> {
        if name.len() >= MAX_TENSOR_NAME {
            return Err(invalid(format!(
                "tensor name '{name}' is {} bytes; ggml allows at most {}",
                name.len(),
                MAX_TENSOR_NAME - 1
            )));
        }
        if dims.len() > MAX_DIMS as usize {
            return Err(invalid(format!("tensor '{name}' has {} dims", dims.len())));
        }
        let elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64);
        if elements.is_none() {
            return Err(invalid(format!(
                "tensor '{name}' {dims:?}: too many elements"
            )));
        }
        let nbytes = ggml_type.nbytes(dims).ok_or_else(|| {
            invalid(format!(
                "tensor '{name}': {ggml_type} has no size for dims {dims:?}"
            ))
        })?;
        if let Some(d) = &data {
            if d.len() as u64 != nbytes {
                return Err(invalid(format!(
                    "tensor '{name}': {} data bytes given, {ggml_type} {dims:?} takes {nbytes}",
                    d.len()
                )));
            }
        }
        if !self.names.insert(name.to_string()) {
            return Err(invalid(format!("duplicate tensor name '{name}'")));
        }
        self.tensors.push(TensorSpec {
            name: name.to_string(),
            dims: dims.to_vec(),
            ggml_type,
            type_id,
            nbytes,
            data,
        });
        Ok(nbytes)
    }

    /// The declared tensors, in order.
    pub fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }

    /// Each tensor's offset relative to the data section, and the data section's length
    /// (every tensor padded to the alignment, the last one included, as ggml writes).
    pub fn layout(&self) -> WriteResult<(Vec<u64>, u64)> {
        let mut offsets = Vec::with_capacity(self.tensors.len());
        let mut at: u64 = 0;
        for t in &self.tensors {
            offsets.push(at);
            at = at
                .checked_add(t.nbytes)
                .and_then(|e| align_up(e, self.alignment))
                .ok_or_else(|| invalid("data section size overflows"))?;
        }
        Ok((offsets, at))
    }

    /// The header bytes, padded to the alignment (the data section starts right after).
    pub fn header_bytes(&self) -> WriteResult<Vec<u8>> {
        let (offsets, _) = self.layout()?;
        let infos: usize = self
            .tensors
            .iter()
            .map(|t| 8 + t.name.len() + 4 + 8 * t.dims.len() + 4 + 8)
            .sum();
        let mut h = Vec::with_capacity(24 + self.kv.len() + infos + self.alignment as usize);
        h.extend_from_slice(GGUF_MAGIC);
        h.extend_from_slice(&3u32.to_le_bytes());
        h.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        h.extend_from_slice(&self.n_kv.to_le_bytes());
        h.extend_from_slice(&self.kv);
        for (t, off) in self.tensors.iter().zip(offsets) {
            put_str(&mut h, &t.name);
            h.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                h.extend_from_slice(&d.to_le_bytes());
            }
            h.extend_from_slice(&t.type_id.to_le_bytes());
            h.extend_from_slice(&off.to_le_bytes());
        }
        let padded = align_up(h.len() as u64, self.alignment)
            .ok_or_else(|| invalid("header size overflows"))?;
        h.resize(padded as usize, 0);
        Ok(h)
    }

    /// Writes the whole file; every tensor must have been given its data. Returns the
    /// number of bytes written.
    pub fn write<W: Write>(&self, w: &mut W) -> WriteResult<u64> {
        self.write_with(w, |i, t, _| {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("tensor {i} '{}' was declared without data", t.name),
            ))
        })
    }

    /// Writes the whole file, asking `fill(index, tensor, out)` to write the data of each
    /// tensor declared without data; `fill` must write exactly `tensor.nbytes` bytes.
    /// Returns the number of bytes written.
    pub fn write_with<W, F>(&self, w: &mut W, mut fill: F) -> WriteResult<u64>
    where
        W: Write,
        F: FnMut(usize, &TensorSpec, &mut dyn Write) -> io::Result<()>,
    {
        let header = self.header_bytes()?;
        w.write_all(&header)?;
        let mut total = header.len() as u64;
        for (i, t) in self.tensors.iter().enumerate() {
            match &t.data {
                Some(d) => w.write_all(d)?,
                None => {
                    let mut c = Counting {
                        inner: &mut *w,
                        written: 0,
                    };
                    fill(i, t, &mut c)?;
                    if c.written != t.nbytes {
                        return Err(invalid(format!(
                            "tensor '{}': the data callback wrote {} bytes, expected {}",
                            t.name, c.written, t.nbytes
                        )));
                    }
                }
            }
            let end = align_up(t.nbytes, self.alignment)
                .ok_or_else(|| invalid("tensor size overflows"))?;
            write_zeros(w, end - t.nbytes)?;
            total += end;
        }
        w.flush()?;
        Ok(total)
    }

    /// Writes the header, the data of tensors given data, and sets the file's length so that
    /// the rest of the data section is a hole (reads as zeros, takes no disk). Returns the
    /// file length.
    pub fn write_sparse(&self, file: &mut File) -> WriteResult<u64> {
        let header = self.header_bytes()?;
        let (offsets, data_len) = self.layout()?;
        file.seek(SeekFrom::Start(0))?;
        {
            let mut w = BufWriter::new(&mut *file);
            w.write_all(&header)?;
            w.flush()?;
        }
        for (t, off) in self.tensors.iter().zip(offsets) {
            if let Some(d) = &t.data {
                file.seek(SeekFrom::Start(header.len() as u64 + off))?;
                file.write_all(d)?;
            }
        }
        let total = header.len() as u64 + data_len;
        file.set_len(total)?;
        Ok(total)
    }

    /// Creates `path` and writes the whole file to it (see [`GgufWriter::write`]).
    pub fn write_file(&self, path: &Path) -> WriteResult<u64> {
        let mut w = BufWriter::new(File::create(path)?);
        self.write(&mut w)
    }

    /// Creates `path` and writes it sparse (see [`GgufWriter::write_sparse`]).
    pub fn write_sparse_file(&self, path: &Path) -> WriteResult<u64> {
        let mut f = File::create(path)?;
        self.write_sparse(&mut f)
    }
}
