//! The test models: the committed tiny llama GGUF (written by llama.cpp's own Python
//! writer, `profiler/tests/fixtures/tiny_llama.gguf`), that model split into parts the
//! way `gguf-split` splits it, and a sharded SafeTensors repository with its config.json.

use memcal_formats::gguf::writer::GgufWriter;
use memcal_formats::gguf::{GgufFile, OwnedValue};
use serde_json::json;

/// A file name and its bytes.
pub type NamedFile = (String, Vec<u8>);

/// The committed tiny llama GGUF.
pub fn tiny_gguf() -> Vec<u8> {
    include_bytes!("../../../profiler/tests/fixtures/tiny_llama.gguf").to_vec()
}

/// `gguf` split into `n` parts named `{stem}-0000K-of-0000N.gguf` the way `gguf-split`
/// writes them: the metadata and the split keys in the first part, only the split keys in
/// the others, the tensors (with their data) shared out in file order.
pub fn split_gguf(gguf: &[u8], stem: &str, n: usize) -> Vec<NamedFile> {
    let g = GgufFile::parse(std::path::Path::new("split"), gguf, gguf.len() as u64)
        .unwrap_or_else(|e| panic!("the test model does not parse: {e}"));
    let per_part = g.tensors.len().div_ceil(n);
    let mut parts = Vec::new();
    for (k, chunk) in g.tensors.chunks(per_part).enumerate() {
        let mut w = GgufWriter::new();
        let ok = |r: Result<&mut GgufWriter, _>| {
            if let Err(e) = r {
                panic!("writing part {k}: {e}");
            }
        };
        if k == 0 {
            for (key, value) in g.metadata() {
                ok(w.add_value(key, &value.to_owned_value()));
            }
        }
        ok(w.add_value("split.no", &OwnedValue::U16(k as u16)));
        ok(w.add_value("split.count", &OwnedValue::U16(n as u16)));
        ok(w.add_value(
            "split.tensors.count",
            &OwnedValue::I32(g.tensors.len() as i32),
        ));
        for t in chunk {
            let start = (g.data_offset + t.offset) as usize;
            let data = gguf[start..start + t.nbytes as usize].to_vec();
            ok(w.add_tensor(&t.name, &t.dims, t.ggml_type, data));
        }
        let mut bytes = Vec::new();
        if let Err(e) = w.write(&mut bytes) {
            panic!("writing part {k}: {e}");
        }
        parts.push((format!("{stem}-{:05}-of-{n:05}.gguf", k + 1), bytes));
    }
    assert_eq!(
        parts.len(),
        n,
        "{} tensors do not make {n} parts",
        g.tensors.len()
    );
    parts
}

/// A small llama-shaped SafeTensors repository: `config.json`,
/// `model.safetensors.index.json` and two shards (BF16, 2 layers).
pub fn sharded_safetensors() -> Vec<NamedFile> {
    let (layers, hidden, kv, ffn, vocab) = (2u64, 64u64, 32u64, 160u64, 512u64);
    let mut tensors = vec![("model.embed_tokens.weight".to_string(), vec![vocab, hidden])];
    for l in 0..layers {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        tensors.push((p("input_layernorm.weight"), vec![hidden]));
        tensors.push((p("self_attn.q_proj.weight"), vec![hidden, hidden]));
        tensors.push((p("self_attn.k_proj.weight"), vec![kv, hidden]));
        tensors.push((p("self_attn.v_proj.weight"), vec![kv, hidden]));
        tensors.push((p("self_attn.o_proj.weight"), vec![hidden, hidden]));
        tensors.push((p("post_attention_layernorm.weight"), vec![hidden]));
        tensors.push((p("mlp.gate_proj.weight"), vec![ffn, hidden]));
        tensors.push((p("mlp.up_proj.weight"), vec![ffn, hidden]));
        tensors.push((p("mlp.down_proj.weight"), vec![hidden, ffn]));
    }
    tensors.push(("model.norm.weight".to_string(), vec![hidden]));
    tensors.push(("lm_head.weight".to_string(), vec![vocab, hidden]));
    let half = tensors.len() / 2;
    let names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let mut files = Vec::new();
    let mut weight_map = serde_json::Map::new();
    let mut total = 0u64;
    for (shard, part) in [&tensors[..half], &tensors[half..]].iter().enumerate() {
        let mut header = serde_json::Map::new();
        let mut at = 0u64;
        for (name, shape) in part.iter() {
            let n = shape.iter().product::<u64>() * 2;
            header.insert(
                name.clone(),
                json!({"dtype": "BF16", "shape": shape, "data_offsets": [at, at + n]}),
            );
            weight_map.insert(name.clone(), json!(names[shard]));
            at += n;
        }
        header.insert("__metadata__".to_string(), json!({"format": "pt"}));
        let text = serde_json::Value::Object(header).to_string();
        let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(text.as_bytes());
        bytes.resize(bytes.len() + at as usize, 0);
        total += at;
        files.push((names[shard].to_string(), bytes));
    }
    let index = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
    let config = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": false,
        "torch_dtype": "bfloat16"
    });
    files.push((
        "model.safetensors.index.json".to_string(),
        index.to_string().into_bytes(),
    ));
    files.push(("config.json".to_string(), config.to_string().into_bytes()));
    files
}

