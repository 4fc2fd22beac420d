//! Command-line arguments shared by every tool that takes a run configuration
//! (`predictor estimate`, `predictor plan`, `profiler run`), so the flags mean the same
//! everywhere.

use predictor::config::isa::{Isa, IsaSpec};
use predictor::config::split::{parse_hosts, parse_tensor_split, Host};
use predictor::config::{
    parse_on_off, Device, FlashAttn, KvDtype, RunConfig, ServeOptions, SplitMode, SplitOptions,
};
use predictor::error::Result;
pub use predictor::units::{human_bytes, parse_size};
use std::path::PathBuf;

/// The model to predict for: a file or a preset.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Model file: .gguf (a split model by its first part), .safetensors (config.json
    /// beside it), a model.safetensors.index.json, or a directory holding one of those;
    /// or a reference read before the download, header only: an http(s):// URL of a
    /// .gguf or .safetensors file, `hf://OWNER/REPO[@REV]/FILE`,
    /// `hf://OWNER/REPO[@REV][:QUANT]` (a GGUF picked by tag as llama.cpp's -hf does; a
    /// SafeTensors repository whole), `ollama://[NAMESPACE/]MODEL[:TAG]`.
    #[arg(required_unless_present = "preset", conflicts_with = "preset")]
    pub file: Option<PathBuf>,
    /// A built-in model shape instead of a file (see `predictor presets`); append
    /// `:TYPE` to choose the weight type, e.g. `llama-3.1-8b:Q4_0`.
    #[arg(long)]
    pub preset: Option<String>,
    /// How model references are read.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// How model references (URLs, hf://, ollama://) are read: endpoints from HF_ENDPOINT,
/// HF_TOKEN, MEMCAL_OLLAMA_REGISTRY, HTTPS_PROXY; local stores from OLLAMA_MODELS and
/// HF_HUB_CACHE/HF_HOME; the header cache in MEMCAL_CACHE_DIR or the platform cache.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoteArgs {
    /// Neither read nor write the header cache of remote models.
    #[arg(long)]
    pub no_cache: bool,
    /// Ask the network again for a remote model, replacing its cached headers.
    #[arg(long)]
    pub refresh: bool,
}

impl RemoteArgs {
    /// The library's options.
    pub fn options(&self) -> predictor::model_ref::RefOptions {
        predictor::model_ref::RefOptions {
            no_cache: self.no_cache,
            refresh: self.refresh,
        }
    }
}

