//! BitNet GGUF files: exact sizes of the 2B-4T shape in I2_S, TL1 and TL2 (both TL2 ids),
//! and the per-file reading of ambiguous type ids.

mod support;

use memcal_formats::ggml_type::GgmlType;
use memcal_formats::gguf::writer::GgufWriter;
use memcal_formats::gguf::GgufFile;
use support::{bitnet_writer, tempdir, Raw, B2_4T};

/// The fork's TL2 size, written out independently of the crate (C integer order).
fn tl2_bytes(k: u64, m: u64) -> u64 {
    let b = (k - 256) * m / 3 * 5 / 8 + 256 * m / 2 * 4 / 8;
    let b = b.div_ceil(32) * 32;
    b + 32
}

/// Expected tensor bytes of the 2B-4T shape with projections sized by `proj(k, m)`.
fn expected_2b4t(proj: impl Fn(u64, u64) -> u64) -> u64 {
    let s = &B2_4T;
    let (h, f, kv) = (s.hidden, s.ffn, s.kv_heads * s.head_dim);
    let per_layer = 2 * proj(h, h) + 2 * proj(h, kv) + 2 * proj(h, f) + proj(f, h);
    let norms = (3 * h + f) * 4;
    s.layers * (per_layer + norms) + h * 4 + s.vocab * h * 2
}

#[test]
fn i2s_2b4t_is_exact_to_the_byte() {
    let dir = tempdir();
    let path = dir.path().join("2b4t-i2s.gguf");
    let w = bitnet_writer(&B2_4T, GgmlType::I2S, 36, true);
    w.write_sparse_file(&path).expect("write sparse");
    let g = GgufFile::open(&path).expect("read back");
    assert_eq!(g.tensors.len(), 332);
    assert_eq!(g.tensor_data_bytes(), 1_179_449_920);
    assert_eq!(expected_2b4t(|k, m| k * m / 4 + 32), 1_179_449_920);
    let i2s = g
        .tensors
        .iter()
        .filter(|t| t.ggml_type == GgmlType::I2S)
        .count();
    assert_eq!(i2s, 210);
    assert_eq!(g.architecture(), Some("bitnet-b1.58"));
    let notes = g.type_notes().join("\n");
    assert!(notes.contains("type id 36 read as BitNet I2_S"), "{notes}");
    assert!(notes.contains("architecture bitnet-b1.58"), "{notes}");
    let q = g.tensor("blk.7.attn_q.weight").expect("q of layer 7");
    assert_eq!(q.nbytes, 2560 * 2560 / 4 + 32);
    assert_eq!(q.dims, vec![2560, 2560]);
    assert_eq!(
        g.get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_str_array())
            .map(|it| it.count()),
        Some(128256)
    );
}

#[test]
fn tl1_2b4t_is_exact() {
    let dir = tempdir();
    let path = dir.path().join("2b4t-tl1.gguf");
    bitnet_writer(&B2_4T, GgmlType::TL1, 38, false)
        .write_sparse_file(&path)
        .expect("write");
    let g = GgufFile::open(&path).expect("read");
    assert_eq!(g.tensor_data_bytes(), 1_179_449_920);
    assert!(g.type_notes()[0].starts_with("type id 38 read as BitNet TL1"));
}

#[test]
fn tl2_2b4t_is_exact_under_both_fork_ids() {
    let expected = expected_2b4t(tl2_bytes);
    for id in [39, 42] {
        let dir = tempdir();
        let path = dir.path().join(format!("2b4t-tl2-{id}.gguf"));
        bitnet_writer(&B2_4T, GgmlType::TL2, id, false)
            .write_sparse_file(&path)
            .expect("write");
        let g = GgufFile::open(&path).expect("read");
        assert_eq!(g.tensor_data_bytes(), expected, "id {id}");
        let tl2 = g
            .tensors
            .iter()
            .filter(|t| t.ggml_type == GgmlType::TL2)
            .count();
        assert_eq!(tl2, 210, "id {id}");
        let note = &g.type_notes()[0];
        assert!(
            note.starts_with(&format!("type id {id} read as BitNet TL2")),
            "{note}"
        );
        assert!(
            note.contains("offsets contiguous only under this reading"),
            "{note}"
        );
    }
}

