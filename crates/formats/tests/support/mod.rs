//! Shared test helpers: a hand-rolled GGUF byte builder (independent of the crate's writer)
//! and model-shaped files built with the writer.

#![allow(dead_code)]

use memcal_formats::ggml_type::GgmlType;
use memcal_formats::gguf::writer::GgufWriter;

/// Little-endian bytes laid by hand, following the GGUF spec directly.
#[derive(Default, Clone)]
pub struct Raw {
    pub buf: Vec<u8>,
}

impl Raw {
    pub fn new() -> Raw {
        Raw::default()
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn f32(&mut self, v: f32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }
    /// Magic, version, tensor count, kv count.
    pub fn header(&mut self, version: u32, n_tensors: u64, n_kv: u64) -> &mut Self {
        self.bytes(b"GGUF").u32(version).u64(n_tensors).u64(n_kv)
    }
    /// A string key with a u32 value.
    pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.str(key).u32(4).u32(v)
    }
    /// A string key with a string value.
    pub fn kv_str(&mut self, key: &str, v: &str) -> &mut Self {
        self.str(key).u32(8).str(v)
    }
    /// A tensor info.
    pub fn tensor(&mut self, name: &str, dims: &[u64], type_id: u32, offset: u64) -> &mut Self {
        self.str(name).u32(dims.len() as u32);
        for d in dims {
            self.u64(*d);
        }
        self.u32(type_id).u64(offset)
    }
    /// Zero padding up to a multiple of `align`.
    pub fn pad_to(&mut self, align: usize) -> &mut Self {
        let padded = self.buf.len().next_multiple_of(align);
        self.buf.resize(padded, 0);
        self
    }
    /// `n` zero bytes (tensor data).
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.buf.resize(self.buf.len() + n, 0);
        self
    }
}

/// Shape of a BitNet b1.58 2B-4T-like model.
pub struct BitnetShape {
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub ffn: u64,
    pub vocab: u64,
}

/// The real 2B-4T shape.
pub const B2_4T: BitnetShape = BitnetShape {
    layers: 30,
    hidden: 2560,
    heads: 20,
    kv_heads: 5,
    head_dim: 128,
    ffn: 6912,
    vocab: 128256,
};

