//! The BLAS backend of a llama.cpp build made with `GGML_BLAS=ON` (OpenBLAS, MKL, BLIS...):
//! its compute buffer, printed as `CPU compute buffer` beside the pinned host one, and the
//! products it takes from op offload.
//!
//! The scheduler gives an op with a weight the first backend that supports the weight's
//! buffer and the op (`ggml_backend_sched_backend_from_buffer`), and lets a GPU offload it
//! only when that backend is the last one, the CPU (`ggml_backend_sched_backend_id_from_cur`,
//! ggml-backend.cpp). BLAS sits between the GPUs and the CPU, accepts host buffers and takes
//! `MUL_MAT` with both result dimensions and the input width at least 32
//! (`ggml_backend_blas_device_supports_op`, ggml-blas.cpp): so with a micro-batch of 32 or
//! more, every plain matrix product of a weight in host memory runs on BLAS rather than
//! being offloaded; merged experts (`MUL_MAT_ID`) and the element-wise ops of host weights
//! (norms) are still offloaded. A product's input comes from the GPU that ran the op before
//! it (a norm, offloaded), so BLAS's buffer holds a copy of it beside the product's result.
//!
//! Checked against ik_llama.cpp discussion #357's b5269 logs (Qwen3-235B-A22B Q6_K): 8.25
//! MiB with the experts' blocks on the CPU (a copy of the 4096-wide input and the router's
//! 128 logits for 512 tokens) and 304.75 MiB with the output layer on the CPU too (the
//! input and 151,936 logits).

use super::residence::Residence;
use crate::backend::llama_cpp::cparams::Cparams;

const F32: u64 = 4;
/// `min_batch` of `ggml_backend_blas_device_supports_op`.
const MIN_BATCH: u64 = 32;

/// One matrix product of a weight: its input width (`ne10`) and result rows (`ne0`).
type Product = (u64, u64);

/// The products of a block's attention (q, k, v, output projection), from the shape.
fn attention_products(cp: &Cparams) -> Vec<Product> {
    let s = &cp.profile.shape;
    let (d, h) = (s.hidden, u64::from(s.n_heads));
    let (dk, dv) = (u64::from(s.head_dim_k), u64::from(s.head_dim_v));
    let hkv = u64::from(s.max_kv_heads());
    vec![(d, h * dk), (d, hkv * dk), (d, hkv * dv), (h * dv, d)]
}

/// The plain products of a block's feed-forward part: the router of a mixture of experts
/// (its experts are `MUL_MAT_ID`; a shared expert's products are not listed, its width not
/// being in the shape), else the gate, up (fused or not) and down products.
fn ffn_products(cp: &Cparams) -> Vec<Product> {
    let s = &cp.profile.shape;
    let (d, f) = (s.hidden, s.ffn);
    match s.moe() {
        Some(e) => vec![(d, u64::from(e.total))],
        None if cp.profile.fused_gate_up => vec![(d, 2 * f), (f, d)],
        None => vec![(d, f), (d, f), (f, d)],
    }
}

/// Whether BLAS takes a product of `t` tokens.
fn takes(t: u64, (ne10, ne0): Product) -> bool {
    t >= MIN_BATCH && ne10 >= MIN_BATCH && ne0 >= MIN_BATCH
}

/// Bytes of BLAS's compute buffer for the reserved micro-batch: the largest product it
/// takes, with the copy of its input (0 when it takes none: nothing is printed then).
pub fn blas_compute_bytes(cp: &Cparams, res: &Residence) -> u64 {
    if !cp.config.blas {
        return 0;
    }
    let t = cp.n_ubatch;
    let mut products = Vec::new();
    if res.parts.iter().any(|p| p[0].is_none()) {
        products.extend(attention_products(cp));
    }
    if res.parts.iter().any(|p| p[1].is_none()) {
        products.extend(ffn_products(cp));
    }
    if res.place.output.is_none() {
        products.push((cp.profile.shape.hidden, cp.profile.shape.vocab));
    }
    products
        .into_iter()
        .filter(|&p| takes(t, p))
        .map(|(ne10, ne0)| (ne10 + ne0) * t * F32)
        .max()
        .unwrap_or(0)
}

/// Whether BLAS takes the plain products of host weights from op offload in this run.
pub fn takes_host_products(cp: &Cparams) -> bool {
    cp.config.blas && cp.n_ubatch >= MIN_BATCH
}

/// The note of a run with BLAS and blocks' attention in host memory: the CPU backend runs
/// that attention beside BLAS, and its share of the pinned host compute buffer is not
/// modelled (b5269 with no block offloaded printed 65.01 MiB there, memcal's inputs-only
/// figure 40.09). The corpus replay leaves out the runs whose estimate carries it.
pub const HOST_ATTENTION_NOTE: &str = "--blas with blocks' attention in host memory: the CPU \
     backend's share of the graph beside BLAS (their RoPE and attention) is not modelled; the \
     pinned host compute buffer may be larger than shown";

/// [`HOST_ATTENTION_NOTE`] where it applies: BLAS on, and a block's attention on the host.
pub fn note(cp: &Cparams, res: &Residence) -> Option<String> {
    (cp.config.blas && res.parts.iter().any(|p| p[0].is_none()))
        .then(|| HOST_ATTENTION_NOTE.to_string())
}