/// A run configuration on the command line: the engine knobs that change memory, spelled
/// the same for `predictor estimate`, `predictor plan`, `profiler run` and `profiler exec`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Device: cpu, gpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Parallel sequences, each with its own context (llama.cpp: `-np N`); with --serve,
    /// the server's slots (`--slots` is the same flag).
    #[arg(long, visible_alias = "slots", default_value_t = 1)]
    pub batch: u32,
    /// Context length PER SEQUENCE, in tokens (default: the model's trained context, at
    /// most 4096). llama.cpp's `-c` is the total over all sequences: `-c` = ctx x batch,
    /// with `-np` = batch.
    #[arg(long)]
    pub ctx: Option<u32>,
    /// Micro-batch: tokens one compute step processes (llama.cpp: `-ub`, and `-b` at
    /// least as large).
    #[arg(long, default_value_t = 512)]
    pub ubatch: u32,
    /// KV cache type (llama.cpp: `-ctk`/`-ctv`): f32, f16, bf16, q8_0, q4_0, q4_1, q5_0,
    /// q5_1, iq4_nl.
    #[arg(long, default_value = "f16")]
    pub kv_dtype: String,
    /// Flash attention: on, off or auto (llama.cpp: `-fa`; auto is on for its CPU backend).
    #[arg(long, default_value = "auto")]
    pub flash_attn: String,
    /// Memory-map the model file: on or off (llama.cpp: `-lm mmap` / `-lm none`,
    /// bitnet.cpp: `--no-mmap` for off).
    #[arg(long, default_value = "on")]
    pub mmap: String,
    /// Let the engine repack weights for the CPU: on or off (llama.cpp: `--no-repack` for
    /// off).
    #[arg(long, default_value = "on")]
    pub repack: String,
    /// Prompt tokens per sequence the run processes (default: the planning case, a prompt
    /// that fills the context).
    #[arg(long)]
    pub prompt: Option<u32>,
    /// Tokens generated per sequence after the prompt (default 0; `profiler run`: 4).
    #[arg(long)]
    pub decode: Option<u32>,
    /// Layers on the GPU (default: all of them on CUDA). For llama.cpp this is its `-ngl`,
    /// where the output layer counts as one more (33 puts all of a 32-block model there);
    /// for memcal's runtime, blocks.
    #[arg(long)]
    pub gpu_layers: Option<u32>,
    /// Safety margin in percent, kept as headroom on top of the prediction together with
    /// the calibration table's held-out error (0: no headroom at all, `host_bytes` is the
    /// calibrated peak itself).
    #[arg(long, default_value_t = 5.0)]
    pub margin: f64,
    /// Served by llama-server: --batch (--slots) parallel slots of --ctx tokens each,
    /// continuous batching, the server's prompt cache and context checkpoints.
    #[arg(long, help_heading = "Serving (llama-server)")]
    pub serve: bool,
    /// With --serve: one KV buffer shared by all slots (`--kv-unified`): on or off.
    #[arg(long, default_value = "off", help_heading = "Serving (llama-server)")]
    pub kv_unified: String,
    /// With --serve: host RAM the server's prompt cache may fill with earlier requests'
    /// states, MiB (`--cache-ram`; 0 turns it off, -1 means no limit).
    #[arg(long, default_value_t = predictor::config::serve::DEFAULT_CACHE_RAM_MIB,
          allow_negative_numbers = true, help_heading = "Serving (llama-server)")]
    pub cache_ram: i64,
    /// With --serve: context checkpoints kept per slot for sliding-window models
    /// (`--ctx-checkpoints`).
    #[arg(long, default_value_t = predictor::config::serve::DEFAULT_CTX_CHECKPOINTS,
          help_heading = "Serving (llama-server)")]
    pub ctx_checkpoints: u32,
    /// With --serve: the server's logical batch (`-b`), prompt tokens of all slots per
    /// decode call.
    #[arg(long, default_value_t = predictor::config::serve::DEFAULT_SERVER_N_BATCH,
          help_heading = "Serving (llama-server)")]
    pub n_batch: u32,
    /// With --serve: requests each slot serves one after another (the workload's waves);
    /// default for estimates: a long-running server whose prompt cache has filled up.
    #[arg(long, help_heading = "Serving (llama-server)")]
    pub requests: Option<u32>,
    /// A model split over several machines with llama.cpp's RPC backend: NAME[=SIZE],...
    /// The first machine runs the client (llama-cli or llama-server with --rpc), each other
    /// one an rpc-server; sizes are their memory budgets (e.g. client=8G,box1=16G,box2=16G).
    #[arg(
        long,
        value_name = "HOSTS",
        help_heading = "Several machines (llama.cpp RPC)"
    )]
    pub hosts: Option<String>,
    /// With --hosts: the share of the offloaded blocks each RPC worker gets (llama.cpp's
    /// `--tensor-split`, proportions in --hosts order, workers only; default: by budget,
    /// as llama.cpp splits by each worker's free memory, or equal shares without budgets).
    #[arg(
        long,
        value_name = "A,B,..",
        help_heading = "Several machines (llama.cpp RPC)"
    )]
    pub tensor_split: Option<String>,
    /// With --hosts: how the model is split (`-sm`): layer (row needs local GPUs).
    #[arg(
        long,
        default_value = "layer",
        help_heading = "Several machines (llama.cpp RPC)"
    )]
    pub split_mode: String,
    /// CPU instruction sets of the engine build to plan for (llama.cpp's repacked and AMX
    /// weights depend on them): avx2, avx512, avx512-vnni, amx, neon, neon-dotprod,
    /// neon-i8mm, sve256-i8mm, features joined by '+', or `native` for this machine's
    /// (read from /proc/cpuinfo: what a native or all-variants build uses here). Default:
    /// avx2, the build the committed records measured, so answers do not depend on the
    /// machine asking.
    #[arg(long)]
    pub isa: Option<String>,
    /// llama.cpp build number to plan for (e.g. 11434); default: the newest measured.
    #[arg(long = "engine-build")]
    pub engine_build: Option<u32>,
    /// Tensors placed against --gpu-layers, as llama.cpp's `-ot PATTERN=BUFFER_TYPE`
    /// (regular expressions over tensor names; CPU, CUDA0, ROCm1...; repeatable): e.g.
    /// `-ot exps=CPU` keeps every routed expert in host memory, `-ot
    /// "^output\.weight$=CPU"` the output layer.
    #[arg(
        long = "override-tensor",
        value_name = "PATTERN=BUFT",
        help_heading = "GPU placement (llama.cpp)"
    )]
    pub override_tensor: Vec<String>,
    /// Keep every block's routed experts in host memory (llama.cpp's `--cpu-moe`).
    #[arg(long, help_heading = "GPU placement (llama.cpp)")]
    pub cpu_moe: bool,
    /// Keep the routed experts of the first N blocks in host memory (`--n-cpu-moe N`).
    #[arg(long, value_name = "N", help_heading = "GPU placement (llama.cpp)")]
    pub n_cpu_moe: Option<u32>,
    /// Keep the KV cache in host memory (llama.cpp's `-nkvo` / `--no-kv-offload`).
    #[arg(long, help_heading = "GPU placement (llama.cpp)")]
    pub no_kv_offload: bool,
    /// The llama.cpp build has the BLAS backend (built with GGML_BLAS=ON: OpenBLAS, MKL,
    /// BLIS): it runs the large products of weights left in host memory and prints a
    /// `CPU compute buffer` of its own beside the pinned host one. GPU runs only.
    #[arg(long, help_heading = "GPU placement (llama.cpp)")]
    pub blas: bool,
    /// llama.cpp's `--no-host`: weights left in host memory skip the GPU's pinned host
    /// buffer, so the CPU's repacked layouts (`CPU_REPACK`) take those they can (their
    /// products then run on the CPU) and the rest stay in a plain `CPU` buffer or the
    /// mapped file. Without a GPU it changes nothing.
    #[arg(long, help_heading = "GPU placement (llama.cpp)")]
    pub no_host: bool,
    /// llama.cpp's `--no-op-offload`: operations on weights left in host memory stay on the
    /// CPU whatever the batch (by default a micro-batch of 32 tokens or more runs them on
    /// the first GPU, which then holds copies of those weights and of host blocks' K and V);
    /// the CPU's compute buffer then holds that graph. Without a GPU it changes nothing.
    #[arg(long, help_heading = "GPU placement (llama.cpp)")]
    pub no_op_offload: bool,
}

