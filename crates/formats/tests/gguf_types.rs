//! Every ggml type of the reference table (formats.md), written into a file and read back:
//! each tensor's size and the file's tensor_data_bytes exact to the byte. The table here is
//! typed in independently of the crate's.

mod support;

use memcal_formats::ggml_type::GgmlType;
use memcal_formats::gguf::writer::GgufWriter;
use memcal_formats::gguf::GgufFile;

/// (id, name, elements per block, bytes per block), from formats.md.
const TABLE: [(u32, &str, u64, u64); 35] = [
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
    (42, "Q2_0", 64, 18),
];

#[test]
fn every_upstream_type_is_exact() {
    let (ne0, ne1, ne2) = (512u64, 3u64, 2u64);
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "llama").expect("kv");
    let mut expected_total = 0;
    for (id, name, be, bb) in TABLE {
        let ty = GgmlType::from_id(id).expect("known id");
        assert_eq!(ty.name(), name);
        assert_eq!((ty.block_elems(), ty.block_bytes()), (be, bb), "{name}");
        let n = w
            .add_tensor_info(&format!("t.{name}"), &[ne0, ne1, ne2], ty)
            .expect("tensor");
        assert_eq!(n, ne0 / be * bb * ne1 * ne2, "{name}");
        expected_total += n;
    }
    let dir = support::tempdir();
    let path = dir.path().join("all-types.gguf");
    w.write_sparse_file(&path).expect("write");
    let g = GgufFile::open(&path).expect("read");
    assert_eq!(g.tensor_data_bytes(), expected_total);
    for ((id, name, be, bb), t) in TABLE.iter().zip(&g.tensors) {
        assert_eq!(t.ggml_type.name(), *name, "id {id}");
        assert_eq!(t.nbytes, ne0 / be * bb * ne1 * ne2, "{name}");
    }
    // Ids 39 and 42 were read as upstream MXFP4 / Q2_0 in this llama file.
    assert_eq!(g.type_notes().len(), 2, "{:?}", g.type_notes());
}

#[test]
fn every_bitnet_type_is_exact() {
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "bitnet").expect("kv");
    let shapes: [(u64, u64); 3] = [(512, 3), (2560, 6912), (6912, 2560)];
    let mut expected_total = 0;
    for (k, m) in shapes {
        let i2s = k * m / 4 + 32;
        let tl2 = {
            let b = (k - 256) * m / 3 * 5 / 8 + 256 * m / 2 * 4 / 8;
            b.div_ceil(32) * 32 + 32
        };
        for (ty, id, want) in [
            (GgmlType::I2S, 36, i2s),
            (GgmlType::TL1, 38, i2s),
            (GgmlType::TL2, 39, tl2),
        ] {
            let n = w
                .add_tensor_info_with_id(&format!("{}.{k}x{m}", ty.name()), &[k, m], ty, id)
                .expect("tensor");
            assert_eq!(n, want, "{ty} {k}x{m}");
            expected_total += want;
        }
    }
    let bytes = w.header_bytes().expect("header");
    let (_, data) = w.layout().expect("layout");
    let g = GgufFile::parse(
        std::path::Path::new("b.gguf"),
        &bytes,
        bytes.len() as u64 + data,
    )
    .expect("read");
    assert_eq!(g.tensor_data_bytes(), expected_total);
    assert!(g.tensors.iter().all(|t| t.ggml_type.is_bitnet()));
}