/// A BitNet 2B-4T-shaped file: F16 token_embd (tied, no output), F32 norms (attn_norm,
/// attn_sub_norm, ffn_norm, ffn_sub_norm, output_norm), projections in `proj` written with
/// type id `proj_id`. Tensors are declared without data (write it sparse).
pub fn bitnet_writer(s: &BitnetShape, proj: GgmlType, proj_id: u32, tokens: bool) -> GgufWriter {
    let arch = "bitnet-b1.58";
    let mut w = GgufWriter::new();
    let ok = "writer accepts the fixture";
    w.add_string("general.architecture", arch).expect(ok);
    w.add_string("general.name", "bitnet2b").expect(ok);
    let ft = match proj {
        GgmlType::TL1 => 38,
        GgmlType::TL2 => 39,
        _ => 40,
    };
    w.add_u32("general.file_type", ft).expect(ok);
    w.add_u32(&format!("{arch}.block_count"), s.layers as u32)
        .expect(ok);
    w.add_u32(&format!("{arch}.context_length"), 4096)
        .expect(ok);
    w.add_u32(&format!("{arch}.embedding_length"), s.hidden as u32)
        .expect(ok);
    w.add_u32(&format!("{arch}.feed_forward_length"), s.ffn as u32)
        .expect(ok);
    w.add_u32(&format!("{arch}.attention.head_count"), s.heads as u32)
        .expect(ok);
    w.add_u32(
        &format!("{arch}.attention.head_count_kv"),
        s.kv_heads as u32,
    )
    .expect(ok);
    w.add_u32(&format!("{arch}.rope.dimension_count"), s.head_dim as u32)
        .expect(ok);
    w.add_f32(&format!("{arch}.attention.layer_norm_rms_epsilon"), 1e-5)
        .expect(ok);
    w.add_u32(&format!("{arch}.vocab_size"), s.vocab as u32)
        .expect(ok);
    w.add_string("tokenizer.ggml.model", "gpt2").expect(ok);
    if tokens {
        w.add_string_array(
            "tokenizer.ggml.tokens",
            (0..s.vocab).map(|i| format!("tok{i}")),
        )
        .expect(ok);
    }
    let (h, f, kv) = (s.hidden, s.ffn, s.kv_heads * s.head_dim);
    w.add_tensor_info("token_embd.weight", &[h, s.vocab], GgmlType::F16)
        .expect(ok);
    for l in 0..s.layers {
        let mut t = |name: &str, dims: &[u64], ty: GgmlType, id: u32| {
            w.add_tensor_info_with_id(&format!("blk.{l}.{name}"), dims, ty, id)
                .expect(ok);
        };
        let f32_ = (GgmlType::F32, 0);
        t("attn_norm.weight", &[h], f32_.0, f32_.1);
        t("attn_q.weight", &[h, h], proj, proj_id);
        t("attn_k.weight", &[h, kv], proj, proj_id);
        t("attn_v.weight", &[h, kv], proj, proj_id);
        t("attn_output.weight", &[h, h], proj, proj_id);
        t("attn_sub_norm.weight", &[h], f32_.0, f32_.1);
        t("ffn_norm.weight", &[h], f32_.0, f32_.1);
        t("ffn_gate.weight", &[h, f], proj, proj_id);
        t("ffn_up.weight", &[h, f], proj, proj_id);
        t("ffn_down.weight", &[f, h], proj, proj_id);
        t("ffn_sub_norm.weight", &[f], f32_.0, f32_.1);
    }
    w.add_tensor_info("output_norm.weight", &[h], GgmlType::F32)
        .expect(ok);
    w
}

/// A temporary directory for test files.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Bytes per element of a SafeTensors dtype name (whole-byte types only).
pub fn st_elem_bytes(dtype: &str) -> u64 {
    match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => 1,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "F32" | "I32" | "U32" => 4,
        _ => 8,
    }
}

/// A SafeTensors header (JSON) for `tensors` laid out contiguously in the given order.
pub fn st_header(tensors: &[(&str, &str, Vec<u64>)]) -> (String, u64) {
    let mut map = serde_json::Map::new();
    let mut at = 0u64;
    for (name, dtype, shape) in tensors {
        let n: u64 = shape.iter().product::<u64>() * st_elem_bytes(dtype);
        map.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [at, at + n]}),
        );
        at += n;
    }
    map.insert(
        "__metadata__".to_string(),
        serde_json::json!({"format": "pt"}),
    );
    (serde_json::Value::Object(map).to_string(), at)
}

/// A whole SafeTensors file from a JSON header and `data_len` zero bytes of data.
pub fn st_file(header: &str, data_len: u64) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + data_len as usize, 0);
    out
}

/// Writes a SafeTensors file for `tensors` at `path`; returns its length.
pub fn write_st(path: &std::path::Path, tensors: &[(&str, &str, Vec<u64>)]) -> u64 {
    let (h, n) = st_header(tensors);
    let bytes = st_file(&h, n);
    std::fs::write(path, &bytes).expect("write safetensors");
    bytes.len() as u64
}