/// Writes `files` into `dir` (created), returning `dir`.
pub fn write_dir(dir: &std::path::Path, files: &[NamedFile]) -> std::path::PathBuf {
    if let Err(e) = std::fs::create_dir_all(dir) {
        panic!("creating {}: {e}", dir.display());
    }
    for (name, bytes) in files {
        if let Err(e) = std::fs::write(dir.join(name), bytes) {
            panic!("writing {name}: {e}");
        }
    }
    dir.to_path_buf()
}

/// A GGUF header of a Llama-3-8B shape (291 tensors, 128,256 tokens, 280,147 merges: some
/// 10 MB, more than one first read) and the length of the file it describes (the data
/// is not held: serve it with [`crate::Behaviour::Padded`] or `HugeBody`).
pub fn big_header_gguf() -> (Vec<u8>, u64) {
    use memcal_formats::ggml_type::GgmlType;
    let mut w = GgufWriter::new();
    let ok = |r: Result<&mut GgufWriter, memcal_formats::gguf::writer::WriteError>| {
        if let Err(e) = r {
            panic!("writing the big header: {e}");
        }
    };
    ok(w.add_string("general.architecture", "llama"));
    for (k, v) in [
        ("llama.block_count", 32),
        ("llama.context_length", 8192),
        ("llama.embedding_length", 4096),
        ("llama.feed_forward_length", 14336),
        ("llama.attention.head_count", 32),
        ("llama.attention.head_count_kv", 8),
    ] {
        ok(w.add_u32(k, v));
    }
    ok(w.add_string("tokenizer.ggml.model", "gpt2"));
    ok(w.add_string_array(
        "tokenizer.ggml.tokens",
        (0..128_256u32).map(|i| format!("tok{i}")),
    ));
    ok(w.add_i32_array("tokenizer.ggml.token_type", &vec![1; 128_256]));
    ok(w.add_string_array(
        "tokenizer.ggml.merges",
        (0..280_147u32).map(|i| format!("a{i} b{i}")),
    ));
    let (h, f, kv, v) = (4096u64, 14336u64, 1024u64, 128_256u64);
    if let Err(e) = w.add_tensor_info("token_embd.weight", &[h, v], GgmlType::Q4K) {
        panic!("writing the big header: {e}");
    }
    for l in 0..32 {
        for (n, d, ty) in [
            ("attn_norm.weight", vec![h], GgmlType::F32),
            ("attn_q.weight", vec![h, h], GgmlType::Q4K),
            ("attn_k.weight", vec![h, kv], GgmlType::Q4K),
            ("attn_v.weight", vec![h, kv], GgmlType::Q6K),
            ("attn_output.weight", vec![h, h], GgmlType::Q4K),
            ("ffn_norm.weight", vec![h], GgmlType::F32),
            ("ffn_gate.weight", vec![h, f], GgmlType::Q4K),
            ("ffn_up.weight", vec![h, f], GgmlType::Q4K),
            ("ffn_down.weight", vec![f, h], GgmlType::Q6K),
        ] {
            if let Err(e) = w.add_tensor_info(&format!("blk.{l}.{n}"), &d, ty) {
                panic!("writing the big header: {e}");
            }
        }
    }
    if let Err(e) = w.add_tensor_info("output_norm.weight", &[h], GgmlType::F32) {
        panic!("writing the big header: {e}");
    }
    if let Err(e) = w.add_tensor_info("output.weight", &[h, v], GgmlType::Q6K) {
        panic!("writing the big header: {e}");
    }
    let header = w
        .header_bytes()
        .unwrap_or_else(|e| panic!("big header: {e}"));
    let (_, data) = w
        .layout()
        .unwrap_or_else(|e| panic!("big header layout: {e}"));
    let len = header.len() as u64 + data;
    (header, len)
}
