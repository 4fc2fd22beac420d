//! A GGUF header's profile: the hyperparameters from `<arch>.*` keys (with the fallbacks
//! llama.cpp itself uses where a key is missing) and the sizes from its tensor table.

use super::arch_keys::ArchKeys;
use super::checks::{check_ctx, check_layers, to_u32};
use super::sizes::{assemble, layer_index, Sizes};
use super::sliding::gguf_sliding_layers;
use crate::error::{Error, Result};
use crate::ggml_type::GgmlType;
use crate::gguf::{GgufFile, TensorInfo, Value};
use crate::profile::{
    Experts, HeaderStats, MatmulWeight, MlaHeads, ModelFormat, ModelProfile, ModelShape, TensorRole,
};
use crate::weight_type::WeightType;

/// The profile of a parsed GGUF header.
pub fn profile_from_gguf(g: &GgufFile) -> Result<ModelProfile> {
    let path = g.path.as_path();
    let arch = g
        .architecture()
        .ok_or_else(|| Error::malformed(path, "no general.architecture key: not a model file"))?;
    let k = ArchKeys { g, arch };
    let mut notes: Vec<String> = g.type_notes().to_vec();
    let shape = shape(&k, &mut notes)?;
    let sizes = sizes(g, shape.n_layers, &mut notes);
    let array_len = |key: &str| g.get(key).and_then(Value::as_array).map_or(0, |a| a.len());
    let header = HeaderStats {
        tokens: array_len("tokenizer.ggml.tokens"),
        merges: array_len("tokenizer.ggml.merges"),
        bytes: g.data_offset,
    };
    let parallel_residual = match g.get(&k.key("use_parallel_residual")) {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| k.wrong("use_parallel_residual", "true or false", v))?,
    };
    let mut profile = assemble(
        path,
        ModelFormat::Gguf,
        shape,
        sizes,
        g.file_bytes,
        header,
        notes,
    );
    profile.parallel_residual = parallel_residual;
    Ok(profile)
}

/// The hyperparameters, each from its key or llama.cpp's fallback (with a note).
fn shape(k: &ArchKeys, notes: &mut Vec<String>) -> Result<ModelShape> {
    let (g, arch, path) = (k.g, k.arch, k.g.path.as_path());
    let n_layers = check_layers(path, block_count(k, notes)?, g.tensors.len())?;
    let hidden = embedding_length(k, notes)?;
    let (n_heads, n_kv_heads) = heads(k, n_layers, notes)?;
    let (head_dim_k, head_dim_v) = head_widths(k, hidden, n_heads)?;
    let experts = experts(k, notes)?;
    let ffn = feed_forward_length(k, n_layers, experts.is_some(), notes)?;
    let vocab = match k.uint("vocab_size")? {
        Some(v) => v,
        None => match g.get("tokenizer.ggml.tokens").and_then(Value::as_array) {
            Some(tokens) => tokens.len(),
            None => g
                .tensor("token_embd.weight")
                .and_then(|t| t.dims.get(1).copied())
                .unwrap_or(0),
        },
    };
    let ctx_train = match k.uint("context_length")? {
        Some(c) => check_ctx(path, &k.key("context_length"), c)?,
        None => {
            notes.push(format!(
                "no {arch}.context_length: training context unknown"
            ));
            0
        }
    };
    let mla = mla_heads(k)?;
    let sliding_window = k.uint("attention.sliding_window")?.filter(|&w| w > 0);
    let sliding_layers = gguf_sliding_layers(k, n_layers, sliding_window, notes)?;
    Ok(ModelShape {
        architecture: arch.to_string(),
        n_layers,
        hidden,
        n_heads,
        n_kv_heads,
        head_dim_k,
        head_dim_v,
        ffn,
        vocab,
        ctx_train,
        tied_embeddings: g.tensor("output.weight").is_none(),
        sliding_window,
        sliding_layers,
        experts,
        mla,
    })
}

