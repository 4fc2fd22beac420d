//! Hugging Face `config.json`: the shape keys memory depends on, with the usual aliases,
//! `text_config` nesting (multimodal wrappers), MoE keys, sliding-window layouts and
//! `quantization_config` (BitNet: `quant_method: "bitnet"`).

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Largest config.json read (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// Largest layer count accepted from a config.json (which cannot be checked against tensors
/// before the per-layer lists are built).
pub const MAX_LAYERS: u32 = 1 << 16;

/// Reads a small file whole, refusing one longer than `max` bytes (`what` names it).
pub fn read_small_file(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > max {
        return Err(Error::malformed(
            path,
            format!("{what} is {len} bytes, more than the {max} read"),
        ));
    }
    std::fs::read(path).map_err(io)
}

/// The memory-relevant content of a `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct HfConfig {
    /// The file read.
    pub path: PathBuf,
    /// `model_type` (of `text_config` when nested), e.g. `llama`, `bitnet`.
    pub model_type: Option<String>,
    /// `architectures`, e.g. `["BitNetForCausalLM"]`.
    pub architectures: Vec<String>,
    /// `num_hidden_layers` (`n_layer`, `num_layers`).
    pub n_layers: u32,
    /// `hidden_size` (`n_embd`, `d_model`).
    pub hidden: u64,
    /// `intermediate_size` (`n_inner`, `ffn_dim`); `None` when absent.
    pub intermediate_size: Option<u64>,
    /// `vocab_size`.
    pub vocab: Option<u64>,
    /// `num_attention_heads` (`n_head`).
    pub n_heads: u32,
    /// `num_key_value_heads` (`num_kv_heads`, `n_head_kv`), per layer when given as a list;
    /// defaults to `n_heads` for every layer.
    pub n_kv_heads: Vec<u32>,
    /// `head_dim` when explicit, else `hidden / n_heads`.
    pub head_dim: u32,
    /// Whether `head_dim` was given explicitly.
    pub head_dim_explicit: bool,
    /// `max_position_embeddings` (`n_positions`, `seq_length`, `max_sequence_length`).
    pub max_position_embeddings: Option<u64>,
    /// `tie_word_embeddings` as written (`None` when absent).
    pub tie_word_embeddings: Option<bool>,
    /// `torch_dtype` (or `dtype`).
    pub torch_dtype: Option<String>,
    /// `sliding_window`, unless `use_sliding_window` is false.
    pub sliding_window: Option<u64>,
    /// Per-layer sliding flags from `layer_types`, `sliding_window_pattern` or the family's
    /// known layout (gemma2 alternates); empty when not known.
    pub sliding_layers: Vec<bool>,
    /// Experts per MoE layer (`num_local_experts`, `num_experts`, `n_routed_experts`).
    pub n_experts: Option<u32>,
    /// Experts per token (`num_experts_per_tok`, `num_experts_per_token`, `moe_top_k`).
    pub n_experts_used: Option<u32>,
    /// Per-expert FFN width (`moe_intermediate_size`).
    pub moe_intermediate_size: Option<u64>,
    /// `quantization_config.quant_method`, e.g. `bitnet`, `gptq`, `awq`.
    pub quant_method: Option<String>,
    /// Things worth telling the user (defaults taken, keys ignored).
    pub notes: Vec<String>,
}

impl HfConfig {
    /// Whether the checkpoint stores BitNet ternary weights packed in U8
    /// (`quantization_config.quant_method == "bitnet"`).
    pub fn is_bitnet_packed(&self) -> bool {
        self.quant_method
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("bitnet"))
    }

    /// Reads and interprets `path`.
    pub fn open(path: &Path) -> Result<HfConfig> {
        let text = read_small_file(path, MAX_CONFIG_BYTES, "config.json")?;
        HfConfig::parse(path, &text)
    }

    /// Interprets the JSON text of a config.json; `path` names it in errors.
    pub fn parse(path: &Path, text: &[u8]) -> Result<HfConfig> {
        let root: Value = serde_json::from_slice(text)
            .map_err(|e| Error::malformed(path, format!("config.json is not valid JSON: {e}")))?;
        let Some(top) = root.as_object() else {
            return Err(Error::malformed(path, "config.json is not a JSON object"));
        };
        let keys = Keys {
            path,
            text: top.get("text_config").and_then(Value::as_object),
            top,
        };
        keys.build()
    }
}

