//! `profiler generate`: greedy generation from token ids, with timings.

use crate::runtime::{LoadOptions, Model};
use anyhow::{bail, Context};
use predictor::KvDtype;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `profiler generate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// The GGUF model.
    pub file: PathBuf,
    /// Prompt token ids, comma-separated (no tokenizer is involved).
    #[arg(long = "prompt-tokens", value_delimiter = ',', required = true)]
    pub prompt_tokens: Vec<u32>,
    /// Tokens to generate.
    #[arg(long = "max-new", default_value_t = 16)]
    pub max_new: usize,
    /// Context reserved in the KV cache (default: prompt + max-new).
    #[arg(long)]
    pub ctx: Option<usize>,
    /// Sequences decoded together (each gets the same prompt).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Prefill micro-batch (tokens per sequence per step).
    #[arg(long, default_value_t = 512)]
    pub ubatch: usize,
    /// KV cache element type: f32 or f16.
    #[arg(long = "kv-dtype", default_value = "f16")]
    pub kv_dtype: KvDtype,
}

/// Runs `profiler generate`.
pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    if args.prompt_tokens.is_empty() || args.batch == 0 {
        bail!("give at least one prompt token and a batch of at least 1");
    }
    // candle's matmuls use their own pool: size it like the runtime's unless told otherwise.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var(
            "CANDLE_NUM_THREADS",
            crate::runtime::threads::thread_count().to_string(),
        );
    }
    let t = Instant::now();
    let model = Model::load(&args.file, &LoadOptions::default())
        .with_context(|| format!("loading {}", args.file.display()))?;
    let load_secs = t.elapsed().as_secs_f64();
    let ctx = args
        .ctx
        .unwrap_or(args.prompt_tokens.len() + args.max_new.max(1));
    let mut cache = model
        .alloc_cache(args.batch, ctx, args.kv_dtype)
        .context("allocating the KV cache")?;
    let prompts = vec![args.prompt_tokens.clone(); args.batch];
    let g = model
        .generate(&mut cache, &prompts, args.max_new, args.ubatch)
        .context("generating")?;
    for (i, toks) in g.tokens.iter().enumerate() {
        let ids: Vec<String> = toks.iter().map(u32::to_string).collect();
        println!("sequence {i}: {}", ids.join(","));
    }
    let prompt_total = (args.prompt_tokens.len() * args.batch) as f64;
    println!(
        "{} {}: load {:.2} s, weights {} B, KV cache {} B ({} x {} {}), prefill {} tokens in \
         {:.3} s ({:.1} tokens/s), decode {} steps in {:.3} s ({:.2} tokens/s)",
        model.hp.arch_name,
        args.file.display(),
        load_secs,
        model.weight_bytes(),
        cache.bytes(),
        args.batch,
        ctx,
        args.kv_dtype,
        prompt_total,
        g.prefill_secs,
        prompt_total / g.prefill_secs.max(1e-9),
        g.decode_steps,
        g.decode_secs,
        g.decode_tokens_per_sec()
    );
    Ok(())
}
