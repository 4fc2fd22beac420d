//! What llama.cpp's `llama-server` holds beyond a command-line run of the same model (read
//! from `tools/server` of the pinned version and measured with `profiler exec --serve`).
//!
//! - **Slots.** `-np N` slots of `-c / N` cells each (one KV stream per slot), or one
//!   buffer of `-c` cells they share with `--kv-unified` (see
//!   [`super::kv_cache::kv_geometry`]).
//! - **Continuous batching.** The prompts of every busy slot go into one logical batch of
//!   `-b` tokens, evaluated in micro-batches of `-ub`; with one stream per slot a
//!   micro-batch takes an equal share of each slot's tokens, so its graph attends over one
//!   slot's cells; with a unified buffer it attends over every slot's. Generation then
//!   evaluates one token per busy slot per step.
//! - **Outputs.** The server asks for at most one output per slot (`n_outputs_max` = slots),
//!   so its compute buffer is reserved for N rows of logits, not a micro-batch of them.
//! - **Prompt cache** (`--cache-ram`, 8192 MiB by default). When a slot takes a new request,
//!   the state of its previous one (the K and V rows of its tokens, in the cache type) is
//!   copied into host RAM, up to the limit (`-1`: up to `-c` tokens; `0`: off).
//! - **Context checkpoints** (sliding-window models): copies of a slot's sliding-window
//!   cells taken near the end of each prompt, kept with the slot and with its cached state.
//! - **The process.** An HTTP thread pool and the slots' own structures: a constant.

use super::cparams::Cparams;
use super::graph::Graph;
use super::kv_cache::{self, pad};
use crate::config::RunConfig;
use crate::profile::ModelProfile;

/// The graphs a served workload evaluates: the prompts of every slot, all busy at once,
/// in micro-batches (the widest and the last), then a generation step of one token per
/// slot at the end of the context used.
pub fn graphs(cp: &Cparams) -> Vec<Graph> {
    let (config, geo) = (cp.config, &cp.kv);
    let n = cp.n_seq;
    let ub = cp.n_ubatch;
    let prompt = config.prompt_tokens() as u64;
    let filled = config.filled_tokens() as u64;
    let total = n * prompt;
    // Cells a graph attends over when `per_slot` tokens of every slot are in the cache:
    // one slot's with a stream each, every slot's in a unified buffer.
    let attended = |per_slot: u64| {
        let cells = if geo.streams > 1 || n == 1 {
            per_slot
        } else {
            per_slot * n
        };
        pad(cells, cp.n_kv_pad)
            .max(u64::from(cp.n_kv_pad))
            .min(geo.cells)
    };
    let mut out = Vec::new();
    let first = ub.min(total);
    out.push(Graph {
        tokens: first,
        n_kv: attended(if geo.streams > 1 {
            (first / n).max(1)
        } else {
            first.div_ceil(n)
        }),
        outputs: if total <= ub { n.min(first) } else { 0 },
    });
    if total > ub {
        // The last micro-batch ends every slot's prompt: its share of tokens, over the
        // whole prompt's cells, with a row of logits per slot.
        let rest = total % ub;
        let last = if rest == 0 { ub } else { rest };
        out.push(Graph {
            tokens: ub,
            n_kv: attended(prompt),
            outputs: n.min(ub),
        });
        out.push(Graph {
            tokens: last,
            n_kv: attended(prompt),
            outputs: n.min(last),
        });
    }
    out.push(Graph {
        tokens: n,
        n_kv: attended(filled),
        outputs: n,
    });
    out
}

/// Bytes of one cell of block `l`: K and V rows where the cache keeps V.
fn cell_bytes(profile: &ModelProfile, config: &RunConfig, v_cache: bool, l: usize) -> u64 {
    let (k, v) = kv_cache::cell_bytes(profile, config.kv_dtype, v_cache, l);
    k + v
}

