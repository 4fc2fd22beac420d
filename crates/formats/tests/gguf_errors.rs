//! Malformed GGUF headers: each is rejected with an error naming the file and saying
//! exactly what is wrong (offset, key or tensor), never a panic.

mod support;

use memcal_formats::gguf::GgufFile;
use memcal_formats::Error;
use std::path::Path;
use support::Raw;

fn parse(bytes: &[u8]) -> Result<GgufFile, Error> {
    GgufFile::parse(Path::new("e.gguf"), bytes, bytes.len() as u64)
}

/// Asserts the error is `Malformed` (or `Unsupported` when `unsupported`) and mentions `want`.
fn expect_err(bytes: &[u8], want: &str, unsupported: bool) {
    let e = parse(bytes).expect_err(want);
    let msg = e.to_string();
    assert!(msg.starts_with("e.gguf: "), "{msg}");
    assert!(msg.contains(want), "expected {want:?} in {msg:?}");
    match (&e, unsupported) {
        (Error::Unsupported { .. }, true) | (Error::Malformed { .. }, false) => {}
        _ => panic!("wrong variant for {want:?}: {e:?}"),
    }
}

/// A valid single-tensor file around tensor info `(dims, type, offset)`.
fn one_tensor(dims: &[u64], type_id: u32, offset: u64, data: usize) -> Vec<u8> {
    let mut r = Raw::new();
    r.header(3, 1, 0)
        .tensor("t", dims, type_id, offset)
        .pad_to(32)
        .zeros(data);
    r.buf
}

#[test]
fn preamble_errors() {
    expect_err(b"", "too short", false);
    expect_err(b"GGML\x03\x00\x00\x00", "not a GGUF file", false);
    expect_err(&Raw::new().header(1, 0, 0).buf, "version 1", true);
    expect_err(
        &Raw::new().header(0x0300_0000, 0, 0).buf,
        "big-endian",
        true,
    );
    expect_err(&Raw::new().header(4, 0, 0).buf, "version 4", true);
    expect_err(
        &Raw::new().header(0, 0, 0).buf,
        "version 0 is invalid",
        false,
    );
    expect_err(
        b"GGUF\x03\x00\x00\x00\x01\x00",
        "unexpected end of file at offset 8 reading tensor count",
        false,
    );
    expect_err(
        &Raw::new().header(3, 0, 1 << 40).buf,
        "declares 1099511627776 key-value pairs",
        false,
    );
    expect_err(&Raw::new().header(3, u64::MAX, 0).buf, "tensors", false);
}

#[test]
fn key_value_errors() {
    let kv = |f: &dyn Fn(&mut Raw)| {
        let mut r = Raw::new();
        r.header(3, 0, 2);
        f(&mut r);
        r.zeros(64);
        r.buf
    };
    expect_err(
        &kv(&|r| {
            r.kv_u32("a", 1).kv_u32("a", 2);
        }),
        "duplicate key \"a\"",
        false,
    );
    expect_err(
        &kv(&|r| {
            r.str("a").u32(13).u32(0);
        }),
        "key 'a' has unknown value type 13",
        false,
    );
    expect_err(
        &kv(&|r| {
            r.str("s").u32(8).u64(1 << 50);
        }),
        "declares 1125899906842624 bytes",
        false,
    );
    expect_err(
        &kv(&|r| {
            r.str("a").u32(9).u32(4).u64(1 << 30);
        }),
        "key 'a': array at offset",
        false,
    );
    expect_err(
        &kv(&|r| {
            r.str("a").u32(9).u32(77).u64(1);
        }),
        "unknown element type 77",
        false,
    );
    expect_err(
        &kv(&|r| {
            r.str("a").u32(9).u32(8).u64(2).str("ok").u64(1 << 40);
        }),
        "key 'a': string 1",
        false,
    );
    expect_err(
        &kv(&|r| {
            r.u64(2).bytes(&[0xff, 0xfe]).u32(4).u32(0);
        }),
        "not valid UTF-8",
        false,
    );
    // Arrays of arrays nested past the depth limit.
    expect_err(
        &kv(&|r| {
            r.str("deep").u32(9);
            for _ in 0..9 {
                r.u32(9).u64(1);
            }
            r.u32(0).u64(0);
        }),
        "nested more than 8 deep",
        false,
    );
}

