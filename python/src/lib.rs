//! `memcal._native`: the native part of memcal's Python package.
//!
//! Each function builds the argument structure the `predictor` command line would build
//! ([`EstimateArgs`], [`PlanArgs`], ...) and calls the same library function the command
//! calls, then returns the answer as the JSON text the command's `--json` prints (compact
//! instead of pretty: the same serde serialization). The Python side (`memcal/*.py`) turns
//! it into typed objects and keeps the llama-cpp-python keyword aliases. Errors are raised
//! as the classes of `memcal.errors` (the `errors` module), with the message the command prints.
//! `main` is the command line itself, for the `memcal` console script.

mod errors;
mod options;

use options::{model_args, Options};
use predictor_cli::cli::{self, estimate::EstimateArgs, inspect::InspectArgs, plan::PlanArgs};
use pyo3::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;

/// Serializes an answer as the command's `--json` does (compact).
fn to_json<T: serde::Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string(v)?)
}

/// Runs `f`, turning its error into the matching `memcal.errors` exception.
fn answer<T>(py: Python<'_>, f: impl FnOnce() -> anyhow::Result<T>) -> PyResult<T> {
    f().map_err(|e| errors::to_py(py, &e))
}

/// `predictor inspect FILE --json`.
#[pyfunction]
fn inspect(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    answer(py, || {
        to_json(&cli::inspect::inspect(&InspectArgs {
            file: path,
            json: true,
            remote: Default::default(),
        })?)
    })
}

/// `predictor estimate (FILE | --preset NAME) [options] --json`.
#[pyfunction]
#[pyo3(signature = (path, preset, options))]
fn estimate(
    py: Python<'_>,
    path: Option<PathBuf>,
    preset: Option<String>,
    options: Options,
) -> PyResult<String> {
    answer(py, || {
        let args = EstimateArgs {
            model: model_args(path, preset),
            config: options.config(),
            tables: options.tables(),
            json: true,
        };
        to_json(&cli::estimate::estimate(&args)?.json())
    })
}

/// `predictor plan (FILE | --preset NAME) [--budget SIZE] [--gpu-budget SIZE] [--gpus
/// SIZE,...] [options] --json`: one machine's plan, or a split's (`--hosts`, or llama.cpp
/// over GPUs).
#[pyfunction]
#[pyo3(signature = (path, preset, options, budget, gpu_budget, gpus))]
fn plan(
    py: Python<'_>,
    path: Option<PathBuf>,
    preset: Option<String>,
    options: Options,
    budget: Option<String>,
    gpu_budget: Option<String>,
    gpus: Vec<String>,
) -> PyResult<String> {
    answer(py, || {
        let gpus = gpus
            .iter()
            .map(|b| predictor_cli::cli_args::parse_size(b))
            .collect::<Result<Vec<u64>, _>>()?;
        let args = PlanArgs {
            model: model_args(path, preset),
            config: options.config(),
            budget: budget
                .map(|b| predictor_cli::cli_args::parse_size(&b))
                .transpose()?,
            gpu_budget: gpu_budget
                .map(|b| predictor_cli::cli_args::parse_size(&b))
                .transpose()?,
            gpus,
            tables: options.tables(),
            json: true,
        };
        to_json(&cli::plan::plan_answer(&args)?.json())
    })
}

/// `predictor presets --json`.
#[pyfunction]
fn presets(py: Python<'_>) -> PyResult<String> {
    answer(py, || to_json(&predictor::presets::all()))
}

/// `predictor backends --json`.
#[pyfunction]
fn backends(py: Python<'_>) -> PyResult<String> {
    answer(py, || to_json(&cli::backends::backends()?))
}

/// The context the model was trained for (0: the file does not say), for
/// llama-cpp-python's `n_ctx=0` ("from the model").
#[pyfunction]
#[pyo3(signature = (path, preset))]
fn trained_context(py: Python<'_>, path: Option<PathBuf>, preset: Option<String>) -> PyResult<u64> {
    answer(py, || {
        Ok(cli::load_model(&model_args(path, preset))?.shape.ctx_train)
    })
}

/// The name of ggml type `id` (llama-cpp-python's `type_k`/`type_v` are ggml type ids),
/// or None when no ggml type has that id.
#[pyfunction]
fn ggml_type_name(id: u32) -> Option<&'static str> {
    memcal_formats::ggml_type::GgmlType::from_id(id).map(|t| t.name())
}

/// The `predictor` command line run as `memcal`: `argv` is the whole command line
/// (program first); returns the exit status (output goes to the process's stdout and
/// stderr, as the command's does).
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<OsString>) -> i32 {
    // Estimates take milliseconds, but a plan without a budget may wait on the CUDA
    // driver: let other Python threads run meanwhile.
    py.detach(|| cli::main_from("memcal", argv))
}

/// The module `memcal._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(estimate, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(backends, m)?)?;
    m.add_function(wrap_pyfunction!(trained_context, m)?)?;
    m.add_function(wrap_pyfunction!(ggml_type_name, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    Ok(())
}