/// Bytes of one saved sequence state of `tokens` tokens: its K and V rows in every block, in
/// the cache type; a sliding-window block keeps only the window and the current token.
pub fn state_bytes(profile: &ModelProfile, config: &RunConfig, v_cache: bool, tokens: u64) -> u64 {
    let window = profile.shape.sliding_window.unwrap_or(u64::MAX);
    (0..profile.shape.n_layers as usize)
        .map(|l| {
            let cells = if profile.shape.is_swa(l) {
                tokens.min(window.saturating_add(1))
            } else {
                tokens
            };
            cell_bytes(profile, config, v_cache, l).saturating_mul(cells)
        })
        .sum()
}

/// The checkpoints the server takes of one request (models with sliding-window blocks
/// only): copies of the sliding-window blocks' cells, at most the window, taken before the
/// prompt's last micro-batch and before its last 4 tokens (where the prompt is that long).
pub fn request_checkpoint_bytes(profile: &ModelProfile, config: &RunConfig, v_cache: bool) -> u64 {
    let Some(window) = profile.shape.sliding_window else {
        return 0;
    };
    let p = config.prompt_tokens() as u64;
    let ub = config.effective_ubatch() as u64;
    let per_cell: u64 = (0..profile.shape.n_layers as usize)
        .filter(|&l| profile.shape.is_swa(l))
        .map(|l| cell_bytes(profile, config, v_cache, l))
        .sum();
    let max = config.serve.as_ref().map_or(0, |s| s.ctx_checkpoints) as usize;
    [p.checked_sub(4 + ub), p.checked_sub(4)]
        .into_iter()
        .flatten()
        .filter(|&at| at > 0)
        .take(max)
        .map(|at| at.min(window) * per_cell)
        .sum()
}

/// Host bytes the server keeps beyond the KV buffer: the prompt cache (the saved states of
/// earlier requests, with their checkpoints) and the checkpoints of the slots' current
/// requests; none for a family whose server has no prompt cache.
pub fn cache_bytes(cp: &Cparams) -> u64 {
    let (profile, config) = (cp.profile, cp.config);
    let Some(serve) = config
        .serve
        .as_ref()
        .filter(|_| cp.build.server_prompt_cache)
    else {
        return 0;
    };
    let n = cp.n_seq;
    let v_cache = cp.kv.v_cache;
    let ckpt = request_checkpoint_bytes(profile, config, v_cache);
    // A slot saves what it holds: the prompt and every generated token but the last, with
    // the request's checkpoints.
    let saved_tokens = (config.filled_tokens() as u64).saturating_sub(1).max(1);
    let state = state_bytes(profile, config, v_cache, saved_tokens) + ckpt;
    let slots_now = n * ckpt;
    let limit = serve.cache_limit_bytes();
    if limit == Some(0) {
        return slots_now;
    }
    // Without a byte limit the cache holds at most `-c` tokens.
    let token_cap = || {
        let total_cells = config.ctx as u64 * n;
        state_bytes(profile, config, v_cache, total_cells)
    };
    let cached = match serve.requests_per_slot {
        // Every request after a slot's first saves the state before it.
        Some(r) => n
            .saturating_mul(r.saturating_sub(1) as u64)
            .saturating_mul(state),
        // A long-running server: the cache fills to its limit.
        None => limit.unwrap_or_else(token_cap),
    };
    let cached = match limit {
        Some(l) => cached.min(l),
        None => cached.min(token_cap()),
    };
    slots_now + cached
}

