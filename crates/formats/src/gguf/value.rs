//! GGUF metadata values: the 13 value types, scalars decoded, arrays kept lazily as a byte
//! range of the header and decoded on demand.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A GGUF metadata value type (the u32 written before each value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// 0: u8.
    U8,
    /// 1: i8.
    I8,
    /// 2: u16.
    U16,
    /// 3: i16.
    I16,
    /// 4: u32.
    U32,
    /// 5: i32.
    I32,
    /// 6: f32.
    F32,
    /// 7: bool (one byte; any non-zero byte reads as true, as in ggml).
    Bool,
    /// 8: string (u64 length + UTF-8 bytes, no terminator).
    String,
    /// 9: array (u32 element type + u64 count + elements).
    Array,
    /// 10: u64.
    U64,
    /// 11: i64.
    I64,
    /// 12: f64.
    F64,
}

impl ValueType {
    /// The type for a GGUF type id, `None` for an unknown id.
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The GGUF type id.
    pub fn id(self) -> u32 {
        use ValueType::*;
        match self {
            U8 => 0,
            I8 => 1,
            U16 => 2,
            I16 => 3,
            U32 => 4,
            I32 => 5,
            F32 => 6,
            Bool => 7,
            String => 8,
            Array => 9,
            U64 => 10,
            I64 => 11,
            F64 => 12,
        }
    }

    /// Bytes of one value of a fixed-size type; `None` for strings and arrays.
    pub fn fixed_size(self) -> Option<usize> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }

    /// The smallest number of bytes one value of this type takes in a file (a string needs
    /// its 8-byte length, an array its 4-byte type and 8-byte count).
    pub fn min_size(self) -> usize {
        match self {
            ValueType::String => 8,
            ValueType::Array => 12,
            fixed => fixed.fixed_size().unwrap_or(1),
        }
    }

    /// Lower-case name as in ggml (`u32`, `string`, `array`...).
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metadata value. `A` is the array representation: [`Array`] (lazy, read from a file)
/// by default, [`OwnedArray`] for values built in memory ([`OwnedValue`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Value<A = Array> {
    /// u8.
    U8(u8),
    /// i8.
    I8(i8),
    /// u16.
    U16(u16),
    /// i16.
    I16(i16),
    /// u32.
    U32(u32),
    /// i32.
    I32(i32),
    /// f32.
    F32(f32),
    /// bool.
    Bool(bool),
    /// A string (invalid UTF-8 in a file is replaced by U+FFFD).
    String(String),
    /// An array.
    Array(A),
    /// u64.
    U64(u64),
    /// i64.
    I64(i64),
    /// f64.
    F64(f64),
}

/// A value built in memory, e.g. for [`crate::gguf::writer::GgufWriter`].
pub type OwnedValue = Value<OwnedArray>;

impl<A> Value<A> {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// Any integer value as i128 (bools and floats give `None`).
    fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::U64(v) => v.into(),
            Value::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// Any integer type holding a non-negative value, as u64 (writers use u32 and u64
    /// interchangeably).
    pub fn as_u64(&self) -> Option<u64> {
        self.as_integer().and_then(|v| u64::try_from(v).ok())
    }

    /// Any integer type whose value fits an i64.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_integer().and_then(|v| i64::try_from(v).ok())
    }

    /// Any numeric value (integer or float) as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_integer().map(|v| v as f64),
        }
    }

    /// A bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// A string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// An array value.
    pub fn as_array(&self) -> Option<&A> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl Value<Array> {
    /// The strings of a string array, decoded one by one on demand.
    pub fn as_str_array(&self) -> Option<StrIter<'_>> {
        self.as_array().and_then(Array::strings)
    }

    /// A copy with every array decoded (allocates one value per element).
    pub fn to_owned_value(&self) -> OwnedValue {
        match self {
            Value::U8(v) => Value::U8(*v),
            Value::I8(v) => Value::I8(*v),
            Value::U16(v) => Value::U16(*v),
            Value::I16(v) => Value::I16(*v),
            Value::U32(v) => Value::U32(*v),
            Value::I32(v) => Value::I32(*v),
            Value::F32(v) => Value::F32(*v),
            Value::Bool(v) => Value::Bool(*v),
            Value::String(v) => Value::String(v.clone()),
            Value::Array(a) => Value::Array(a.to_owned_array()),
            Value::U64(v) => Value::U64(*v),
            Value::I64(v) => Value::I64(*v),
            Value::F64(v) => Value::F64(*v),
        }
    }
}