impl ConfigArgs {}

/// This machine's ISA as llama.cpp sees it (x86 flags or ARM features of /proc/cpuinfo;
/// on ARM the SVE vector length from `/proc/sys/abi/sve_default_vector_length`); the
/// AVX2 baseline when /proc/cpuinfo cannot be read.
pub fn host_isa() -> Isa {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return Isa::baseline();
    };
    // The default vector length in bytes (what a new process gets).
    let sve_bits = std::fs::read_to_string("/proc/sys/abi/sve_default_vector_length")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map(|bytes| bytes * 8);
    Isa::from_cpuinfo(&info, sve_bits)
}

impl Default for ConfigArgs {
    /// The command line's defaults (`--device cpu --batch 1 --ubatch 512 --kv-dtype f16
    /// ...`), read from the flags' own declarations so that they have one source.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: ConfigArgs,
        }
        // No flag is given, so only a broken default_value could fail (a unit test parses it).
        <Defaults as clap::Parser>::try_parse_from(["defaults"])
            .map(|d| d.config)
            .expect("the run-configuration flags' defaults parse")
    }
}

impl ConfigArgs {
    /// The configuration, with the context defaulting to `min(trained, 4096)`.
    pub fn to_config(&self, ctx_train: u64) -> Result<RunConfig> {
        let device: Device = self.device.parse()?;
        if let Some(n) = self.gpu_layers.filter(|&n| n > 0 && !device.is_gpu()) {
            return Err(predictor::error::Error::InvalidConfig(format!(
                "--gpu-layers {n} puts layers on a GPU, but the device is {device}: add \
                 --device cuda (or rocm, cuda:N)"
            )));
        }
        let kv_dtype: KvDtype = self.kv_dtype.parse()?;
        let flash_attn: FlashAttn = self.flash_attn.parse()?;
        let ctx = match self.ctx {
            Some(c) => c,
            None if ctx_train > 0 => ctx_train.min(4096) as u32,
            None => 4096,
        };
        let c = RunConfig {
            device,
            batch: self.batch,
            ctx,
            ubatch: self.ubatch,
            kv_dtype,
            gpu_layers: self.gpu_layers,
            margin_pct: self.margin,
            flash_attn,
            mmap: parse_on_off("--mmap", &self.mmap)?,
            repack: parse_on_off("--repack", &self.repack)?,
            prompt: self.prompt,
            decode: self.decode.unwrap_or(0),
            serve: self.serve_options()?,
            split: self.split_options()?,
            isa: match self.isa.as_deref() {
                Some("native") => {
                    let isa = host_isa();
                    Some(IsaSpec {
                        given: isa.name.clone(),
                        isa,
                    })
                }
                other => other.map(str::parse).transpose()?,
            },
            engine_build: self.engine_build,
            tensor_overrides: crate::tensor_overrides::overrides(
                &self.override_tensor,
                self.cpu_moe,
                self.n_cpu_moe,
            )?,
            kv_offload: !self.no_kv_offload,
            blas: self.blas,
            no_host: self.no_host,
            no_op_offload: self.no_op_offload,
        };
        c.validate()?;
        Ok(c)
    }