#[cfg(test)]
mod tests {
    #[test]
    fn checkpoints_hold_the_window_before_the_last_micro_batch_and_the_last_tokens() {
        // Measured on Gemma 3 270M (15 sliding-window blocks of one 256-wide KV head,
        // window 512), 3 slots, -ub 384, a 700-token prompt: checkpoints at 312 and 696
        // tokens of 4.574 and 7.506 MiB, and a saved state of 703 tokens of 9.574 MiB.
        let mut p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        p.shape.n_layers = 18;
        p.shape.n_kv_heads = vec![1; 18];
        p.shape.head_dim_k = 256;
        p.shape.head_dim_v = 256;
        p.shape.sliding_window = Some(512);
        p.shape.sliding_layers = (0..18).map(|i| (i + 1) % 6 != 0).collect();
        let c = RunConfig {
            batch: 3,
            ctx: 3000,
            ubatch: 384,
            prompt: Some(700),
            decode: 4,
            serve: Some(crate::config::ServeOptions::default()),
            ..RunConfig::default()
        };
        let mib = |b: u64| b as f64 / 1048576.0;
        assert!((mib(request_checkpoint_bytes(&p, &c, true)) - (4.570 + 7.500)).abs() < 0.02);
        assert!((mib(state_bytes(&p, &c, true, 703)) - 9.574).abs() < 0.02);
    }

    use super::*;
    use crate::backend::llama_cpp::build::Family;
    use crate::backend::llama_cpp::kv_cache::kv_geometry;
    use crate::config::ServeOptions;
    use crate::presets;

    fn served(
        slots: u32,
        ctx: u32,
        prompt: u32,
        requests: Option<u32>,
        cache_ram: i64,
    ) -> RunConfig {
        RunConfig {
            batch: slots,
            ctx,
            prompt: Some(prompt),
            decode: 8,
            serve: Some(ServeOptions {
                requests_per_slot: requests,
                cache_ram_mib: cache_ram,
                ..ServeOptions::default()
            }),
            ..RunConfig::default()
        }
    }

    #[test]
    fn the_prompt_cache_holds_each_earlier_request_up_to_its_limit() {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        // 16 layers x 8 KV heads x 64 x (K+V) x f16 = 32 KiB a token.
        let per_token = 16 * 8 * 64 * 2 * 2;
        let c = served(4, 2048, 299, Some(2), 8192);
        // One wave saved: 4 slots x 306 tokens (299 + 8 - 1).
        assert_eq!(
            cache_bytes(&Cparams::new(&Family::UPSTREAM, &p, &c)),
            4 * 306 * per_token
        );
        let three = served(4, 2048, 299, Some(3), 8192);
        assert_eq!(
            cache_bytes(&Cparams::new(&Family::UPSTREAM, &p, &three)),
            8 * 306 * per_token
        );
        let off = served(4, 2048, 299, Some(3), 0);
        assert_eq!(cache_bytes(&Cparams::new(&Family::UPSTREAM, &p, &off)), 0);
        // A long-running server fills the cache to --cache-ram.
        let steady = served(4, 2048, 299, None, 100);
        assert_eq!(
            cache_bytes(&Cparams::new(&Family::UPSTREAM, &p, &steady)),
            100 << 20
        );
        // Without a byte limit, to -c tokens.
        let unlimited = served(4, 2048, 299, None, -1);
        assert_eq!(
            cache_bytes(&Cparams::new(&Family::UPSTREAM, &p, &unlimited)),
            4 * 2048 * per_token
        );
        // bitnet.cpp's 2024 fork has no prompt cache in its server.
        assert_eq!(
            cache_bytes(&Cparams::new(&Family::BITNET_FORK, &p, &steady)),
            0
        );
        assert_eq!(
            cache_bytes(&Cparams::new(&Family::BITNET_FORK, &p, &three)),
            0
        );
    }

    #[test]
    fn a_unified_buffer_attends_over_every_slot() {
        let p = presets::profile("llama-3.2-1b:Q4_0").unwrap();
        let fam = Family::UPSTREAM;
        let mut c = served(4, 4096, 1000, Some(2), 0);
        let g = graphs(&Cparams::new(&fam, &p, &c));
        assert_eq!(g.last().unwrap().n_kv, 1024);
        c.serve.as_mut().unwrap().kv_unified = true;
        let geo = kv_geometry(&fam, &p, &c);
        assert_eq!((geo.streams, geo.cells), (1, 16384));
        let g = graphs(&Cparams::new(&fam, &p, &c));
        assert_eq!(g.last().unwrap().n_kv, 4096);
        assert_eq!(g.last().unwrap().outputs, 4);
    }
}
