//! A SafeTensors checkpoint's profile: the hyperparameters from its config.json, the sizes
//! from its tensor tables (BitNet's packed ternary U8 tensors counted as four weights a
//! byte); without config.json, the sizes alone.

use super::checks::{check_ctx, check_layers};
use super::sizes::{assemble, layer_index, Sizes};
use crate::error::Result;
use crate::hf_config::HfConfig;
use crate::profile::{Experts, HeaderStats, ModelFormat, ModelProfile, ModelShape};
use crate::safetensors::{Checkpoint, Dtype};
use crate::weight_type::{WeightType, PACKED_TERNARY};

/// What the tensor table says beyond the sizes: the names config.json's gaps fall back to.
struct TableFacts {
    sizes: Sizes,
    lm_head: bool,
    embed_rows: Option<u64>,
    up_rows: Option<u64>,
}

/// Sums a checkpoint's tensors (`packed`: U8 tensors hold four ternary weights a byte).
fn read_table(ck: &Checkpoint, n_layers: u32, packed: bool) -> TableFacts {
    let mut f = TableFacts {
        sizes: Sizes::new(n_layers),
        lm_head: false,
        embed_rows: None,
        up_rows: None,
    };
    for t in ck.tensors() {
        // ggml order (innermost first); a packed ternary U8 tensor holds 4 weights a byte.
        let mut dims: Vec<u64> = t.shape.iter().rev().copied().collect();
        let ty = if packed && t.dtype == Dtype::U8 {
            if let Some(d0) = dims.first_mut() {
                *d0 = d0.saturating_mul(4);
            }
            WeightType::PackedTernary
        } else {
            WeightType::SafeTensors(t.dtype)
        };
        f.sizes.add(&t.name, ty, &dims, t.nbytes());
        f.lm_head |= t.name.ends_with("lm_head.weight");
        if t.name.ends_with("embed_tokens.weight") || t.name.ends_with("wte.weight") {
            f.embed_rows = t.shape.first().copied();
        }
        if f.up_rows.is_none() && t.name.ends_with("mlp.up_proj.weight") {
            f.up_rows = t.shape.first().copied();
        }
    }
    f
}

/// The profile of a SafeTensors checkpoint with its config.json.
pub fn profile_from_safetensors(ck: &Checkpoint, cfg: &HfConfig) -> Result<ModelProfile> {
    let path = ck.path.as_path();
    let n_tensors = ck.shards.iter().map(|s| s.tensors.len()).sum();
    let n_layers = check_layers(path, cfg.n_layers.into(), n_tensors)?;
    let mut notes = cfg.notes.clone();
    notes.extend(ck.notes.iter().cloned());
    let packed = cfg.is_bitnet_packed();
    let table = read_table(ck, n_layers, packed);
    if packed {
        notes.push(format!(
            "BitNet checkpoint: U8 tensors hold 4 ternary weights per byte (listed as {PACKED_TERNARY})"
        ));
    }
    if cfg.tie_word_embeddings == Some(false) && !table.lm_head {
        notes.push(
            "config.json says tie_word_embeddings=false but there is no lm_head.weight".to_string(),
        );
    }
    let ffn = match (
        cfg.n_experts,
        cfg.moe_intermediate_size,
        cfg.intermediate_size,
    ) {
        (Some(_), Some(f), _) => f,
        (_, _, Some(f)) => f,
        _ => {
            notes.push("config.json has no intermediate_size".to_string());
            table.up_rows.unwrap_or(0)
        }
    };
    let ctx_train = match cfg.max_position_embeddings {
        Some(c) => check_ctx(&cfg.path, "max_position_embeddings", c)?,
        None => {
            notes.push(
                "config.json has no max_position_embeddings: training context unknown".to_string(),
            );
            0
        }
    };
    let shape = ModelShape {
        architecture: cfg
            .model_type
            .clone()
            .or_else(|| cfg.architectures.first().cloned())
            .unwrap_or_else(|| "unknown".to_string()),
        n_layers,
        hidden: cfg.hidden,
        n_heads: cfg.n_heads,
        n_kv_heads: cfg.n_kv_heads.clone(),
        head_dim_k: cfg.head_dim,
        head_dim_v: cfg.head_dim,
        ffn,
        vocab: cfg.vocab.or(table.embed_rows).unwrap_or(0),
        ctx_train,
        tied_embeddings: !table.lm_head,
        sliding_window: cfg.sliding_window,
        sliding_layers: cfg.sliding_layers.clone(),
        experts: cfg.n_experts.map(|total| Experts {
            total,
            active: cfg.n_experts_used.unwrap_or(0),
        }),
        mla: None,
    };
    Ok(assemble(
        path,
        ModelFormat::Safetensors,
        shape,
        table.sizes,
        ck.file_bytes(),
        HeaderStats::default(),
        notes,
    ))
}

/// A SafeTensors checkpoint's profile without its config.json: every size comes from the
/// tensor table and is exact; the blocks are counted from the tensor names; the shape
/// fields only config.json gives (widths, heads, vocabulary, context) are 0, and a note
/// says so. Enough for `inspect`, not for an estimate.
pub fn profile_without_config(ck: &Checkpoint) -> ModelProfile {
    let n_layers = ck
        .tensors()
        .filter_map(|t| layer_index(&t.name))
        .max()
        .map_or(0, |m| m.saturating_add(1).min(ck.tensors().count()));
    let mut sizes = Sizes::new(n_layers as u32);
    for t in ck.tensors() {
        let dims: Vec<u64> = t.shape.iter().rev().copied().collect();
        sizes.add(&t.name, WeightType::SafeTensors(t.dtype), &dims, t.nbytes());
    }
    let shape = ModelShape {
        architecture: "unknown".into(),
        n_layers: n_layers as u32,
        hidden: 0,
        n_heads: 0,
        n_kv_heads: Vec::new(),
        head_dim_k: 0,
        head_dim_v: 0,
        ffn: 0,
        vocab: 0,
        ctx_train: 0,
        tied_embeddings: !ck.tensors().any(|t| t.name.ends_with("lm_head.weight")),
        sliding_window: None,
        sliding_layers: Vec::new(),
        experts: None,
        mla: None,
    };
    let mut notes = ck.notes.clone();
    notes.push(
        "no config.json beside it: the architecture, widths, heads, vocabulary and context \
         are unknown (0 here); sizes by type and role are exact"
            .to_string(),
    );
    assemble(
        &ck.path,
        ModelFormat::Safetensors,
        shape,
        sizes,
        ck.file_bytes(),
        HeaderStats::default(),
        notes,
    )
}
