//! The graphs a run evaluates (`llama-graph.cpp`): one per micro-batch of the prompt and
//! per decode step, each by its tokens, the cells it attends and the outputs it computes;
//! and the worst case the context reserves its compute buffer for.

use super::cparams::Cparams;
use super::kv_cache::pad;

/// One compute graph: tokens in the micro-batch, cells attended, outputs computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Graph {
    /// Tokens of the micro-batch.
    pub tokens: u64,
    /// Cells attended (the `n_kv` of the graph).
    pub n_kv: u64,
    /// Rows whose logits are computed.
    pub outputs: u64,
}

/// The graphs a run evaluates: each prompt micro-batch over the cells filled so far, the
/// last one with the logits of each sequence, then one decode step at the end of the
/// context used.
pub fn run_graphs(cp: &Cparams) -> Vec<Graph> {
    let config = cp.config;
    let n_kv = |filled: u64| graph_n_kv(cp, filled);
    let ub = cp.n_ubatch;
    let prompt = config.prompt_tokens() as u64;
    let mut graphs = Vec::new();
    // The first chunk, the last full chunk and the last (partial) chunk bound the rest.
    let full = prompt / ub;
    let rest = prompt % ub;
    let last_end = prompt;
    if full > 0 {
        graphs.push(Graph {
            tokens: ub,
            n_kv: n_kv(ub),
            outputs: u64::from(rest == 0 && full == 1),
        });
        graphs.push(Graph {
            tokens: ub,
            n_kv: n_kv(full * ub),
            outputs: u64::from(rest == 0),
        });
    }
    if rest > 0 {
        graphs.push(Graph {
            tokens: rest,
            n_kv: n_kv(last_end),
            outputs: 1,
        });
    }
    let filled = config.filled_tokens() as u64;
    graphs.push(Graph {
        tokens: 1,
        n_kv: n_kv(filled),
        outputs: 1,
    });
    graphs
}

/// Cells a graph attends once `filled` positions are in the cache: padded as the engine
/// pads `n_kv`, at most the cache.
pub fn graph_n_kv(cp: &Cparams, filled: u64) -> u64 {
    pad(filled, cp.n_kv_pad)
        .max(cp.n_kv_pad as u64)
        .min(cp.kv.cells)
}

/// The graphs a one-sequence run evaluates, in order, each with its place in the run:
/// every prompt micro-batch, then every decode step. Of each kind only the graphs that
/// bound the rest for a scheduler rotating `copies` input copies are kept (the first and
/// the last `copies` prompt micro-batches, the last `copies` decode steps: later graphs
/// attend more cells, so within one copy they are the largest).
pub fn run_sequence(cp: &Cparams, copies: u32) -> Vec<(usize, Graph)> {
    let config = cp.config;
    let ub = cp.n_ubatch.max(1);
    let prompt = u64::from(config.prompt_tokens());
    let chunks = prompt.div_ceil(ub) as usize;
    let decode = config
        .filled_tokens()
        .saturating_sub(config.prompt_tokens()) as usize;
    let keep = copies.max(1) as usize;
    let mut seq = Vec::new();
    for c in 0..chunks {
        if c != 0 && c + keep < chunks {
            continue;
        }
        let end = ((c as u64 + 1) * ub).min(prompt);
        seq.push((
            c,
            Graph {
                tokens: end - c as u64 * ub,
                n_kv: graph_n_kv(cp, end),
                outputs: u64::from(c + 1 == chunks),
            },
        ));
    }
    for i in decode.saturating_sub(keep)..decode {
        seq.push((
            chunks + i,
            Graph {
                tokens: 1,
                n_kv: graph_n_kv(cp, prompt + i as u64 + 1),
                outputs: 1,
            },
        ));
    }
    seq
}

/// The worst case the engine reserves its compute buffer for (the size it prints): a full
/// micro-batch over every cell, with as many rows of logits as the context may output (a
/// micro-batch of them on the command line, one per slot in a server).
pub fn reserved_graph(cp: &Cparams) -> Graph {
    Graph {
        tokens: cp.n_ubatch,
        n_kv: cp.kv.cells,
        outputs: cp.n_outputs_max,
    }
}
