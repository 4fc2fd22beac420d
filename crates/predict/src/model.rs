//! Opens any model path (a `.gguf` file, a `.safetensors` file with its `config.json`, a
//! `model.safetensors.index.json`, or a directory holding one of these) and builds its
//! [`ModelProfile`]: shapes from the header keys or config.json, sizes from the tensor
//! table, exact to the byte.
//!
//! BitNet SafeTensors checkpoints (`quantization_config.quant_method: "bitnet"`) store their
//! ternary projections packed four weights per byte in U8 tensors. Those are reported under
//! the type name [`PACKED_TERNARY`] with their stored bytes, and their elements counted as
//! four weights per stored byte.

use crate::error::{Error, Result};
use crate::ggml_type::GgmlType;
use crate::gguf::{GgufFile, Value};
use crate::hf_config::HfConfig;
use crate::profile::{
    BlockNorms, Experts, HeaderStats, MatmulWeight, ModelFormat, ModelProfile, TensorRole,
    TypeStats,
};
use crate::safetensors::{Checkpoint, Dtype};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Largest training context accepted (2^24 tokens); larger values are treated as corrupt.
pub const MAX_CTX: u64 = crate::config::MAX_CTX as u64;
/// `by_type` name of BitNet ternary weights packed four per byte in SafeTensors U8 tensors.
pub const PACKED_TERNARY: &str = "U8_TERNARY";
/// File name of a sharded SafeTensors index.
pub const INDEX_NAME: &str = "model.safetensors.index.json";

/// Builds the profile of the model at `path` (see the module docs for what it accepts).
pub fn load_profile(path: &Path) -> Result<ModelProfile> {
    open_model(path)?.profile()
}

/// A model's parsed headers.
#[derive(Debug, Clone)]
pub enum OpenedModel {
    /// A GGUF file.
    Gguf(GgufFile),
    /// A SafeTensors checkpoint and its config.json.
    SafeTensors(Checkpoint, HfConfig),
}

impl OpenedModel {
    /// The model's profile.
    pub fn profile(&self) -> Result<ModelProfile> {
        match self {
            OpenedModel::Gguf(g) => profile_from_gguf(g),
            OpenedModel::SafeTensors(ck, cfg) => profile_from_safetensors(ck, cfg),
        }
    }
}

/// Finds the model file at `path` (a file or a directory) and parses its headers.
pub fn open_model(path: &Path) -> Result<OpenedModel> {
    let meta = fs::metadata(path).map_err(|source| Error::io(path.to_path_buf(), source))?;
    let target = if meta.is_dir() {
        find_in_dir(path)?
    } else {
        path.to_path_buf()
    };
    Ok(match kind_of(&target)? {
        Kind::Gguf => OpenedModel::Gguf(GgufFile::open_all_parts(&target)?),
        Kind::SafeTensors => {
            OpenedModel::SafeTensors(Checkpoint::open_file(&target)?, config_beside(&target)?)
        }
        Kind::Index => {
            OpenedModel::SafeTensors(Checkpoint::open_index(&target)?, config_beside(&target)?)
        }
    })
}

/// What a model file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gguf,
    SafeTensors,
    Index,
}

/// Decides by name, then by the GGUF magic.
fn kind_of(path: &Path) -> Result<Kind> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".gguf") {
        return Ok(Kind::Gguf);
    }
    if name.ends_with(".safetensors") {
        return Ok(Kind::SafeTensors);
    }
    if name.ends_with(".index.json") {
        return Ok(Kind::Index);
    }
    let mut magic = [0u8; 4];
    let is_gguf = fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"GGUF";
    if is_gguf {
        Ok(Kind::Gguf)
    } else {
        Err(Error::unsupported(
            path,
            "not a model file: expected a .gguf file, a .safetensors file, a \
             model.safetensors.index.json or a directory holding one",
        ))
    }
}

