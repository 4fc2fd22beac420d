//! Property tests: whatever the writer writes, the reader reads back equal (metadata values,
//! nested arrays included, and tensor infos).

use memcal_formats::ggml_type::{GgmlType, ALL_TYPES};
use memcal_formats::gguf::writer::GgufWriter;
use memcal_formats::gguf::{GgufFile, OwnedArray, OwnedValue, Value};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

fn array_strategy() -> impl Strategy<Value = OwnedArray> {
    let n = 0..6usize;
    let leaf = prop_oneof![
        prop::collection::vec(any::<u8>(), n.clone()).prop_map(OwnedArray::U8),
        prop::collection::vec(any::<i8>(), n.clone()).prop_map(OwnedArray::I8),
        prop::collection::vec(any::<u16>(), n.clone()).prop_map(OwnedArray::U16),
        prop::collection::vec(any::<i16>(), n.clone()).prop_map(OwnedArray::I16),
        prop::collection::vec(any::<u32>(), n.clone()).prop_map(OwnedArray::U32),
        prop::collection::vec(any::<i32>(), n.clone()).prop_map(OwnedArray::I32),
        prop::collection::vec(any::<f32>(), n.clone()).prop_map(OwnedArray::F32),
        prop::collection::vec(any::<bool>(), n.clone()).prop_map(OwnedArray::Bool),
        prop::collection::vec(".{0,12}", n.clone()).prop_map(OwnedArray::String),
        prop::collection::vec(any::<u64>(), n.clone()).prop_map(OwnedArray::U64),
        prop::collection::vec(any::<i64>(), n.clone()).prop_map(OwnedArray::I64),
        prop::collection::vec(any::<f64>(), n.clone()).prop_map(OwnedArray::F64),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(OwnedArray::Array)
    })
}

fn value_strategy() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i16>().prop_map(Value::I16),
        any::<u32>().prop_map(Value::U32),
        any::<i32>().prop_map(Value::I32),
        any::<f32>().prop_map(Value::F32),
        any::<bool>().prop_map(Value::Bool),
        ".{0,40}".prop_map(Value::String),
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        any::<f64>().prop_map(Value::F64),
        array_strategy().prop_map(Value::Array),
    ]
}

/// Types that need no BitNet reading (upstream ids).
fn upstream_types() -> Vec<GgmlType> {
    ALL_TYPES
        .iter()
        .copied()
        .filter(|t| !t.is_bitnet())
        .collect()
}

/// (type, dims) with a valid size for the type.
fn tensor_strategy(types: Vec<GgmlType>) -> impl Strategy<Value = (GgmlType, Vec<u64>)> {
    (
        prop::sample::select(types),
        1..4u64,
        prop::collection::vec(1..5u64, 0..4),
    )
        .prop_map(|(ty, k, mut rest)| {
            let ne0 = match ty {
                GgmlType::TL2 => {
                    rest.truncate(1);
                    256 + 7 * k
                }
                GgmlType::I2S | GgmlType::TL1 => 128 * k,
                t => t.block_elems() * k,
            };
            let mut dims = vec![ne0];
            dims.extend(rest);
            (ty, dims)
        })
}

fn roundtrip(
    arch: &str,
    kvs: &BTreeMap<String, OwnedValue>,
    tensors: &[(GgmlType, Vec<u64>)],
    alignment: u32,
) -> Result<(), TestCaseError> {
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", arch).expect("arch");
    w.set_alignment(alignment).expect("alignment");
    for (k, v) in kvs {
        w.add_value(k, v).expect("kv");
    }
    for (i, (ty, dims)) in tensors.iter().enumerate() {
        let n = ty.nbytes(dims).expect("valid dims") as usize;
        let data: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
        w.add_tensor(&format!("t{i}"), dims, *ty, data)
            .expect("tensor");
    }
    let mut bytes = Vec::new();
    let written = w.write(&mut bytes).expect("write");
    prop_assert_eq!(written, bytes.len() as u64);
    let g = GgufFile::parse(Path::new("rt.gguf"), &bytes, bytes.len() as u64)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(g.alignment, alignment as u64);
    prop_assert_eq!(g.n_kv(), kvs.len() + 2);
    for (k, v) in kvs {
        let got = g.get(k).map(Value::to_owned_value);
        // Debug text compares floats bit-faithfully enough (NaN, -0.0) where == cannot.
        prop_assert_eq!(format!("{:?}", got), format!("{:?}", Some(v)));
    }
    let (offsets, data_len) = w.layout().expect("layout");
    prop_assert_eq!(g.data_offset + data_len, bytes.len() as u64);
    prop_assert_eq!(g.tensors.len(), tensors.len());
    for (i, ((ty, dims), t)) in tensors.iter().zip(&g.tensors).enumerate() {
        prop_assert_eq!(&t.name, &format!("t{i}"));
        prop_assert_eq!(&t.dims, dims);
        prop_assert_eq!(t.ggml_type, *ty);
        prop_assert_eq!(t.offset, offsets[i]);
        prop_assert_eq!(t.nbytes, ty.nbytes(dims).unwrap_or(0));
        // The data bytes sit where the reader says.
        let at = (g.data_offset + t.offset) as usize;
        if t.nbytes > 0 {
            prop_assert_eq!(bytes[at], (i * 31) as u8);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn metadata_and_upstream_tensors_round_trip(
        kvs in prop::collection::btree_map("k\\.[a-z0-9_.]{1,16}", value_strategy(), 0..12),
        tensors in prop::collection::vec(tensor_strategy(upstream_types()), 0..8),
        align_pow in 0u32..8,
    ) {
        roundtrip("llama", &kvs, &tensors, 1 << align_pow)?;
    }

    #[test]
    fn bitnet_tensors_round_trip(
        tensors in prop::collection::vec(
            tensor_strategy(vec![GgmlType::I2S, GgmlType::TL1, GgmlType::TL2, GgmlType::F32, GgmlType::F16]),
            1..8,
        ),
    ) {
        roundtrip("bitnet-b1.58", &BTreeMap::new(), &tensors, 32)?;
    }
}