/// Two tensors of type id 39 in a file whose architecture says nothing about BitNet: only
/// the offsets tell MXFP4 from TL2.
fn two_tensor_file(arch: &str, second_offset: u64, file_len: usize) -> Vec<u8> {
    let mut r = Raw::new();
    r.header(3, 2, 1).kv_str("general.architecture", arch);
    r.tensor("a.weight", &[512, 4], 39, 0);
    r.tensor("b.weight", &[512, 4], 39, second_offset);
    r.pad_to(32);
    let len = r.buf.len() + file_len;
    r.buf.resize(len, 0);
    r.buf
}

#[test]
fn offsets_decide_an_ambiguous_id() {
    let tl2 = GgmlType::TL2.nbytes(&[512, 4]).expect("tl2 size");
    let mx = GgmlType::MXFP4.nbytes(&[512, 4]).expect("mxfp4 size");
    assert_ne!(
        tl2.div_ceil(32),
        mx.div_ceil(32),
        "the test needs distinct sizes"
    );
    let p = std::path::Path::new("mem.gguf");

    // Offsets laid out for TL2: read as TL2 even with a non-BitNet architecture.
    let pad = |n: u64| n.div_ceil(32) * 32;
    let bytes = two_tensor_file("llama", pad(tl2), 4096);
    let g = GgufFile::parse(p, &bytes, bytes.len() as u64).expect("tl2 layout");
    assert_eq!(g.tensors[0].ggml_type, GgmlType::TL2);
    assert!(g.type_notes()[0].contains("offsets contiguous only under this reading"));

    // Offsets laid out for MXFP4: read as MXFP4 even with a BitNet architecture.
    let bytes = two_tensor_file("bitnet-b1.58", pad(mx), 4096);
    let g = GgufFile::parse(p, &bytes, bytes.len() as u64).expect("mxfp4 layout");
    assert_eq!(g.tensors[1].ggml_type, GgmlType::MXFP4);
    assert!(g.type_notes()[0].starts_with("type id 39 read as upstream ggml MXFP4"));

    // Offsets fitting neither reading: an error naming both.
    let bytes = two_tensor_file("bitnet-b1.58", pad(mx) + 32 * 7, 4096);
    let e = GgufFile::parse(p, &bytes, bytes.len() as u64).expect_err("no reading fits");
    let msg = e.to_string();
    assert!(msg.contains("no reading of type id(s) [39]"), "{msg}");
    assert!(
        msg.contains("39 as MXFP4") && msg.contains("39 as TL2"),
        "{msg}"
    );
}

#[test]
fn architecture_breaks_a_tie_when_offsets_fit_both() {
    // One tensor: no gap to measure; the file holds enough bytes for either size.
    let p = std::path::Path::new("tie.gguf");
    for (arch, want, whose) in [
        ("bitnet-25", GgmlType::TL2, "BitNet"),
        ("llama", GgmlType::MXFP4, "upstream ggml"),
    ] {
        let mut r = Raw::new();
        r.header(3, 1, 1).kv_str("general.architecture", arch);
        r.tensor("w", &[512, 4], 39, 0).pad_to(32).zeros(4096);
        let g = GgufFile::parse(p, &r.buf, r.buf.len() as u64).expect("fits both");
        assert_eq!(g.tensors[0].ggml_type, want, "{arch}");
        let note = &g.type_notes()[0];
        assert!(
            note.contains(whose) && note.contains("chosen by architecture"),
            "{note}"
        );
    }
}

#[test]
fn q2_0_and_tl2_share_id_42() {
    // Upstream Q2_0 in a llama file written with the crate's writer.
    let dir = tempdir();
    let path = dir.path().join("q2_0.gguf");
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "llama").expect("kv");
    for i in 0..3 {
        let n = w
            .add_tensor_info(&format!("t{i}"), &[1024, 3], GgmlType::Q2_0)
            .expect("t");
        assert_eq!(n, 1024 / 64 * 18 * 3);
    }
    w.write_sparse_file(&path).expect("write");
    let g = GgufFile::open(&path).expect("read");
    assert!(g.tensors.iter().all(|t| t.ggml_type == GgmlType::Q2_0));
    assert!(g.type_notes()[0].contains("upstream ggml Q2_0"));
}

#[test]
fn i8_s_is_rejected_as_never_stored() {
    let mut r = Raw::new();
    r.header(3, 1, 0)
        .tensor("w", &[128, 2], 37, 0)
        .pad_to(32)
        .zeros(512);
    let e = GgufFile::parse(std::path::Path::new("i8s.gguf"), &r.buf, r.buf.len() as u64)
        .expect_err("37 is never stored");
    assert!(e.to_string().contains("I8_S"), "{e}");
}
