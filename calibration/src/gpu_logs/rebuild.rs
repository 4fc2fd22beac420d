//! A run's model rebuilt from what its log printed: the shape of `print_info`, quantized
//! with llama.cpp's mix for the printed file type, accepted only where the mix gives
//! exactly the printed tensor counts per type (`llama_model_loader: - type q4_K: 193
//! tensors`), with or without an importance matrix, so the rebuilt header holds the file's
//! tensors to the byte.

use super::corpus::Run;
use predictor::gguf::GgufFile;
use predictor::presets::{Ftype, MixOptions, Shape};
use predictor::profile::ModelProfile;
use std::collections::BTreeMap;
use std::path::Path;

/// The architectures the header builder lays out.
const ARCHS: &[&str] = &["llama", "qwen2", "qwen3", "qwen3moe", "glm4", "gptneox"];

/// The shape the log printed (untied, no rope factors: the caller tries the variants).
fn shape_of(run: &Run) -> Result<Shape, String> {
    let m = &run.model;
    // "qwen3moe (Qwen3-30B-A3B)": the architecture is the first word.
    let arch = m
        .arch
        .as_deref()
        .and_then(|a| a.split_whitespace().next())
        .unwrap_or("");
    if !ARCHS.contains(&arch) {
        return Err(format!(
            "architecture {arch:?} cannot be rebuilt from the log (the header builder lays out {})",
            ARCHS.join(", ")
        ));
    }
    let need = |v: Option<u64>, what: &str| v.ok_or_else(|| format!("the log prints no {what}"));
    let mut s = Shape::new(
        arch,
        m.n_layer.ok_or("the log prints no n_layer")?,
        need(m.n_embd, "n_embd")?,
        (
            m.n_head.ok_or("the log prints no n_head")?,
            m.n_head_kv
                .or(m.n_head)
                .ok_or("the log prints no n_head_kv")?,
        ),
        need(m.n_ff, "n_ff")?,
        need(m.n_vocab, "n_vocab")?,
    );
    if let Some(d) = m.n_embd_head_k {
        s.head_dim = d;
    }
    s.n_rot = m.n_rot;
    if let Some(c) = m.n_ctx_train {
        s.ctx_train = c;
    }
    if let (Some(e), Some(u)) = (m.n_expert.filter(|&e| e > 0), m.n_expert_used) {
        s = s.with_experts(e, u, m.n_ff_exp.unwrap_or(0));
    }
    Ok(s)
}

/// Tensors per type name (lower case) of a quantized shape.
fn counts(shape: &Shape, ftype: Ftype, mix: MixOptions) -> BTreeMap<String, u64> {
    let mut c = BTreeMap::new();
    for (_, ty) in shape.quantized(ftype, mix) {
        *c.entry(ty.name().to_ascii_lowercase()).or_insert(0) += 1;
    }
    c
}

/// A model the log names but whose `print_info` it does not show, as a built-in preset of
/// the same model (`qwen3moe (Qwen3-30B-A3B)` -> `qwen3-30b-a3b`, its config.json's shape).
/// Only for an unquantized file (F16, BF16, F32): with no tensor counts printed, a
/// quantized file's mix could not be checked.
fn by_identity(run: &Run) -> Result<ModelProfile, String> {
    let m = &run.model;
    let named = m
        .arch
        .as_deref()
        .and_then(|a| a.split_once('(')?.1.split(')').next())
        .map(str::trim)
        .ok_or("the log prints no n_layer (and names no model memcal has the shape of)")?;
    let preset = predictor::presets::all()
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(named))
        .ok_or_else(|| format!("the log prints no n_layer, and {named:?} is no preset"))?;
    let ftype_name = m
        .ftype
        .as_deref()
        .and_then(|f| f.split_whitespace().next())
        .unwrap_or("");
    let ftype = Ftype::parse(ftype_name)
        .filter(|f| matches!(f.name(), "F16" | "BF16" | "F32" | "ALL_F32"))
        .ok_or_else(|| {
            format!(
                "{named}: file type {ftype_name:?} is quantized or unknown and the log prints \
                 no tensor counts to check its mix against"
            )
        })?;
    let shape = preset.shape().map_err(|e| e.to_string())?;
    profile_of(&shape, ftype, MixOptions::default(), &run.id)
}

/// The profile of `run`'s model, or why it cannot be rebuilt.
pub fn rebuild(run: &Run) -> Result<ModelProfile, String> {
    if run.model.n_layer.is_none() {
        return by_identity(run);
    }
    let base = shape_of(run)?;
    let printed: BTreeMap<String, u64> = run
        .model
        .type_counts
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), *v))
        .collect();
    if printed.is_empty() {
        return Err("the log prints no tensor counts per type".into());
    }
    let printed_name = run.model.ftype.as_deref().unwrap_or("");
    // A file without `general.file_type` prints a guess ("all F32 (guessed)"): its type is
    // then the one most of its non-F32 tensors have.
    let guessed = printed_name.ends_with("(guessed)").then(|| {
        printed
            .iter()
            .filter(|(t, _)| t.as_str() != "f32")
            .max_by_key(|(_, &n)| n)
            .map(|(t, _)| t.to_ascii_uppercase())
    });
    let ftype_name = guessed
        .flatten()
        .unwrap_or_else(|| printed_name.to_string());
    let ftype = Ftype::parse(&ftype_name)
        .ok_or_else(|| format!("file type {printed_name:?} is not one llama.cpp names"))?;
    // Untied before tied, no rope factors before them, the plain mix before the one an
    // importance matrix changes (`--imatrix`: no Q5_K in IQ4_XS's first ffn_down, ...), the
    // current quantizer before the older one's fused-QKV rule (`legacy_qkv`).
    let mut tried = Vec::new();
    for (legacy_qkv, has_imatrix) in [(false, false), (false, true), (true, false), (true, true)] {
        for (tied, rope_freqs) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut s = base.clone();
            s.tied = tied;
            s.rope_freqs = rope_freqs;
            if s.validate().is_err() {
                continue;
            }
            let mix = MixOptions {
                has_imatrix,
                legacy_qkv,
                ..MixOptions::default()
            };
            let c = counts(&s, ftype, mix);
            if c == printed {
                return profile_of(&s, ftype, mix, &run.id);
            }
            tried.push(c);
        }
    }
    Err(format!(
        "llama.cpp's {} mix of the printed shape gives {:?}, the log {:?} (a custom recipe, \
         with or without an importance matrix or the older quantizer's fused-QKV rule)",
        ftype.name(),
        tried.first().cloned().unwrap_or_default(),
        printed
    ))
}

/// The profile of the header `shape` quantized to `ftype` would have.
fn profile_of(
    shape: &Shape,
    ftype: Ftype,
    mix: MixOptions,
    id: &str,
) -> Result<ModelProfile, String> {
    let w = predictor::presets::shape::header(shape, ftype, mix).map_err(|e| e.to_string())?;
    let bytes = w.header_bytes().map_err(|e| e.to_string())?;
    let (_, data) = w.layout().map_err(|e| e.to_string())?;
    let label = format!("gpu-log:{id}");
    let file = GgufFile::parse(Path::new(&label), &bytes, bytes.len() as u64 + data)
        .map_err(|e| e.to_string())?;
    let mut p = predictor::read::profile_from_gguf(&file).map_err(|e| e.to_string())?;
    p.name = label;
    Ok(p)
}
