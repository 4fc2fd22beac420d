//! The reader against files it did not write: a header laid byte by byte from the GGUF
//! spec, and a file written by the reference Python `gguf` package
//! (crates/formats/tests/support/fixtures/make_python_gguf.py).

#[path = "../../formats/tests/support/mod.rs"]
mod support;

use memcal_predict::ggml_type::GgmlType;
use memcal_predict::gguf::{GgufFile, Value, ValueType};
use std::path::Path;
use support::Raw;

/// Every value type, a nested array, two tensors; returns the bytes and the data offset.
fn hand_laid(version: u32) -> (Vec<u8>, usize) {
    let mut r = Raw::new();
    r.header(version, 2, 14);
    r.kv_str("general.architecture", "llama"); // 8+20 +4 +8+5 = 45
    r.str("k.u8").u32(0).u8(200);
    r.str("k.i8").u32(1).u8(0xFB); // -5
    r.str("k.u16").u32(2).bytes(&65000u16.to_le_bytes());
    r.str("k.i16").u32(3).bytes(&(-300i16).to_le_bytes());
    r.str("k.u32").u32(4).u32(4_000_000_000);
    r.str("k.i32").u32(5).i32(-7);
    r.str("k.f32").u32(6).f32(1.5);
    r.str("k.bool").u32(7).u8(1);
    r.str("k.u64").u32(10).u64(1 << 40);
    r.str("k.i64").u32(11).bytes(&(-9i64).to_le_bytes());
    r.str("k.f64").u32(12).bytes(&0.25f64.to_le_bytes());
    // [["a", "bc"], [1u16, 2u16, 3u16]]: an array of arrays.
    r.str("k.nested").u32(9).u32(9).u64(2);
    r.u32(8).u64(2).str("a").str("bc");
    r.u32(2)
        .u64(3)
        .bytes(&1u16.to_le_bytes())
        .bytes(&2u16.to_le_bytes())
        .bytes(&3u16.to_le_bytes());
    r.str("k.strs")
        .u32(9)
        .u32(8)
        .u64(3)
        .str("x")
        .str("")
        .str("zzz");
    r.tensor("w.f32", &[4, 2], 0, 0); // 32 bytes
    r.tensor("w.q8", &[64], 8, 32); // 2 blocks of 34 = 68 bytes
    let infos_end = r.buf.len();
    r.pad_to(32);
    let data_offset = r.buf.len();
    assert!(data_offset >= infos_end && data_offset == infos_end.next_multiple_of(32));
    r.zeros(32 + 68);
    (r.buf, data_offset)
}

#[test]
fn hand_laid_header_reads_as_the_spec_says() {
    for version in [2, 3] {
        let (bytes, data_offset) = hand_laid(version);
        let g = GgufFile::parse(Path::new("hand.gguf"), &bytes, bytes.len() as u64)
            .expect("valid by construction");
        assert_eq!(g.version, version);
        assert_eq!(g.alignment, 32);
        assert_eq!(g.data_offset, data_offset as u64);
        assert_eq!(g.file_bytes, bytes.len() as u64);
        assert_eq!(g.n_kv(), 14);
        assert_eq!(g.architecture(), Some("llama"));
        assert_eq!(g.get("k.u8"), Some(&Value::U8(200)));
        assert_eq!(g.get("k.i8"), Some(&Value::I8(-5)));
        assert_eq!(g.get("k.u16"), Some(&Value::U16(65000)));
        assert_eq!(g.get("k.i16"), Some(&Value::I16(-300)));
        assert_eq!(g.get_u64("k.u32"), Some(4_000_000_000));
        assert_eq!(g.get("k.i32").and_then(Value::as_i64), Some(-7));
        assert_eq!(g.get_u64("k.i32"), None, "negative is not a u64");
        assert_eq!(g.get_f64("k.f32"), Some(1.5));
        assert_eq!(g.get("k.bool").and_then(Value::as_bool), Some(true));
        assert_eq!(g.get_u64("k.u64"), Some(1 << 40));
        assert_eq!(g.get("k.i64"), Some(&Value::I64(-9)));
        assert_eq!(g.get_f64("k.f64"), Some(0.25));
        let nested = g.get("k.nested").and_then(Value::as_array).expect("nested");
        assert_eq!((nested.elem_type(), nested.len()), (ValueType::Array, 2));
        let inner: Vec<Value> = nested.iter().collect();
        let a = inner[0].as_array().expect("first inner");
        let strs: Vec<String> = a
            .strings()
            .expect("strings")
            .map(|s| s.into_owned())
            .collect();
        assert_eq!(strs, ["a", "bc"]);
        let b = inner[1].as_array().expect("second inner");
        assert_eq!(b.to_u64_vec(), Some(vec![1, 2, 3]));
        assert_eq!(b.get(2), Some(Value::U16(3)));
        let strs: Vec<_> = g
            .get("k.strs")
            .and_then(Value::as_str_array)
            .expect("strs")
            .collect();
        assert_eq!(strs, ["x", "", "zzz"]);
        let keys: Vec<&str> = g.metadata().map(|(k, _)| k).collect();
        assert_eq!(keys[0], "general.architecture");
        assert_eq!(keys[13], "k.strs");
        let q8 = g.tensor("w.q8").expect("q8");
        assert_eq!(
            (q8.ggml_type, q8.offset, q8.nbytes),
            (GgmlType::Q8_0, 32, 68)
        );
        let f = &g.tensors[0];
        assert_eq!(
            (f.name.as_str(), f.dims.as_slice(), f.nbytes),
            ("w.f32", &[4u64, 2][..], 32)
        );
        assert_eq!(g.tensor_data_bytes(), 100);
        assert!(g.type_notes().is_empty());
    }
}

