//! The run configuration and table options as the Python side passes them: a dict with
//! every key present, in the command line's spelling and units (the llama-cpp-python
//! aliases are resolved in Python, `memcal/_options.py`). Absent values keep the command
//! line's defaults ([`ConfigArgs::default`]).

use predictor_cli::cli::estimate::TableArgs;
use predictor_cli::cli_args::{ConfigArgs, ModelArgs};
use pyo3::FromPyObject;
use std::path::PathBuf;

/// What `estimate` and `plan` take besides the model.
#[derive(Debug, FromPyObject)]
#[pyo3(from_item_all)]
pub struct Options {
    backend: Option<String>,
    table: Option<PathBuf>,
    uncalibrated: bool,
    device: Option<String>,
    batch: Option<u32>,
    ctx: Option<u32>,
    ubatch: Option<u32>,
    /// llama-cpp-python's `n_batch`: the logical batch in tokens, which caps the
    /// micro-batch (`Llama()` sets `n_ubatch = min(n_batch, n_ubatch)`).
    max_ubatch: Option<u32>,
    kv_dtype: Option<String>,
    flash_attn: Option<String>,
    mmap: Option<String>,
    repack: Option<String>,
    prompt: Option<u32>,
    decode: Option<u32>,
    gpu_layers: Option<u32>,
    margin: Option<f64>,
    /// Served by llama-server (`--serve`); the slots are `batch`.
    serve: bool,
    kv_unified: Option<String>,
    cache_ram: Option<i64>,
    ctx_checkpoints: Option<u32>,
    /// The server's logical batch (`--n-batch`, llama.cpp's `-b`).
    server_batch: Option<u32>,
    requests: Option<u32>,
    /// `--hosts` as the command line spells it (`NAME[=SIZE],...`).
    hosts: Option<String>,
    /// `--tensor-split` as the command line spells it (`A,B,...`).
    tensor_split: Option<String>,
    split_mode: Option<String>,
    isa: Option<String>,
    engine_build: Option<u32>,
    /// `-ot` rules, `PATTERN=BUFT` each.
    override_tensor: Vec<String>,
    cpu_moe: bool,
    n_cpu_moe: Option<u32>,
    /// `-nkvo` (`offload_kqv=False` on the Python side).
    no_kv_offload: bool,
    /// `--blas`: the llama.cpp build has the BLAS backend.
    blas: bool,
    /// `--no-host`: host weights skip the GPU's pinned host buffer.
    no_host: bool,
    /// `--no-op-offload`: host weights' operations stay on the CPU.
    no_op_offload: bool,
}

impl Options {
    /// The flags `predictor estimate` would have parsed.
    pub fn config(&self) -> ConfigArgs {
        let d = ConfigArgs::default();
        let ubatch = self.ubatch.unwrap_or(d.ubatch);
        ConfigArgs {
            device: self.device.clone().unwrap_or(d.device),
            batch: self.batch.unwrap_or(d.batch),
            ctx: self.ctx.or(d.ctx),
            ubatch: self.max_ubatch.map_or(ubatch, |cap| ubatch.min(cap)),
            kv_dtype: self.kv_dtype.clone().unwrap_or(d.kv_dtype),
            flash_attn: self.flash_attn.clone().unwrap_or(d.flash_attn),
            mmap: self.mmap.clone().unwrap_or(d.mmap),
            repack: self.repack.clone().unwrap_or(d.repack),
            prompt: self.prompt.or(d.prompt),
            decode: self.decode.or(d.decode),
            gpu_layers: self.gpu_layers.or(d.gpu_layers),
            margin: self.margin.unwrap_or(d.margin),
            serve: self.serve,
            kv_unified: self.kv_unified.clone().unwrap_or(d.kv_unified),
            cache_ram: self.cache_ram.unwrap_or(d.cache_ram),
            ctx_checkpoints: self.ctx_checkpoints.unwrap_or(d.ctx_checkpoints),
            n_batch: self.server_batch.unwrap_or(d.n_batch),
            requests: self.requests.or(d.requests),
            hosts: self.hosts.clone().or(d.hosts),
            tensor_split: self.tensor_split.clone().or(d.tensor_split),
            split_mode: self.split_mode.clone().unwrap_or(d.split_mode),
            isa: self.isa.clone().or(d.isa),
            engine_build: self.engine_build.or(d.engine_build),
            override_tensor: self.override_tensor.clone(),
            cpu_moe: self.cpu_moe,
            n_cpu_moe: self.n_cpu_moe.or(d.n_cpu_moe),
            no_kv_offload: self.no_kv_offload,
            blas: self.blas,
            no_host: self.no_host,
            no_op_offload: self.no_op_offload,
        }
    }

    /// The engine and table flags.
    pub fn tables(&self) -> TableArgs {
        TableArgs {
            backend: self.backend.clone(),
            table: self.table.clone(),
            uncalibrated: self.uncalibrated,
        }
    }
}

/// The model: a file, or a preset (the Python side refuses both at once; a missing one
/// is the command's own error).
pub fn model_args(file: Option<PathBuf>, preset: Option<String>) -> ModelArgs {
    ModelArgs {
        file,
        preset,
        remote: Default::default(),
    }
}