#[test]
fn alignment_errors() {
    let mut r = Raw::new();
    r.header(3, 0, 1).kv_u32("general.alignment", 48).zeros(32);
    expect_err(&r.buf, "general.alignment is 48, not a power of two", false);
    let mut r = Raw::new();
    r.header(3, 0, 1)
        .str("general.alignment")
        .u32(10)
        .u64(64)
        .zeros(32);
    expect_err(
        &r.buf,
        "general.alignment has type u64, expected u32",
        false,
    );
    // A valid non-default alignment is honoured.
    let mut r = Raw::new();
    r.header(3, 1, 1).kv_u32("general.alignment", 64);
    r.tensor("t", &[8], 0, 0).pad_to(64).zeros(32);
    let g = parse(&r.buf).expect("alignment 64");
    assert_eq!((g.alignment, g.data_offset % 64), (64, 0));
}

#[test]
fn tensor_info_errors() {
    let mut r = Raw::new();
    r.header(3, 1, 0)
        .tensor(&"n".repeat(64), &[1], 0, 0)
        .zeros(64);
    expect_err(&r.buf, "name is 64 bytes, ggml allows at most 63", false);
    expect_err(
        &one_tensor(&[1, 1, 1, 1, 1], 0, 0, 64),
        "has 5 dimensions, at most 4",
        false,
    );
    expect_err(
        &one_tensor(&[u64::MAX], 0, 0, 64),
        "dimension 0 is -1 (negative as i64)",
        false,
    );
    expect_err(
        &one_tensor(&[1 << 32, 1 << 32], 0, 0, 64),
        "element count overflows i64 at dimension 1",
        false,
    );
    expect_err(
        &one_tensor(&[8], 31, 0, 64),
        "tensor 't' has unknown ggml type id 31",
        false,
    );
    expect_err(
        &one_tensor(&[8], 1000, 0, 64),
        "unknown ggml type id 1000",
        false,
    );
    expect_err(
        &one_tensor(&[33], 2, 0, 64),
        "ne0 = 33 is not a multiple of the block size 32",
        false,
    );
    expect_err(
        &one_tensor(&[8, 2], 39, 0, 64),
        "no reading of type id(s) [39]",
        false,
    );
    expect_err(
        &one_tensor(&[8], 0, 32, 64),
        "is the first tensor but has offset 32",
        false,
    );
    expect_err(
        &one_tensor(&[8], 0, 0, 16),
        "extends past the end of the file",
        false,
    );
    let mut r = Raw::new();
    r.header(3, 2, 0)
        .tensor("t", &[8], 0, 0)
        .tensor("t", &[8], 0, 32)
        .pad_to(32)
        .zeros(64);
    expect_err(&r.buf, "duplicate tensor name 't' (tensors 0 and 1)", false);
}

#[test]
fn offset_errors() {
    let two = |second: u64| {
        let mut r = Raw::new();
        // 40 bytes of F32 padded to 64, then 32 bytes.
        r.header(3, 2, 0)
            .tensor("a", &[10], 0, 0)
            .tensor("b", &[8], 0, second);
        r.pad_to(32).zeros(256);
        r.buf
    };
    assert_eq!(parse(&two(64)).expect("contiguous").tensors[1].offset, 64);
    expect_err(
        &two(48),
        "tensor 'b' offset 48 is not a multiple of the alignment 32",
        false,
    );
    expect_err(
        &two(32),
        "tensor 'b' at offset 32 overlaps tensor 'a', which ends at 40",
        false,
    );
    expect_err(&two(96), "a gap of 32 bytes after tensor 'a'", false);
}

#[test]
fn open_reports_io_errors_with_the_path() {
    let e = GgufFile::open("/nonexistent/dir/m.gguf").expect_err("missing");
    assert!(matches!(e, Error::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/dir/m.gguf"));
    let dir = support::tempdir();
    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").expect("write");
    let e = GgufFile::open(&empty).expect_err("empty");
    assert!(e.to_string().contains("empty.gguf") && e.to_string().contains("too short"));
}