#[test]
fn file_written_by_python_gguf() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../formats/tests/support/fixtures/python_gguf.gguf");
    let g = GgufFile::open(&path).expect("python-written file");
    assert_eq!(g.version, 3);
    assert_eq!(g.file_bytes, 37056);
    assert_eq!(g.data_offset, 1216);
    assert_eq!(g.tensors.len(), 8);
    assert_eq!(g.architecture(), Some("llama"));
    assert_eq!(g.get_u64("llama.block_count"), Some(2));
    assert_eq!(g.get_u64("test.u64"), Some((1 << 40) + 3));
    assert_eq!(g.get("test.i8"), Some(&Value::I8(-5)));
    assert_eq!(g.get("test.i16"), Some(&Value::I16(-300)));
    assert_eq!(g.get("test.u16"), Some(&Value::U16(65000)));
    assert_eq!(g.get_f64("test.f64"), Some(0.125));
    assert_eq!(g.get("test.bool"), Some(&Value::Bool(true)));
    let i32s: Vec<i64> = g
        .get("test.i32s")
        .and_then(Value::as_array)
        .expect("i32s")
        .iter()
        .filter_map(|v| v.as_i64())
        .collect();
    assert_eq!(i32s, [1, -2, 3]);
    let tokens: Vec<_> = g
        .get("tokenizer.ggml.tokens")
        .and_then(Value::as_str_array)
        .expect("tokens")
        .collect();
    assert_eq!(tokens, ["<unk>", "<s>", "</s>", "hello", "wörld"]);
    let scores = g
        .get("tokenizer.ggml.scores")
        .and_then(Value::as_array)
        .and_then(|a| a.to_f64_vec());
    assert_eq!(scores, Some(vec![0.0, -1.0, -2.0, -3.5, -4.25]));
    // Offsets as GGUFReader reports them (absolute: data_offset + offset).
    let expect = [
        ("token_embd.weight", GgmlType::F32, 1216, 1280),
        ("blk.0.attn_norm.weight", GgmlType::F32, 2496, 256),
        ("blk.0.attn_q.weight", GgmlType::F16, 2752, 8192),
        ("blk.0.ffn_up.weight", GgmlType::Q8_0, 10944, 8704),
        ("blk.1.attn_norm.weight", GgmlType::F32, 19648, 256),
        ("blk.1.attn_q.weight", GgmlType::F16, 19904, 8192),
        ("blk.1.ffn_up.weight", GgmlType::Q8_0, 28096, 8704),
        ("output_norm.weight", GgmlType::F32, 36800, 256),
    ];
    for (t, (name, ty, abs, n)) in g.tensors.iter().zip(expect) {
        assert_eq!(
            (
                t.name.as_str(),
                t.ggml_type,
                g.data_offset + t.offset,
                t.nbytes
            ),
            (name, ty, abs, n)
        );
    }
    assert_eq!(
        g.tensor("blk.0.ffn_up.weight").map(|t| t.dims.clone()),
        Some(vec![64, 128])
    );
    let p = memcal_predict::read::load_profile(&path).expect("profile");
    assert_eq!(
        (
            p.shape.n_layers,
            p.shape.hidden,
            p.shape.n_heads,
            p.shape.ffn,
            p.shape.ctx_train
        ),
        (2, 64, 4, 128, 2048)
    );
    assert_eq!(p.shape.n_kv_heads, vec![2, 2]);
    assert_eq!(p.shape.vocab, 5, "from the token list");
    assert!(p.shape.tied_embeddings);
}

/// The real SmolLM2-135M-Instruct Q4_1 GGUF that `.ci/run` fetches (scripts/fetch-real-model.sh).
/// Expected values come from the Python `gguf` package's GGUFReader on the same file.
#[test]
fn real_smollm2_matches_python_gguf() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/memcal-models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !path.exists() {
        // CI always has the file; a developer without it is told how to get it.
        eprintln!("SKIPPED: no SmolLM2 GGUF; run `bash scripts/fetch-real-model.sh`");
        return;
    }
    let g = GgufFile::open(&path).expect("real file");
    assert_eq!(g.file_bytes, 98_362_432);
    assert_eq!(g.tensors.len(), 272);
    assert_eq!(g.tensor_data_bytes(), 96_576_768);
    assert_eq!(g.data_offset + g.tensor_data_bytes(), g.file_bytes);
    let p = memcal_predict::read::load_profile(&path).expect("profile");
    assert_eq!(p.n_params, 134_515_008);
    assert_eq!(p.by_type["Q8_0"].bytes, 30_081_024);
    assert_eq!(p.by_type["Q4_1"].bytes, 66_355_200);
    assert_eq!(p.by_type["F32"].bytes, 140_544);
    assert_eq!(
        (
            p.shape.n_layers,
            p.shape.hidden,
            p.shape.n_heads,
            p.shape.vocab
        ),
        (30, 576, 9, 49152)
    );
    assert_eq!(p.shape.n_kv_heads, vec![3; 30]);
    assert!(p.shape.tied_embeddings);
}