impl<A: fmt::Display> fmt::Display for Value<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U8(v) => write!(f, "{v}"),
            Value::I8(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::String(v) => write!(f, "{v:?}"),
            Value::Array(a) => write!(f, "{a}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
        }
    }
}

/// An array read from a file: element type, count and the byte range of its elements in
/// the header, already validated (every string length and nested array lies inside it).
/// Elements are decoded only when asked for.
#[derive(Clone)]
pub struct Array {
    elem: ValueType,
    len: u64,
    bytes: Arc<[u8]>,
    start: usize,
    end: usize,
}

impl fmt::Debug for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("elem", &self.elem)
            .field("len", &self.len)
            .field("bytes", &(self.end - self.start))
            .finish()
    }
}

impl PartialEq for Array {
    fn eq(&self, other: &Self) -> bool {
        self.elem == other.elem && self.len == other.len && self.raw() == other.raw()
    }
}

impl fmt::Display for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}; {}]", self.elem, self.len)
    }
}

/// Reads a little-endian fixed-size number at `at`; callers pass ranges validated at parse.
fn le<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// Decodes one fixed-size scalar at `at`.
fn decode_fixed(ty: ValueType, bytes: &[u8], at: usize) -> Value {
    match ty {
        ValueType::U8 => Value::U8(le::<1>(bytes, at)[0]),
        ValueType::I8 => Value::I8(i8::from_le_bytes(le(bytes, at))),
        ValueType::U16 => Value::U16(u16::from_le_bytes(le(bytes, at))),
        ValueType::I16 => Value::I16(i16::from_le_bytes(le(bytes, at))),
        ValueType::U32 => Value::U32(u32::from_le_bytes(le(bytes, at))),
        ValueType::I32 => Value::I32(i32::from_le_bytes(le(bytes, at))),
        ValueType::F32 => Value::F32(f32::from_le_bytes(le(bytes, at))),
        ValueType::Bool => Value::Bool(le::<1>(bytes, at)[0] != 0),
        ValueType::U64 => Value::U64(u64::from_le_bytes(le(bytes, at))),
        ValueType::I64 => Value::I64(i64::from_le_bytes(le(bytes, at))),
        ValueType::F64 => Value::F64(f64::from_le_bytes(le(bytes, at))),
        // Not fixed-size: never called for these.
        ValueType::String | ValueType::Array => Value::U8(0),
    }
}

impl Array {
    /// Builds an array over `bytes[start..end]`; the reader has validated that range.
    pub(crate) fn new(
        elem: ValueType,
        len: u64,
        bytes: Arc<[u8]>,
        start: usize,
        end: usize,
    ) -> Array {
        Array {
            elem,
            len,
            bytes,
            start,
            end,
        }
    }

    /// The element type.
    pub fn elem_type(&self) -> ValueType {
        self.elem
    }

    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the elements take in the file.
    pub fn byte_len(&self) -> usize {
        self.end - self.start
    }

    fn raw(&self) -> &[u8] {
        self.bytes.get(self.start..self.end).unwrap_or(&[])
    }