/// The trained head widths of a multi-head latent attention file: both
/// `attention.key_length_mla` and `value_length_mla` above 0 (llama.cpp's `is_mla()`).
fn mla_heads(k: &ArchKeys) -> Result<Option<MlaHeads>> {
    let path = k.g.path.as_path();
    let key = k.uint("attention.key_length_mla")?.filter(|&w| w > 0);
    let value = k.uint("attention.value_length_mla")?.filter(|&w| w > 0);
    Ok(match (key, value) {
        (Some(kw), Some(vw)) => Some(MlaHeads {
            k: to_u32(path, "attention.key_length_mla", kw)?,
            v: to_u32(path, "attention.value_length_mla", vw)?,
        }),
        _ => None,
    })
}

/// `block_count`, else the blocks counted from the tensor names.
fn block_count(k: &ArchKeys, notes: &mut Vec<String>) -> Result<u64> {
    Ok(match k.uint("block_count")? {
        Some(n) => n,
        None => {
            let n =
                k.g.tensors
                    .iter()
                    .filter_map(|t| layer_index(&t.name))
                    .max()
                    .map_or(0, |m| m as u64 + 1);
            notes.push(format!(
                "no {}.block_count key: {n} blocks counted from tensor names",
                k.arch
            ));
            n
        }
    })
}

/// `embedding_length`, else the token embedding's width.
fn embedding_length(k: &ArchKeys, notes: &mut Vec<String>) -> Result<u64> {
    let (arch, path) = (k.arch, k.g.path.as_path());
    let hidden = match (k.uint("embedding_length")?, k.g.tensor("token_embd.weight")) {
        (Some(h), _) => h,
        (None, Some(t)) => {
            notes.push(format!(
                "no {arch}.embedding_length: width taken from token_embd"
            ));
            t.dims.first().copied().unwrap_or(0)
        }
        (None, None) => {
            return Err(Error::malformed(
                path,
                format!("missing {arch}.embedding_length"),
            ))
        }
    };
    if hidden == 0 {
        return Err(Error::malformed(
            path,
            format!("{arch}.embedding_length is 0"),
        ));
    }
    Ok(hidden)
}

/// Query heads (the largest of any block) and KV heads per block.
fn heads(k: &ArchKeys, n_layers: u32, notes: &mut Vec<String>) -> Result<(u32, Vec<u32>)> {
    let (arch, path) = (k.arch, k.g.path.as_path());
    let heads = k
        .per_layer("attention.head_count", n_layers)?
        .ok_or_else(|| Error::malformed(path, format!("missing {arch}.attention.head_count")))?;
    let n_heads = heads.iter().copied().max().unwrap_or(0);
    if n_heads == 0 {
        return Err(Error::malformed(
            path,
            format!("{arch}.attention.head_count is 0"),
        ));
    }
    if heads.iter().any(|&h| h != n_heads) {
        notes.push(format!(
            "query heads vary per block ({}..{n_heads}); the largest is used",
            heads.iter().min().copied().unwrap_or(0)
        ));
    }
    let n_heads = to_u32(path, "attention.head_count", n_heads)?;
    let kv = match k.per_layer("attention.head_count_kv", n_layers)? {
        Some(kv) => kv,
        None => heads.clone(),
    };
    if kv.iter().all(|&h| h == 0) {
        return Err(Error::malformed(
            path,
            format!("{arch}.attention.head_count_kv is 0 for every block"),
        ));
    }
    let n_kv_heads = kv
        .iter()
        .map(|&h| to_u32(path, "attention.head_count_kv", h))
        .collect::<Result<Vec<u32>>>()?;
    Ok((n_heads, n_kv_heads))
}

/// Key and value head widths: `attention.key_length` / `value_length`, else
/// `embedding_length / head_count` (and V as K).
fn head_widths(k: &ArchKeys, hidden: u64, n_heads: u32) -> Result<(u32, u32)> {
    let (arch, path) = (k.arch, k.g.path.as_path());
    let head_dim_k = match k.uint("attention.key_length")? {
        Some(0) => {
            return Err(Error::malformed(
                path,
                format!("{arch}.attention.key_length is 0"),
            ))
        }
        Some(d) => d,
        None => {
            if !hidden.is_multiple_of(n_heads as u64) {
                return Err(Error::malformed(
                    path,
                    format!(
                        "embedding_length {hidden} is not divisible by head_count {n_heads} \
                         and attention.key_length is absent"
                    ),
                ));
            }
            hidden / n_heads as u64
        }
    };
    let head_dim_k = to_u32(path, "attention.key_length", head_dim_k)?;
    let head_dim_v = match k.uint("attention.value_length")? {
        Some(0) => {
            return Err(Error::malformed(
                path,
                format!("{arch}.attention.value_length is 0"),
            ))
        }
        Some(d) => to_u32(path, "attention.value_length", d)?,
        None => head_dim_k,
    };
    Ok((head_dim_k, head_dim_v))
}