    /// The server's options with --serve (None without it).
    pub fn serve_options(&self) -> Result<Option<ServeOptions>> {
        if !self.serve {
            return Ok(None);
        }
        Ok(Some(ServeOptions {
            kv_unified: parse_on_off("--kv-unified", &self.kv_unified)?,
            cache_ram_mib: self.cache_ram,
            ctx_checkpoints: self.ctx_checkpoints,
            n_batch: self.n_batch,
            requests_per_slot: self.requests,
        }))
    }

    /// The machines of --hosts (None without it).
    pub fn hosts(&self) -> Result<Option<Vec<Host>>> {
        self.hosts.as_deref().map(parse_hosts).transpose()
    }

    /// The split of --hosts over its RPC workers, with --tensor-split or, without it,
    /// shares proportional to the workers' budgets (llama.cpp's own default splits by each
    /// worker's free memory), or equal shares.
    pub fn split_options(&self) -> Result<Option<SplitOptions>> {
        let Some(hosts) = self.hosts()? else {
            // Without --hosts, --tensor-split spreads the model over local GPUs.
            return match &self.tensor_split {
                None => Ok(None),
                Some(ts) => {
                    let device: Device = self.device.parse()?;
                    if !device.is_gpu() {
                        return Err(predictor::Error::InvalidConfig(
                            "--tensor-split splits a model over local GPUs (--device cuda or \
                             rocm) or over RPC workers (--hosts)"
                                .into(),
                        ));
                    }
                    let shares = parse_tensor_split(ts)?;
                    let mode = self.split_mode.parse::<SplitMode>()?;
                    Ok(Some(SplitOptions::gpus(
                        device,
                        shares.len(),
                        &shares,
                        mode,
                    )?))
                }
            };
        };
        let workers = &hosts[1..];
        let names: Vec<String> = workers.iter().map(|h| h.name.clone()).collect();
        let shares = match &self.tensor_split {
            Some(ts) => parse_tensor_split(ts)?,
            None if workers.iter().all(|h| h.budget.is_some()) => workers
                .iter()
                .map(|h| h.budget.unwrap_or(0) as f64 / (1u64 << 30) as f64)
                .collect(),
            None => Vec::new(),
        };
        let mut split = SplitOptions::rpc(&names, &shares)?;
        split.mode = self.split_mode.parse::<SplitMode>()?;
        split.validate()?;
        Ok(Some(split))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_command_lines() {
        let d = ConfigArgs::default();
        assert_eq!(
            (
                d.device.as_str(),
                d.batch,
                d.ctx,
                d.ubatch,
                d.kv_dtype.as_str()
            ),
            ("cpu", 1, None, 512, "f16")
        );
        assert_eq!(
            (
                d.flash_attn.as_str(),
                d.mmap.as_str(),
                d.repack.as_str(),
                d.margin
            ),
            ("auto", "on", "on", 5.0)
        );
        let c = d
            .to_config(8192)
            .expect("the defaults are a valid configuration");
        assert_eq!(
            (c.ctx, c.decode, c.prompt, c.gpu_layers),
            (4096, 0, None, None)
        );
    }
}