/// The model file inside a directory: its single GGUF, else its SafeTensors index, else its
/// single SafeTensors file.
fn find_in_dir(dir: &Path) -> Result<PathBuf> {
    let entries = fs::read_dir(dir).map_err(|source| Error::io(dir.to_path_buf(), source))?;
    let mut gguf = Vec::new();
    let mut st = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        let n = e.file_name().to_string_lossy().to_ascii_lowercase();
        if n.ends_with(".gguf") {
            gguf.push(p);
        } else if n.ends_with(".safetensors") {
            st.push(p);
        }
    }
    gguf.sort();
    st.sort();
    let several = |what: &str, files: &[PathBuf]| {
        Error::unsupported(
            dir,
            format!(
                "the directory holds several {what} files ({}); name one",
                files
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    match gguf.len() {
        1 => return Ok(gguf.remove(0)),
        n if n > 1 => {
            // The parts of one split model: its first part (the others are read with it).
            if let Some(first) = crate::gguf::split::first_part(&gguf) {
                return Ok(first);
            }
            return Err(several("GGUF", &gguf));
        }
        _ => {}
    }
    let index = dir.join(INDEX_NAME);
    if index.is_file() {
        return Ok(index);
    }
    match st.len() {
        1 => Ok(st.remove(0)),
        0 => Err(Error::unsupported(
            dir,
            "no .gguf, .safetensors or model.safetensors.index.json in the directory",
        )),
        _ => Err(several("SafeTensors (and no index)", &st)),
    }
}

/// Whether a SafeTensors checkpoint file or index has no config.json beside it.
pub fn lacks_config(file: &Path) -> bool {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    (name.ends_with(".safetensors") || name.ends_with(".index.json"))
        && !file
            .parent()
            .unwrap_or(Path::new("."))
            .join("config.json")
            .is_file()
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
        sizes.add(&t.name, t.dtype.name(), &dims, t.nbytes());
    }
    let shape = Shape {
        arch: "unknown".into(),
        n_layers: n_layers as u32,
        hidden: 0,
        n_heads: 0,
        n_kv_heads: Vec::new(),
        head_dim_k: 0,
        head_dim_v: 0,
        ffn: 0,
        vocab: 0,
        ctx_train: 0,
        tied: !ck.tensors().any(|t| t.name.ends_with("lm_head.weight")),
        sliding_window: None,
        sliding_layers: Vec::new(),
        experts: None,
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

/// The config.json in the same directory as `file`.
fn config_beside(file: &Path) -> Result<HfConfig> {
    let cfg = file.parent().unwrap_or(Path::new(".")).join("config.json");
    if !cfg.is_file() {
        return Err(Error::malformed(
            file,
            format!(
                "no config.json beside it ({}): SafeTensors headers do not hold the model's shape",
                cfg.display()
            ),
        ));
    }
    Ok(HfConfig::open(&cfg)?)
}

/// A short name for a profile: the file stem (or the directory name for an index).
fn short_name(path: &Path) -> String {
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem.ends_with(".index.json") {
        if let Some(dir) = path.parent().and_then(Path::file_name) {
            return dir.to_string_lossy().into_owned();
        }
    }
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or(stem)
}

/// The transformer block a tensor belongs to: the number after a `blk`, `layers`, `layer`,
/// `h`, `block` or `blocks` segment (`blk.3.attn_q.weight`, `model.layers.3.mlp...`).
pub fn layer_index(name: &str) -> Option<usize> {
    let mut parts = name.split('.');
    while let Some(p) = parts.next() {
        if matches!(p, "blk" | "layers" | "layer" | "h" | "block" | "blocks") {
            if let Some(n) = parts.clone().next().and_then(|n| n.parse::<usize>().ok()) {
                return Some(n);
            }
        }
    }
    None
}

/// Sums the tensor table into the profile's size fields.
struct Sizes {
    n_params: u64,
    data_bytes: u64,
    by_type: BTreeMap<String, TypeStats>,
    by_role: BTreeMap<TensorRole, u64>,
    layer_bytes: Vec<u64>,
    largest_bytes: u64,
    largest_elements: u64,
    load_peak: u64,
    repack_candidates: BTreeMap<String, u64>,
    /// (type, ne0, ne1, ne2) -> (count, bytes) of the matrix-multiplication weights.
    matmul: BTreeMap<(String, u64, u64, u64), (u64, u64)>,
    /// Per block: the widths of its 1-D norm weights, and whether it has q and k norms.
    norms: Vec<(Vec<u64>, bool, bool)>,
    /// The token embedding's type, dims and bytes.
    embedding: Option<(String, Vec<u64>, u64)>,
    /// See [`ModelProfile::trailing_weights`].
    trailing: Vec<MatmulWeight>,
    beyond: Vec<String>,
    spans: crate::profile::TensorSpans,
}

impl Sizes {
    fn new(n_layers: u32) -> Sizes {
        Sizes {
            n_params: 0,
            data_bytes: 0,
            by_type: BTreeMap::new(),
            by_role: BTreeMap::new(),
            layer_bytes: vec![0; n_layers as usize],
            largest_bytes: 0,
            largest_elements: 0,
            load_peak: 0,
            repack_candidates: BTreeMap::new(),
            matmul: BTreeMap::new(),
            norms: vec![(Vec::new(), false, false); n_layers as usize],
            embedding: None,
            trailing: Vec::new(),
            beyond: Vec::new(),
            spans: crate::profile::TensorSpans {
                layers: vec![[0, 0]; n_layers as usize],
                ..Default::default()
            },
        }
    }

    /// Adds one tensor; `dims` innermost first (ggml order: ne0 = the input width).
    fn add(&mut self, name: &str, type_name: &str, dims: &[u64], bytes: u64) {
        let elements = dims.iter().fold(1u64, |a, &d| a.saturating_mul(d));
        // A 2-D weight that feeds a matrix multiplication (everything 2-D but the token
        // embedding, which is only looked up by rows) with a row count divisible by 8: what
        // llama.cpp's CPU_REPACK buffer can take, if its type has a repacked layout.
        let role = TensorRole::from_tensor_name(name);
        if dims.len() == 2 && role != TensorRole::Embedding && dims[1].is_multiple_of(8) {
            *self
                .repack_candidates
                .entry(type_name.to_string())
                .or_default() += bytes;
        }
        // 2-D and merged-expert 3-D weights that multiply activations (not the embedding
        // tables, which are only looked up by rows).
        // Biases (gpt-oss's per-expert ones are 2-D) are added, never multiplied.
        let lookup = name.contains("embd") || name.contains("embed") || name.contains("wte");
        let bias = name.ends_with(".bias") || name.ends_with("_b");
        if matches!(dims.len(), 2 | 3) && role != TensorRole::Embedding && !lookup && !bias {
            self.add_matmul(type_name, dims, bytes);
        }
        if role == TensorRole::Embedding && dims.len() == 2 && self.embedding.is_none() {
            self.embedding = Some((type_name.to_string(), dims.to_vec(), bytes));
        }
        if let Some(l) = layer_index(name).filter(|&l| l < self.norms.len()) {
            if dims.len() == 1 && role == TensorRole::Norm {
                let n = &mut self.norms[l];
                let lower = name.to_ascii_lowercase();
                if lower.contains("q_norm") {
                    n.1 = true;
                } else if lower.contains("k_norm") {
                    n.2 = true;
                } else {
                    n.0.push(dims[0]);
                }
            }
        }
        // Tensors arrive in file order: see ModelProfile::sequential_load_peak_bytes.
        let copies = if matches!(type_name, "I2_S" | "TL1" | "TL2") {
            1
        } else {
            2
        };
        let at_peak = self.data_bytes.saturating_add(bytes.saturating_mul(copies));
        self.load_peak = self.load_peak.max(at_peak);
        let (start, end) = (self.data_bytes, self.data_bytes.saturating_add(bytes));
        let extend = crate::profile::TensorSpans::extend;
        match (layer_index(name), role) {
            (Some(l), _) if l < self.spans.layers.len() => {
                extend(&mut self.spans.layers[l], start, end)
            }
            (Some(_), _) => {}
            (None, TensorRole::Embedding) => extend(&mut self.spans.embedding, start, end),
            (None, TensorRole::Output | TensorRole::Norm) => {
                extend(&mut self.spans.output, start, end)
            }
            (None, _) => {}
        }
        self.n_params = self.n_params.saturating_add(elements);
        self.data_bytes = self.data_bytes.saturating_add(bytes);
        self.by_type
            .entry(type_name.to_string())
            .or_default()
            .add(elements, bytes);
        *self.by_role.entry(role).or_default() += bytes;
        match layer_index(name) {
            Some(l) if l < self.layer_bytes.len() => self.layer_bytes[l] += bytes,
            Some(_) => self.beyond.push(name.to_string()),
            None => {}
        }
        self.largest_bytes = self.largest_bytes.max(bytes);
        self.largest_elements = self.largest_elements.max(elements);
    }

    /// Counts one matrix-multiplication weight.
    fn add_matmul(&mut self, type_name: &str, dims: &[u64], bytes: u64) {
        let ne2 = dims.get(2).copied().unwrap_or(1);
        let e = self
            .matmul
            .entry((type_name.to_string(), dims[0], dims[1], ne2))
            .or_default();
        e.0 += 1;
        e.1 += bytes;
    }

    /// A tied output projection is the token embedding's data loaded a second time as
    /// the output matmul's weight (llama.cpp's `TENSOR_DUPLICATED`): it counts as one.
    fn tie_output(&mut self) {
        if let Some((ty, dims, bytes)) = self.embedding.take() {
            self.add_matmul(&ty, &dims, bytes);
        }
    }

    /// The matrix-multiplication weights by type and shape.
    fn matmul_weights(&self) -> Vec<MatmulWeight> {
        self.matmul
            .iter()
            .map(|((ty, ne0, ne1, ne2), &(count, bytes))| MatmulWeight {
                ty: ty.clone(),
                ne0: *ne0,
                ne1: *ne1,
                ne2: *ne2,
                count,
                bytes,
            })
            .collect()
    }

    /// Norm weights per block at the residual width `hidden` (the most of any block).
    fn block_norms(&self, hidden: u64) -> BlockNorms {
        let mut out = BlockNorms::default();
        for (widths, q, k) in &self.norms {
            let n = widths.iter().filter(|&&w| w == hidden).count() as u32;
            out.hidden = out.hidden.max(n);
            out.q |= q;
            out.k |= k;
        }
        out
    }

    /// The model's weight type (see [`crate::profile::weight_type`]).
    fn dominant(&self) -> String {
        crate::profile::weight_type(&self.by_type)
    }

    /// Notes about tensors outside the declared blocks and blocks without tensors.
    fn notes(&self, notes: &mut Vec<String>) {
        if let Some(first) = self.beyond.first() {
            notes.push(format!(
                "{} tensors belong to blocks beyond the declared {} (e.g. {first}); they count \
                 in the totals but not in layer_bytes",
                self.beyond.len(),
                self.layer_bytes.len()
            ));
        }
        let empty: Vec<usize> = (0..self.layer_bytes.len())
            .filter(|&l| self.layer_bytes[l] == 0)
            .collect();
        if !empty.is_empty() && empty.len() < self.layer_bytes.len() {
            notes.push(format!("blocks {empty:?} have no tensors"));
        } else if !empty.is_empty() {
            notes.push("no tensor names carry a block number".to_string());
        }
    }
}

/// The shape fields shared by both formats, checked for sanity.
struct Shape {
    arch: String,
    n_layers: u32,
    hidden: u64,
    n_heads: u32,
    n_kv_heads: Vec<u32>,
    head_dim_k: u32,
    head_dim_v: u32,
    ffn: u64,
    vocab: u64,
    ctx_train: u64,
    tied: bool,
    sliding_window: Option<u64>,
    sliding_layers: Vec<bool>,
    experts: Option<Experts>,
}

/// Assembles a profile.
fn assemble(
    path: &Path,
    format: ModelFormat,
    s: Shape,
    mut sizes: Sizes,
    file_bytes: u64,
    header: HeaderStats,
    mut notes: Vec<String>,
) -> ModelProfile {
    sizes.notes(&mut notes);
    if s.tied {
        sizes.tie_output();
    }
    let block_norms = Some(sizes.block_norms(s.hidden));
    let matmul_weights = sizes.matmul_weights();
    ModelProfile {
        name: short_name(path),
        format,
        architecture: s.arch,
        n_layers: s.n_layers,
        hidden: s.hidden,
        n_heads: s.n_heads,
        n_kv_heads: s.n_kv_heads,
        head_dim_k: s.head_dim_k,
        head_dim_v: s.head_dim_v,
        ffn: s.ffn,
        vocab: s.vocab,
        ctx_train: s.ctx_train,
        tied_embeddings: s.tied,
        sliding_window: s.sliding_window,
        sliding_layers: s.sliding_layers,
        experts: s.experts,
        n_params: sizes.n_params,
        tensor_data_bytes: sizes.data_bytes,
        file_bytes,
        dominant_type: sizes.dominant(),
        by_type: sizes.by_type,
        by_role: sizes.by_role,
        layer_bytes: sizes.layer_bytes,
        largest_tensor_bytes: sizes.largest_bytes,
        largest_tensor_elements: sizes.largest_elements,
        sequential_load_peak_bytes: sizes.load_peak,
        matmul_weights,
        trailing_weights: sizes.trailing,
        repack_candidates: sizes.repack_candidates,
        block_norms,
        header,
        spans: Some(sizes.spans),
        notes,
    }
}

/// Rejects a layer count the tensor table cannot back (also bounds the per-layer vectors).
fn check_layers(path: &Path, n_layers: u64, n_tensors: usize) -> Result<u32> {
    if n_layers == 0 {
        return Err(Error::malformed(
            path,
            "the model declares 0 transformer blocks",
        ));
    }
    if n_layers > n_tensors as u64 {
        return Err(Error::malformed(
            path,
            format!(
                "the model declares {n_layers} blocks but the file holds only {n_tensors} tensors"
            ),
        ));
    }
    u32::try_from(n_layers)
        .map_err(|_| Error::malformed(path, format!("{n_layers} blocks is out of range")))
}

/// Rejects an absurd training context.
fn check_ctx(path: &Path, key: &str, ctx: u64) -> Result<u64> {
    if ctx > MAX_CTX {
        return Err(Error::malformed(
            path,
            format!("{key} is {ctx}, beyond the {MAX_CTX} tokens any model is trained for"),
        ));
    }
    Ok(ctx)
}

/// Reads GGUF keys of the file's architecture with type checks.
struct ArchKeys<'a> {
    g: &'a GgufFile,
    arch: &'a str,
}

impl ArchKeys<'_> {
    fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }

    fn wrong(&self, suffix: &str, want: &str, v: &Value) -> Error {
        Error::malformed(
            &self.g.path,
            format!(
                "{} must be {want}, found a {} ({v})",
                self.key(suffix),
                v.value_type()
            ),
        )
    }

    /// A scalar integer key.
    fn uint(&self, suffix: &str) -> Result<Option<u64>> {
        match self.g.get(&self.key(suffix)) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(suffix, "a non-negative integer", v)),
        }
    }

    /// A key that is a scalar or one integer per layer (`n_layers` long).
    fn per_layer(&self, suffix: &str, n_layers: u32) -> Result<Option<Vec<u64>>> {
        let Some(v) = self.g.get(&self.key(suffix)) else {
            return Ok(None);
        };
        if let Some(x) = v.as_u64() {
            return Ok(Some(vec![x; n_layers as usize]));
        }
        let arr = v
            .as_array()
            .ok_or_else(|| self.wrong(suffix, "an integer or an array of integers", v))?;
        if arr.len() != n_layers as u64 {
            return Err(Error::malformed(
                &self.g.path,
                format!(
                    "{} has {} entries for {n_layers} blocks",
                    self.key(suffix),
                    arr.len()
                ),
            ));
        }
        arr.to_u64_vec()
            .map(Some)
            .ok_or_else(|| self.wrong(suffix, "an array of non-negative integers", v))
    }
}