    /// Iterates over the elements, decoding each (strings allocate, nested arrays stay lazy).
    pub fn iter(&self) -> ArrayIter<'_> {
        ArrayIter {
            array: self,
            pos: self.start,
            left: self.len,
        }
    }

    /// Element `i` (O(1) for fixed-size elements, a walk for strings and arrays).
    pub fn get(&self, i: u64) -> Option<Value> {
        if i >= self.len {
            return None;
        }
        match self.elem.fixed_size() {
            Some(size) => {
                let at = self.start + usize::try_from(i).ok()? * size;
                Some(decode_fixed(self.elem, &self.bytes, at))
            }
            None => self.iter().nth(usize::try_from(i).ok()?),
        }
    }

    /// The raw bytes of each string of a string array (no allocation, no UTF-8 check).
    pub fn string_bytes(&self) -> Option<StrBytesIter<'_>> {
        (self.elem == ValueType::String).then(|| StrBytesIter {
            bytes: &self.bytes,
            pos: self.start,
            left: self.len,
        })
    }

    /// Each string of a string array, borrowed when valid UTF-8 (invalid bytes become
    /// U+FFFD in an owned copy).
    pub fn strings(&self) -> Option<StrIter<'_>> {
        self.string_bytes().map(|inner| StrIter { inner })
    }

    /// Integer elements as u64; `None` when the elements are not integers or one is negative.
    pub fn to_u64_vec(&self) -> Option<Vec<u64>> {
        self.elem.fixed_size()?;
        self.iter().map(|v| v.as_u64()).collect()
    }

    /// Numeric elements (integer or float) as f64; `None` for other element types.
    pub fn to_f64_vec(&self) -> Option<Vec<f64>> {
        self.elem.fixed_size()?;
        self.iter().map(|v| v.as_f64()).collect()
    }

    /// Decodes the whole array into an [`OwnedArray`].
    pub fn to_owned_array(&self) -> OwnedArray {
        macro_rules! collect_as {
            ($variant:ident) => {
                OwnedArray::$variant(
                    self.iter()
                        .filter_map(|v| match v {
                            Value::$variant(x) => Some(x),
                            _ => None,
                        })
                        .collect(),
                )
            };
        }
        match self.elem {
            ValueType::U8 => collect_as!(U8),
            ValueType::I8 => collect_as!(I8),
            ValueType::U16 => collect_as!(U16),
            ValueType::I16 => collect_as!(I16),
            ValueType::U32 => collect_as!(U32),
            ValueType::I32 => collect_as!(I32),
            ValueType::F32 => collect_as!(F32),
            ValueType::Bool => collect_as!(Bool),
            ValueType::U64 => collect_as!(U64),
            ValueType::I64 => collect_as!(I64),
            ValueType::F64 => collect_as!(F64),
            ValueType::String => OwnedArray::String(
                self.strings()
                    .map(|it| it.map(Cow::into_owned).collect())
                    .unwrap_or_default(),
            ),
            ValueType::Array => OwnedArray::Array(
                self.iter()
                    .filter_map(|v| match v {
                        Value::Array(a) => Some(a.to_owned_array()),
                        _ => None,
                    })
                    .collect(),
            ),
        }
    }

    /// Walks over one nested array header + elements starting at `pos`, returning the array
    /// and the position after it. The reader validated all of it.
    fn nested_at(&self, pos: usize) -> Option<(Array, usize)> {
        let elem = ValueType::from_id(u32::from_le_bytes(le(&self.bytes, pos)))?;
        let len = u64::from_le_bytes(le(&self.bytes, pos + 4));
        let start = pos + 12;
        let end = skip_elements(&self.bytes, start, elem, len)?;
        Some((Array::new(elem, len, self.bytes.clone(), start, end), end))
    }
}

/// Skips `len` already-validated elements of type `elem` from `pos` (used for lazy access;
/// the reader has its own checked version).
fn skip_elements(bytes: &[u8], mut pos: usize, elem: ValueType, len: u64) -> Option<usize> {
    match elem.fixed_size() {
        Some(size) => pos.checked_add(usize::try_from(len).ok()?.checked_mul(size)?),
        None => {
            for _ in 0..len {
                pos = match elem {
                    ValueType::String => {
                        let n = usize::try_from(u64::from_le_bytes(le(bytes, pos))).ok()?;
                        pos.checked_add(8)?.checked_add(n)?
                    }
                    _ => {
                        let inner = ValueType::from_id(u32::from_le_bytes(le(bytes, pos)))?;
                        let n = u64::from_le_bytes(le(bytes, pos + 4));
                        skip_elements(bytes, pos.checked_add(12)?, inner, n)?
                    }
                };
                if pos > bytes.len() {
                    return None;
                }
            }
            Some(pos)
        }
    }
}