/// Looks keys up in `text_config` first, then at the top level.
struct Keys<'a> {
    path: &'a Path,
    text: Option<&'a Map<String, Value>>,
    top: &'a Map<String, Value>,
}

impl Keys<'_> {
    /// The first present, non-null value among `names`, with the name found.
    fn find(&self, names: &[&str]) -> Option<(String, &Value)> {
        for scope in [self.text, Some(self.top)].into_iter().flatten() {
            for &n in names {
                match scope.get(n) {
                    Some(Value::Null) | None => {}
                    Some(v) => return Some((n.to_string(), v)),
                }
            }
        }
        None
    }

    fn bad(&self, key: &str, want: &str, got: &Value) -> Error {
        let mut shown = got.to_string();
        if shown.len() > 60 {
            shown.truncate(60);
            shown.push_str("...");
        }
        Error::malformed(
            self.path,
            format!("config.json: {key} must be {want}, got {shown}"),
        )
    }

    /// The first of `names` present, converted by `get` (`want` describes the type).
    fn typed<T>(
        &self,
        names: &[&str],
        want: &str,
        get: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.find(names) {
            None => Ok(None),
            Some((k, v)) => get(v).map(Some).ok_or_else(|| self.bad(&k, want, v)),
        }
    }

    fn uint(&self, names: &[&str]) -> Result<Option<u64>> {
        self.typed(names, "a non-negative integer", Value::as_u64)
    }

    fn u32_(&self, names: &[&str]) -> Result<Option<u32>> {
        match self.uint(names)? {
            None => Ok(None),
            Some(v) => u32::try_from(v).map(Some).map_err(|_| {
                Error::malformed(
                    self.path,
                    format!("config.json: {} = {v} is out of range", names[0]),
                )
            }),
        }
    }

    fn required_u32(&self, names: &[&str]) -> Result<u32> {
        self.u32_(names)?.ok_or_else(|| {
            Error::malformed(
                self.path,
                format!("config.json: missing {}", names.join(" / ")),
            )
        })
    }

    fn string(&self, names: &[&str]) -> Option<String> {
        self.find(names)
            .and_then(|(_, v)| v.as_str().map(str::to_string))
    }

    fn boolean(&self, names: &[&str]) -> Result<Option<bool>> {
        self.typed(names, "true or false", Value::as_bool)
    }

    fn build(&self) -> Result<HfConfig> {
        let mut notes = Vec::new();
        let n_layers = self.required_u32(&["num_hidden_layers", "n_layer", "num_layers"])?;
        let hidden = self
            .uint(&["hidden_size", "n_embd", "d_model"])?
            .ok_or_else(|| Error::malformed(self.path, "config.json: missing hidden_size"))?;
        let n_heads = self.required_u32(&["num_attention_heads", "n_head", "num_heads"])?;
        if n_layers > MAX_LAYERS {
            return Err(Error::malformed(
                self.path,
                format!("config.json: num_hidden_layers {n_layers} is beyond {MAX_LAYERS}"),
            ));
        }
        if n_layers == 0 || hidden == 0 || n_heads == 0 {
            return Err(Error::malformed(
                self.path,
                format!(
                    "config.json: num_hidden_layers ({n_layers}), hidden_size ({hidden}) and \
                     num_attention_heads ({n_heads}) must all be non-zero"
                ),
            ));
        }
        let n_kv_heads = self.kv_heads(n_layers, n_heads, &mut notes)?;
        let (head_dim, head_dim_explicit) = match self.u32_(&["head_dim", "attention_head_dim"])? {
            Some(0) => {
                return Err(Error::malformed(self.path, "config.json: head_dim is 0"));
            }
            Some(d) => (d, true),
            None => {
                if hidden % n_heads as u64 != 0 {
                    return Err(Error::malformed(
                        self.path,
                        format!(
                            "config.json: hidden_size {hidden} is not divisible by \
                             num_attention_heads {n_heads} and head_dim is not given"
                        ),
                    ));
                }
                let d = u32::try_from(hidden / n_heads as u64).map_err(|_| {
                    Error::malformed(self.path, "config.json: head width out of range")
                })?;
                (d, false)
            }
        };
        let max_position_embeddings = self.uint(&[
            "max_position_embeddings",
            "n_positions",
            "seq_length",
            "max_sequence_length",
        ])?;
        let sliding_window = match self.boolean(&["use_sliding_window"])? {
            Some(false) => None,
            _ => self.uint(&["sliding_window"])?.filter(|&w| w > 0),
        };
        let model_type = self.string(&["model_type"]);
        let sliding_layers =
            self.sliding_layers(n_layers, sliding_window, model_type.as_deref(), &mut notes)?;
        let quant_method = [self.text, Some(self.top)]
            .into_iter()
            .flatten()
            .find_map(|m| m.get("quantization_config"))
            .and_then(|q| q.get("quant_method"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let architectures = self
            .find(&["architectures"])
            .and_then(|(_, v)| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        Ok(HfConfig {
            path: self.path.to_path_buf(),
            model_type,
            architectures,
            n_layers,
            hidden,
            intermediate_size: self.uint(&["intermediate_size", "n_inner", "ffn_dim"])?,
            vocab: self.uint(&["vocab_size"])?,
            n_heads,
            n_kv_heads,
            head_dim,
            head_dim_explicit,
            max_position_embeddings,
            tie_word_embeddings: self.boolean(&["tie_word_embeddings"])?,
            torch_dtype: self.string(&["torch_dtype", "dtype"]),
            sliding_window,
            sliding_layers,
            n_experts: self
                .u32_(&["num_local_experts", "num_experts", "n_routed_experts"])?
                .filter(|&n| n > 0),
            n_experts_used: self
                .u32_(&["num_experts_per_tok", "num_experts_per_token", "moe_top_k"])?
                .filter(|&n| n > 0),
            moe_intermediate_size: self.uint(&["moe_intermediate_size"])?,
            quant_method,
            notes,
        })
    }

    /// KV heads per layer: a scalar, a per-layer list, or the query head count.
    fn kv_heads(&self, n_layers: u32, n_heads: u32, notes: &mut Vec<String>) -> Result<Vec<u32>> {
        let names = ["num_key_value_heads", "num_kv_heads", "n_head_kv"];
        let per_layer = match self.find(&names) {
            None => {
                notes.push(format!(
                    "config.json has no num_key_value_heads: {n_heads} (one per query head)"
                ));
                return Ok(vec![n_heads; n_layers as usize]);
            }
            Some((k, Value::Array(items))) => {
                if items.len() != n_layers as usize {
                    return Err(Error::malformed(
                        self.path,
                        format!(
                            "config.json: {k} lists {} layers, num_hidden_layers is {n_layers}",
                            items.len()
                        ),
                    ));
                }
                items
                    .iter()
                    .map(|v| {
                        v.as_u64()
                            .and_then(|x| u32::try_from(x).ok())
                            .ok_or_else(|| self.bad(&k, "a list of head counts", v))
                    })
                    .collect::<Result<Vec<u32>>>()?
            }
            Some((k, v)) => {
                let h = v
                    .as_u64()
                    .and_then(|x| u32::try_from(x).ok())
                    .ok_or_else(|| self.bad(&k, "a head count", v))?;
                if h == 0 {
                    return Err(Error::malformed(
                        self.path,
                        format!("config.json: {k} is 0"),
                    ));
                }
                vec![h; n_layers as usize]
            }
        };
        Ok(per_layer)
    }

    /// Which layers use the sliding window.
    fn sliding_layers(
        &self,
        n_layers: u32,
        window: Option<u64>,
        model_type: Option<&str>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<bool>> {
        let n = n_layers as usize;
        if let Some((k, v)) = self.find(&["layer_types"]) {
            let items = v
                .as_array()
                .ok_or_else(|| self.bad(&k, "a list of layer types", v))?;
            if items.len() != n {
                return Err(Error::malformed(
                    self.path,
                    format!(
                        "config.json: layer_types lists {} layers, num_hidden_layers is {n}",
                        items.len()
                    ),
                ));
            }
            return Ok(items
                .iter()
                .map(|t| t.as_str().is_some_and(|s| s.contains("sliding")))
                .collect());
        }
        if window.is_none() {
            return Ok(Vec::new());
        }
        if let Some(p) = self.uint(&["sliding_window_pattern"])?.filter(|&p| p > 0) {
            // Every p-th layer is global, the others slide (gemma3).
            return Ok((0..n as u64).map(|i| (i + 1) % p != 0).collect());
        }
        if model_type == Some("gemma2") {
            notes.push("gemma2: even layers use the sliding window".to_string());
            return Ok((0..n).map(|i| i % 2 == 0).collect());
        }
        Ok(Vec::new())
    }
}