fn to_u32(path: &Path, what: &str, v: u64) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::malformed(path, format!("{what} = {v} is out of range")))
}

/// The profile of a parsed GGUF header.
pub fn profile_from_gguf(g: &GgufFile) -> Result<ModelProfile> {
    let path = g.path.as_path();
    let arch = g
        .architecture()
        .ok_or_else(|| Error::malformed(path, "no general.architecture key: not a model file"))?;
    let k = ArchKeys { g, arch };
    let mut notes: Vec<String> = g.type_notes().to_vec();

    let n_layers = match k.uint("block_count")? {
        Some(n) => n,
        None => {
            let n = g
                .tensors
                .iter()
                .filter_map(|t| layer_index(&t.name))
                .max()
                .map_or(0, |m| m as u64 + 1);
            notes.push(format!(
                "no {arch}.block_count key: {n} blocks counted from tensor names"
            ));
            n
        }
    };
    let n_layers = check_layers(path, n_layers, g.tensors.len())?;

    let embd = g.tensor("token_embd.weight");
    let hidden = match (k.uint("embedding_length")?, embd) {
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

    let head_dim_k = match k.uint("attention.key_length")? {
        Some(0) => {
            return Err(Error::malformed(
                path,
                format!("{arch}.attention.key_length is 0"),
            ))
        }
        Some(d) => d,
        None => {
            if hidden % n_heads as u64 != 0 {
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

    let experts = match k.uint("expert_count")?.filter(|&n| n > 0) {
        None => None,
        Some(total) => {
            let active = k.uint("expert_used_count")?.unwrap_or(0);
            if active == 0 || active > total {
                notes.push(format!(
                    "{arch}.expert_used_count is {active} for {total} experts"
                ));
            }
            Some(Experts {
                total: to_u32(path, "expert_count", total)?,
                active: to_u32(path, "expert_used_count", active)?,
            })
        }
    };
    let expert_ffn = if experts.is_some() {
        k.uint("expert_feed_forward_length")?
    } else {
        None
    };
    let ffn = match (expert_ffn, k.per_layer("feed_forward_length", n_layers)?) {
        (Some(f), _) => f,
        (None, Some(f)) => f.into_iter().max().unwrap_or(0),
        (None, None) => {
            let from_tensor = g
                .tensor("blk.0.ffn_up.weight")
                .and_then(|t| t.dims.get(1).copied());
            notes.push(format!(
                "no {arch}.feed_forward_length{}",
                if from_tensor.is_some() {
                    ": taken from blk.0.ffn_up"
                } else {
                    ""
                }
            ));
            from_tensor.unwrap_or(0)
        }
    };

    let vocab = match k.uint("vocab_size")? {
        Some(v) => v,
        None => match g.get("tokenizer.ggml.tokens").and_then(Value::as_array) {
            Some(tokens) => tokens.len(),
            None => embd.and_then(|t| t.dims.get(1).copied()).unwrap_or(0),
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
    let sliding_window = k.uint("attention.sliding_window")?.filter(|&w| w > 0);
    let sliding_layers = gguf_sliding_layers(&k, n_layers, sliding_window, &mut notes)?;
    let tied = g.tensor("output.weight").is_none();

    // The run of matmul weights at the end of the data (what a mapped file can give back
    // when they move to an extra buffer): each with the bytes from its start to the end.
    let mut by_offset: Vec<&crate::gguf::TensorInfo> = g.tensors.iter().collect();
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
            ty: t.ggml_type.name().to_string(),
            ne0: t.dims[0],
            ne1: t.dims[1],
            ne2: t.dims.get(2).copied().unwrap_or(1),
            count: 1,
            bytes: data_end - t.offset,
        })
        .collect();
    trailing.reverse();
    let mut sizes = Sizes::new(n_layers);
    sizes.trailing = trailing;
    let mut odd_k = 0;
    for t in &g.tensors {
        sizes.add(&t.name, t.ggml_type.name(), &t.dims, t.nbytes);
        let k = t.dims.first().copied().unwrap_or(1);
        odd_k += usize::from(matches!(t.ggml_type, GgmlType::I2S | GgmlType::TL1) && k % 128 != 0);
    }
    if odd_k > 0 {
        notes.push(format!(
            "{odd_k} I2_S/TL1 tensors have ne0 not a multiple of 128, which the BitNet fork's \
             x86 kernels need (ARM: 64); sizes are exact regardless"
        ));
    }
    let shape = Shape {
        arch: arch.to_string(),
        n_layers,
        hidden,
        n_heads,
        n_kv_heads,
        head_dim_k,
        head_dim_v,
        ffn,
        vocab,
        ctx_train,
        tied,
        sliding_window,
        sliding_layers,
        experts,
    };
    let array_len = |key: &str| g.get(key).and_then(Value::as_array).map_or(0, |a| a.len());
    let header = HeaderStats {
        tokens: array_len("tokenizer.ggml.tokens"),
        merges: array_len("tokenizer.ggml.merges"),
        bytes: g.data_offset,
    };
    Ok(assemble(
        path,
        ModelFormat::Gguf,
        shape,
        sizes,
        g.file_bytes,
        header,
        notes,
    ))
}

/// Sliding layers of a GGUF: `attention.sliding_window_pattern` (a bool per block, or N:
/// every N-th block is global), else the family's layout (gemma2 alternates, gemma3 uses 6).
fn gguf_sliding_layers(
    k: &ArchKeys,
    n_layers: u32,
    window: Option<u64>,
    notes: &mut Vec<String>,
) -> Result<Vec<bool>> {
    let n = n_layers as usize;
    let key = "attention.sliding_window_pattern";
    if window.is_none() {
        return Ok(Vec::new());
    }
    let pattern = match k.g.get(&k.key(key)) {
        Some(Value::Array(a)) if a.elem_type() == crate::gguf::ValueType::Bool => {
            if a.len() != n as u64 {
                return Err(Error::malformed(
                    &k.g.path,
                    format!("{} has {} entries for {n} blocks", k.key(key), a.len()),
                ));
            }
            return Ok(a.iter().map(|v| v.as_bool().unwrap_or(false)).collect());
        }
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| k.wrong(key, "an integer or a bool per block", v))?,
        ),
        None => match DEFAULT_SWA_PATTERNS.iter().find(|d| d.0 == k.arch) {
            Some(&(arch, period, dense_first)) => {
                let global = if dense_first { "first" } else { "last" };
                notes.push(format!(
                    "{arch}: the {global} block of every {period} is global, the others \
                     slide (llama.cpp's default pattern)"
                ));
                return Ok(swa_pattern(n, period, dense_first));
            }
            None => None,
        },
    };
    Ok(match pattern {
        Some(p) => swa_pattern(n, p, false),
        None => Vec::new(),
    })
}

/// The sliding-window layout llama.cpp gives an architecture whose file has a window but
/// no `attention.sliding_window_pattern` (`load_swa_pattern(ml, period, dense_first)` in
/// its `load_arch_hparams`, b11434): architecture, period, whether the global block is the
/// first of each period instead of the last.
const DEFAULT_SWA_PATTERNS: &[(&str, u64, bool)] = &[
    ("afmoe", 4, false),
    ("cohere2", 4, false),
    ("cohere2moe", 4, true),
    ("exaone-moe", 4, false),
    ("exaone4", 4, false),
    ("gemma-embedding", 6, false),
    ("gemma2", 2, false),
    ("gemma3", 6, false),
    ("gemma3n", 5, false),
    ("gpt-oss", 2, false),
    ("mellum", 4, false),
    ("muse-glimmer", 4, false),
    ("olmo2", 4, false),
    ("plamo3", 8, false),
    ("smallthinker", 4, true),
];

/// Which of `n` blocks slide for a pattern of `period` (llama.cpp's `set_swa_pattern`):
/// all but the last of each period, or all but the first with `dense_first`; every block
/// with a period of 0.
fn swa_pattern(n: usize, period: u64, dense_first: bool) -> Vec<bool> {
    (0..n as u64)
        .map(|i| match (period, dense_first) {
            (0, _) => true,
            (p, true) => i % p != 0,
            (p, false) => i % p < p - 1,
        })
        .collect()
}

/// The profile of a SafeTensors checkpoint with its config.json.
pub fn profile_from_safetensors(ck: &Checkpoint, cfg: &HfConfig) -> Result<ModelProfile> {
    let path = ck.path.as_path();
    let n_tensors = ck.shards.iter().map(|s| s.tensors.len()).sum();
    let n_layers = check_layers(path, cfg.n_layers.into(), n_tensors)?;
    let mut notes = cfg.notes.clone();
    notes.extend(ck.notes.iter().cloned());
    let packed = cfg.is_bitnet_packed();
    let mut sizes = Sizes::new(n_layers);
    let mut lm_head = false;
    let mut embed_rows = None;
    let mut up_rows = None;
    for t in ck.tensors() {
        // ggml order (innermost first); a packed ternary U8 tensor holds 4 weights a byte.
        let mut dims: Vec<u64> = t.shape.iter().rev().copied().collect();
        let ty = if packed && t.dtype == Dtype::U8 {
            if let Some(d0) = dims.first_mut() {
                *d0 = d0.saturating_mul(4);
            }
            PACKED_TERNARY
        } else {
            t.dtype.name()
        };
        sizes.add(&t.name, ty, &dims, t.nbytes());
        lm_head |= t.name.ends_with("lm_head.weight");
        if t.name.ends_with("embed_tokens.weight") || t.name.ends_with("wte.weight") {
            embed_rows = t.shape.first().copied();
        }
        if up_rows.is_none() && t.name.ends_with("mlp.up_proj.weight") {
            up_rows = t.shape.first().copied();
        }
    }
    if packed {
        notes.push(format!(
            "BitNet checkpoint: U8 tensors hold 4 ternary weights per byte (listed as {PACKED_TERNARY})"
        ));
    }
    if cfg.tie_word_embeddings == Some(false) && !lm_head {
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
            up_rows.unwrap_or(0)
        }
    };
    let vocab = cfg.vocab.or(embed_rows).unwrap_or(0);
    let ctx_train = match cfg.max_position_embeddings {
        Some(c) => check_ctx(&cfg.path, "max_position_embeddings", c)?,
        None => {
            notes.push(
                "config.json has no max_position_embeddings: training context unknown".to_string(),
            );
            0
        }
    };
    let experts = cfg.n_experts.map(|total| Experts {
        total,
        active: cfg.n_experts_used.unwrap_or(0),
    });
    let arch = cfg
        .model_type
        .clone()
        .or_else(|| cfg.architectures.first().cloned())
        .unwrap_or_else(|| "unknown".to_string());
    let shape = Shape {
        arch,
        n_layers,
        hidden: cfg.hidden,
        n_heads: cfg.n_heads,
        n_kv_heads: cfg.n_kv_heads.clone(),
        head_dim_k: cfg.head_dim,
        head_dim_v: cfg.head_dim,
        ffn,
        vocab,
        ctx_train,
        tied: !lm_head,
        sliding_window: cfg.sliding_window,
        sliding_layers: cfg.sliding_layers.clone(),
        experts,
    };
    Ok(assemble(
        path,
        ModelFormat::Safetensors,
        shape,
        sizes,
        ck.file_bytes(),
        HeaderStats::default(),
        notes,
    ))
}

#[cfg(test)]
mod tests {
    use super::swa_pattern;

    /// llama.cpp's `set_swa_pattern`: the global block closes each period, or opens it
    /// with `dense_first`; a period of 0 makes every block slide.
    #[test]
    fn sliding_patterns_follow_llama_cpp() {
        assert_eq!(swa_pattern(4, 2, false), [true, false, true, false]);
        assert_eq!(
            swa_pattern(6, 3, false),
            [true, true, false, true, true, false]
        );
        assert_eq!(swa_pattern(5, 4, true), [false, true, true, true, false]);
        assert_eq!(swa_pattern(3, 0, false), [true, true, true]);
    }
}