/// The HF tensors of a small llama-like model with `layers` blocks.
pub fn hf_llama_tensors(
    layers: u64,
    hidden: u64,
    kv: u64,
    ffn: u64,
    vocab: u64,
    tied: bool,
) -> Vec<(String, &'static str, Vec<u64>)> {
    let mut t = vec![(
        "model.embed_tokens.weight".to_string(),
        "BF16",
        vec![vocab, hidden],
    )];
    for l in 0..layers {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        t.push((p("input_layernorm.weight"), "BF16", vec![hidden]));
        t.push((p("self_attn.q_proj.weight"), "BF16", vec![hidden, hidden]));
        t.push((p("self_attn.k_proj.weight"), "BF16", vec![kv, hidden]));
        t.push((p("self_attn.v_proj.weight"), "BF16", vec![kv, hidden]));
        t.push((p("self_attn.o_proj.weight"), "BF16", vec![hidden, hidden]));
        t.push((p("post_attention_layernorm.weight"), "BF16", vec![hidden]));
        t.push((p("mlp.gate_proj.weight"), "BF16", vec![ffn, hidden]));
        t.push((p("mlp.up_proj.weight"), "BF16", vec![ffn, hidden]));
        t.push((p("mlp.down_proj.weight"), "BF16", vec![hidden, ffn]));
    }
    t.push(("model.norm.weight".to_string(), "BF16", vec![hidden]));
    if !tied {
        t.push(("lm_head.weight".to_string(), "BF16", vec![vocab, hidden]));
    }
    t
}

/// A Llama-3-8B-shaped header (291 Q4_K/Q6_K/F32 tensors, 128,256 tokens with scores and
/// types, optionally 280,147 merges); no tensor data.
pub fn llama3_8b_header(merges: bool) -> GgufWriter {
    let mut w = GgufWriter::new();
    let ok = "header";
    w.add_string("general.architecture", "llama").expect(ok);
    w.add_u32("llama.block_count", 32).expect(ok);
    w.add_u32("llama.context_length", 8192).expect(ok);
    w.add_u32("llama.embedding_length", 4096).expect(ok);
    w.add_u32("llama.feed_forward_length", 14336).expect(ok);
    w.add_u32("llama.attention.head_count", 32).expect(ok);
    w.add_u32("llama.attention.head_count_kv", 8).expect(ok);
    w.add_u32("llama.vocab_size", 128256).expect(ok);
    w.add_string("tokenizer.ggml.model", "gpt2").expect(ok);
    w.add_string_array(
        "tokenizer.ggml.tokens",
        (0..128256u32).map(|i| format!("Ġtok{i}")),
    )
    .expect(ok);
    w.add_f32_array("tokenizer.ggml.scores", &vec![0.0; 128256])
        .expect(ok);
    w.add_i32_array("tokenizer.ggml.token_type", &vec![1; 128256])
        .expect(ok);
    if merges {
        let merges = (0..280147u32).map(|i| format!("Ġa{i} b{i}"));
        w.add_string_array("tokenizer.ggml.merges", merges)
            .expect(ok);
    }
    let (h, f, kv, v) = (4096u64, 14336u64, 1024u64, 128256u64);
    w.add_tensor_info("token_embd.weight", &[h, v], GgmlType::Q4K)
        .expect(ok);
    for l in 0..32 {
        let mut t = |n: &str, d: &[u64], ty| {
            w.add_tensor_info(&format!("blk.{l}.{n}"), d, ty).expect(ok);
        };
        t("attn_norm.weight", &[h], GgmlType::F32);
        t("attn_q.weight", &[h, h], GgmlType::Q4K);
        t("attn_k.weight", &[h, kv], GgmlType::Q4K);
        t("attn_v.weight", &[h, kv], GgmlType::Q6K);
        t("attn_output.weight", &[h, h], GgmlType::Q4K);
        t("ffn_norm.weight", &[h], GgmlType::F32);
        t("ffn_gate.weight", &[h, f], GgmlType::Q4K);
        t("ffn_up.weight", &[h, f], GgmlType::Q4K);
        t("ffn_down.weight", &[f, h], GgmlType::Q6K);
    }
    w.add_tensor_info("output_norm.weight", &[h], GgmlType::F32)
        .expect(ok);
    w.add_tensor_info("output.weight", &[h, v], GgmlType::Q6K)
        .expect(ok);
    w
}