/// The experts of a mixture-of-experts file (`expert_count` above 0).
fn experts(k: &ArchKeys, notes: &mut Vec<String>) -> Result<Option<Experts>> {
    let (arch, path) = (k.arch, k.g.path.as_path());
    let Some(total) = k.uint("expert_count")?.filter(|&n| n > 0) else {
        return Ok(None);
    };
    let active = k.uint("expert_used_count")?.unwrap_or(0);
    if active == 0 || active > total {
        notes.push(format!(
            "{arch}.expert_used_count is {active} for {total} experts"
        ));
    }
    Ok(Some(Experts {
        total: to_u32(path, "expert_count", total)?,
        active: to_u32(path, "expert_used_count", active)?,
    }))
}

/// The feed-forward width: an expert's for MoE files, else the largest block's, else
/// `blk.0.ffn_up`'s rows.
fn feed_forward_length(
    k: &ArchKeys,
    n_layers: u32,
    moe: bool,
    notes: &mut Vec<String>,
) -> Result<u64> {
    let expert_ffn = if moe {
        k.uint("expert_feed_forward_length")?
    } else {
        None
    };
    Ok(
        match (expert_ffn, k.per_layer("feed_forward_length", n_layers)?) {
            (Some(f), _) => f,
            (None, Some(f)) => f.into_iter().max().unwrap_or(0),
            (None, None) => {
                let from_tensor =
                    k.g.tensor("blk.0.ffn_up.weight")
                        .and_then(|t| t.dims.get(1).copied());
                notes.push(format!(
                    "no {}.feed_forward_length{}",
                    k.arch,
                    if from_tensor.is_some() {
                        ": taken from blk.0.ffn_up"
                    } else {
                        ""
                    }
                ));
                from_tensor.unwrap_or(0)
            }
        },
    )
}

/// The tensor table summed, with the trailing matmul weights and a note on I2_S/TL1
/// tensors the BitNet fork's x86 kernels cannot run.
fn sizes(g: &GgufFile, n_layers: u32, notes: &mut Vec<String>) -> Sizes {
    let mut sizes = Sizes::new(n_layers);
    sizes.trailing = trailing_weights(g);
    let mut odd_k = 0;
    for t in &g.tensors {
        sizes.add(&t.name, WeightType::Ggml(t.ggml_type), &t.dims, t.nbytes);
        let k = t.dims.first().copied().unwrap_or(1);
        odd_k += usize::from(matches!(t.ggml_type, GgmlType::I2S | GgmlType::TL1) && k % 128 != 0);
    }
    if odd_k > 0 {
        notes.push(format!(
            "{odd_k} I2_S/TL1 tensors have ne0 not a multiple of 128, which the BitNet fork's \
             x86 kernels need (ARM: 64); sizes are exact regardless"
        ));
    }
    sizes
}

/// The run of matmul weights at the end of the data (what a mapped file can give back
/// when they move to an extra buffer): each with the bytes from its start to the end.
fn trailing_weights(g: &GgufFile) -> Vec<MatmulWeight> {
    let mut by_offset: Vec<&TensorInfo> = g.tensors.iter().collect();
    by_offset.sort_by_key(|t| t.offset);
    let data_end = by_offset.last().map_or(0, |t| t.offset + t.nbytes);
    let mut trailing: Vec<MatmulWeight> = by_offset
        .iter()
        .rev()
        .take_while(|t| {
            matches!(t.dims.len(), 2 | 3)
                && TensorRole::from_tensor_name(&t.name) != TensorRole::Embedding
        })
        .map(|t| MatmulWeight {
            ty: WeightType::Ggml(t.ggml_type),
            ne0: t.dims[0],
            ne1: t.dims[1],
            ne2: t.dims.get(2).copied().unwrap_or(1),
            count: 1,
            bytes: data_end - t.offset,
        })
        .collect();
    trailing.reverse();
    trailing
}