/// Iterator over an [`Array`]'s elements.
pub struct ArrayIter<'a> {
    array: &'a Array,
    pos: usize,
    left: u64,
}

impl Iterator for ArrayIter<'_> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let a = self.array;
        match a.elem {
            ValueType::String => {
                let n = usize::try_from(u64::from_le_bytes(le(&a.bytes, self.pos))).ok()?;
                let s = a.bytes.get(self.pos + 8..self.pos + 8 + n)?;
                self.pos += 8 + n;
                Some(Value::String(String::from_utf8_lossy(s).into_owned()))
            }
            ValueType::Array => {
                let (inner, next) = a.nested_at(self.pos)?;
                self.pos = next;
                Some(Value::Array(inner))
            }
            fixed => {
                let v = decode_fixed(fixed, &a.bytes, self.pos);
                self.pos += fixed.fixed_size().unwrap_or(1);
                Some(v)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.left).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

/// Iterator over the raw bytes of a string array's elements.
pub struct StrBytesIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    left: u64,
}

impl<'a> Iterator for StrBytesIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let n = usize::try_from(u64::from_le_bytes(le(self.bytes, self.pos))).ok()?;
        let s = self.bytes.get(self.pos + 8..self.pos + 8 + n)?;
        self.pos += 8 + n;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.left).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

/// Iterator over a string array's elements as text.
pub struct StrIter<'a> {
    inner: StrBytesIter<'a>,
}

impl<'a> Iterator for StrIter<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Cow<'a, str>> {
        self.inner.next().map(String::from_utf8_lossy)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// An array built in memory, one variant per element type.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedArray {
    /// u8 elements.
    U8(Vec<u8>),
    /// i8 elements.
    I8(Vec<i8>),
    /// u16 elements.
    U16(Vec<u16>),
    /// i16 elements.
    I16(Vec<i16>),
    /// u32 elements.
    U32(Vec<u32>),
    /// i32 elements.
    I32(Vec<i32>),
    /// f32 elements.
    F32(Vec<f32>),
    /// bool elements.
    Bool(Vec<bool>),
    /// string elements.
    String(Vec<String>),
    /// Nested arrays (each may have its own element type).
    Array(Vec<OwnedArray>),
    /// u64 elements.
    U64(Vec<u64>),
    /// i64 elements.
    I64(Vec<i64>),
    /// f64 elements.
    F64(Vec<f64>),
}

impl OwnedArray {
    /// The element type.
    pub fn elem_type(&self) -> ValueType {
        match self {
            OwnedArray::U8(_) => ValueType::U8,
            OwnedArray::I8(_) => ValueType::I8,
            OwnedArray::U16(_) => ValueType::U16,
            OwnedArray::I16(_) => ValueType::I16,
            OwnedArray::U32(_) => ValueType::U32,
            OwnedArray::I32(_) => ValueType::I32,
            OwnedArray::F32(_) => ValueType::F32,
            OwnedArray::Bool(_) => ValueType::Bool,
            OwnedArray::String(_) => ValueType::String,
            OwnedArray::Array(_) => ValueType::Array,
            OwnedArray::U64(_) => ValueType::U64,
            OwnedArray::I64(_) => ValueType::I64,
            OwnedArray::F64(_) => ValueType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            OwnedArray::U8(v) => v.len(),
            OwnedArray::I8(v) => v.len(),
            OwnedArray::U16(v) => v.len(),
            OwnedArray::I16(v) => v.len(),
            OwnedArray::U32(v) => v.len(),
            OwnedArray::I32(v) => v.len(),
            OwnedArray::F32(v) => v.len(),
            OwnedArray::Bool(v) => v.len(),
            OwnedArray::String(v) => v.len(),
            OwnedArray::Array(v) => v.len(),
            OwnedArray::U64(v) => v.len(),
            OwnedArray::I64(v) => v.len(),
            OwnedArray::F64(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for OwnedArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}; {}]", self.elem_type(), self.len())
    }
}
