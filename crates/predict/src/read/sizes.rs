//! The tensor table summed into a profile's size fields, the same way for every format.

use crate::profile::{
    BlockNorms, BlockWeights, HeaderStats, LayerParts, MatmulWeight, ModelFormat, ModelProfile,
    ModelShape, TensorRole, TensorSpans, TypeStats,
};
use crate::weight_type::WeightType;
use std::collections::BTreeMap;
use std::path::Path;

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
pub(super) struct Sizes {
    n_params: u64,
    data_bytes: u64,
    by_type: BTreeMap<WeightType, TypeStats>,
    by_role: BTreeMap<TensorRole, u64>,
    layer_bytes: Vec<u64>,
    layer_parts: Vec<LayerParts>,
    block_weights: Vec<BlockWeights>,
    largest_bytes: u64,
    largest_elements: u64,
    load_peak: u64,
    repack_candidates: BTreeMap<WeightType, u64>,
    /// (type, ne0, ne1, ne2) -> (count, bytes) of the matrix-multiplication weights.
    matmul: BTreeMap<(WeightType, u64, u64, u64), (u64, u64)>,
    /// Per block: the widths of its 1-D norm weights, and whether it has q and k norms.
    norms: Vec<(Vec<u64>, bool, bool)>,
    /// Per block: the rows of its dense `ffn_up.weight`, and whether it has `ffn_gate`.
    ffn_up: Vec<(Option<u64>, bool)>,
    /// Whether a block holds a 2-D `attn_qkv.weight`.
    qkv: bool,
    /// The token embedding's type, dims and bytes.
    embedding: Option<(WeightType, Vec<u64>, u64)>,
    /// See [`ModelProfile::trailing_weights`].
    pub(super) trailing: Vec<MatmulWeight>,
    beyond: Vec<String>,
    spans: TensorSpans,
}

impl Sizes {
    pub(super) fn new(n_layers: u32) -> Sizes {
        Sizes {
            n_params: 0,
            data_bytes: 0,
            by_type: BTreeMap::new(),
            by_role: BTreeMap::new(),
            layer_bytes: vec![0; n_layers as usize],
            layer_parts: vec![LayerParts::default(); n_layers as usize],
            block_weights: vec![BlockWeights::default(); n_layers as usize],
            largest_bytes: 0,
            largest_elements: 0,
            load_peak: 0,
            repack_candidates: BTreeMap::new(),
            matmul: BTreeMap::new(),
            norms: vec![(Vec::new(), false, false); n_layers as usize],
            ffn_up: vec![(None, false); n_layers as usize],
            qkv: false,
            embedding: None,
            trailing: Vec::new(),
            beyond: Vec::new(),
            spans: TensorSpans {
                layers: vec![[0, 0]; n_layers as usize],
                ..Default::default()
            },
        }
    }

    /// Adds one tensor; `dims` innermost first (ggml order: ne0 = the input width).
    pub(super) fn add(&mut self, name: &str, ty: WeightType, dims: &[u64], bytes: u64) {
        let elements = dims.iter().fold(1u64, |a, &d| a.saturating_mul(d));
        // A 2-D weight that feeds a matrix multiplication (everything 2-D but the token
        // embedding, which is only looked up by rows) with a row count divisible by 8: what
        // llama.cpp's CPU_REPACK buffer can take, if its type has a repacked layout.
        let role = TensorRole::from_tensor_name(name);
        if dims.len() == 2 && role != TensorRole::Embedding && dims[1].is_multiple_of(8) {
            *self.repack_candidates.entry(ty).or_default() += bytes;
        }
        // 2-D and merged-expert 3-D weights that multiply activations (not the embedding
        // tables, which are only looked up by rows).
        // Biases (gpt-oss's per-expert ones are 2-D) are added, never multiplied.
        let lookup = name.contains("embd") || name.contains("embed") || name.contains("wte");
        let bias = name.ends_with(".bias") || name.ends_with("_b");
        let matmul =
            matches!(dims.len(), 2 | 3) && role != TensorRole::Embedding && !lookup && !bias;
        if matmul {
            self.add_matmul(ty, dims, bytes);
        }
        self.add_to_block(name, matmul.then_some((ty, dims)), bytes);
        if role == TensorRole::Embedding && dims.len() == 2 && self.embedding.is_none() {
            self.embedding = Some((ty, dims.to_vec(), bytes));
        }
        if let Some(l) = layer_index(name).filter(|&l| l < self.norms.len()) {
            let part = name.split('.').nth(2).unwrap_or("");
            if dims.len() == 2 && part == "ffn_up" {
                self.ffn_up[l].0 = Some(dims[1]);
            } else if part == "ffn_gate" {
                self.ffn_up[l].1 = true;
            } else if dims.len() == 2 && part == "attn_qkv" {
                self.qkv = true;
            }
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
        let copies = if matches!(ty.name(), "I2_S" | "TL1" | "TL2") {
            1
        } else {
            2
        };
        let at_peak = self.data_bytes.saturating_add(bytes.saturating_mul(copies));
        self.load_peak = self.load_peak.max(at_peak);
        let (start, end) = (self.data_bytes, self.data_bytes.saturating_add(bytes));
        let extend = TensorSpans::extend;
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
        self.by_type.entry(ty).or_default().add(elements, bytes);
        *self.by_role.entry(role).or_default() += bytes;
        match layer_index(name) {
            Some(l) if l < self.layer_bytes.len() => {
                self.layer_bytes[l] += bytes;
                self.layer_parts[l].add(name, bytes);
            }
            Some(_) => self.beyond.push(name.to_string()),
            None => {}
        }
        self.largest_bytes = self.largest_bytes.max(bytes);
        self.largest_elements = self.largest_elements.max(elements);
    }

    /// Adds a tensor to its block's weights in file order: a matmul weight (`matmul`: its
    /// type and dims) extends the block's trailing run, any other tensor ends it.
    fn add_to_block(&mut self, name: &str, matmul: Option<(WeightType, &[u64])>, bytes: u64) {
        let Some(b) = layer_index(name).and_then(|l| self.block_weights.get_mut(l)) else {
            return;
        };
        match matmul {
            Some((ty, dims)) => {
                b.weights.push(MatmulWeight {
                    ty,
                    ne0: dims[0],
                    ne1: dims[1],
                    ne2: dims.get(2).copied().unwrap_or(1),
                    count: 1,
                    bytes,
                });
                b.trailing += 1;
            }
            None => b.trailing = 0,
        }
    }

    /// Counts one matrix-multiplication weight.
    fn add_matmul(&mut self, ty: WeightType, dims: &[u64], bytes: u64) {
        let ne2 = dims.get(2).copied().unwrap_or(1);
        let e = self.matmul.entry((ty, dims[0], dims[1], ne2)).or_default();
        e.0 += 1;
        e.1 += bytes;
    }

    /// A tied output projection is the token embedding's data loaded a second time as
    /// the output matmul's weight (llama.cpp's `TENSOR_DUPLICATED`): it counts as one.
    fn tie_output(&mut self) {
        if let Some((ty, dims, bytes)) = self.embedding.take() {
            self.add_matmul(ty, &dims, bytes);
        }
    }

    /// The matrix-multiplication weights by type and shape.
    fn matmul_weights(&self) -> Vec<MatmulWeight> {
        self.matmul
            .iter()
            .map(|((ty, ne0, ne1, ne2), &(count, bytes))| MatmulWeight {
                ty: *ty,
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

    /// Whether a block holds its gate and up projections as one `ffn_up` of `2 * ffn`
    /// rows and no `ffn_gate` (see [`ModelProfile::fused_gate_up`]).
    fn fused_gate_up(&self, ffn: u64) -> bool {
        ffn > 0
            && self
                .ffn_up
                .iter()
                .any(|&(up, gate)| !gate && up == Some(2 * ffn))
    }

    /// Whether the dense blocks hold one `ffn_up` of `ffn` rows and no `ffn_gate` (see
    /// [`ModelProfile::ungated_ffn`]).
    fn ungated_ffn(&self, ffn: u64) -> bool {
        ffn > 0
            && self
                .ffn_up
                .iter()
                .any(|&(up, gate)| !gate && up == Some(ffn))
    }

    /// The model's weight type (see [`crate::profile::weight_type`]).
    fn dominant(&self) -> Option<WeightType> {
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

/// Assembles a profile.
pub(super) fn assemble(
    path: &Path,
    format: ModelFormat,
    shape: ModelShape,
    mut sizes: Sizes,
    file_bytes: u64,
    header: HeaderStats,
    mut notes: Vec<String>,
) -> ModelProfile {
    sizes.notes(&mut notes);
    if shape.tied_embeddings {
        sizes.tie_output();
    }
    let block_norms = Some(sizes.block_norms(shape.hidden));
    let fused_gate_up = sizes.fused_gate_up(shape.ffn);
    let ungated_ffn = sizes.ungated_ffn(shape.ffn);
    let matmul_weights = sizes.matmul_weights();
    ModelProfile {
        name: short_name(path),
        format,
        shape,
        n_params: sizes.n_params,
        tensor_data_bytes: sizes.data_bytes,
        file_bytes,
        dominant_type: sizes.dominant(),
        by_type: sizes.by_type,
        by_role: sizes.by_role,
        layer_bytes: sizes.layer_bytes,
        layer_parts: sizes.layer_parts,
        block_weights: sizes.block_weights,
        largest_tensor_bytes: sizes.largest_bytes,
        largest_tensor_elements: sizes.largest_elements,
        sequential_load_peak_bytes: sizes.load_peak,
        matmul_weights,
        trailing_weights: sizes.trailing,
        repack_candidates: sizes.repack_candidates,
        block_norms,
        fused_gate_up,
        fused_qkv: sizes.qkv,
        ungated_ffn,
        parallel_residual: false,
        header,
        spans: Some(sizes.spans),
        notes,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_keeps_its_weights_in_file_order_and_the_run_that_ends_it() {
        let q = |s: &str| s.parse::<WeightType>().unwrap();
        let mut s = Sizes::new(2);
        s.add("blk.0.attn_norm.weight", q("F32"), &[64], 256);
        s.add("blk.0.attn_qkv.weight", q("Q4_0"), &[64, 192], 6912);
        s.add("blk.0.attn_qkv.bias", q("F32"), &[192], 768);
        s.add("blk.0.ffn_up.weight", q("Q4_0"), &[64, 256], 9216);
        s.add("blk.0.ffn_down.weight", q("Q4_0"), &[256, 64], 9216);
        s.add("blk.1.attn_norm.weight", q("F32"), &[64], 256);
        let b = &s.block_weights;
        assert_eq!(b[0].weights.len(), 3);
        assert_eq!(b[0].trailing, 2);
        let last: Vec<u64> = b[0].trailing_last_first().map(|w| w.ne1).collect();
        assert_eq!(last, [64, 256]);
        // A block whose last tensor is a norm ends with no weight.
        assert_eq!((b[1].weights.len(), b[1].trailing), (0, 0));
    }
}
