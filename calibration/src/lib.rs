//! memcal's calibration: fit corrections from measured records, validate them, write the
//! tables the predictor ships, and report the error.
//!
//! # The model
//!
//! For each group of records (backend, device kind, dominant quantization type) the
//! measured peak (peak RSS on CPU, peak GPU use on CUDA: `Record::measured_peak`) is
//! modelled from the analytic components of the same device as
//!
//! ```text
//! measured ~= fw*W + fk*K + fa*A + fo*O + c
//! ```
//!
//! - `W`, weights: stored tensor bytes resident on the device. `fw` absorbs allocation
//!   rounding and any load copy still resident at the peak (1.03: 3% above the file).
//! - `K`, KV cache: `batch x ctx x layers x KV heads x head width` in the cache dtype.
//!   `fk` absorbs allocator rounding, or (below 1) reserved pages never written.
//! - `A`, activations: the modelled peak workspace of one prefill step. `fa` says how
//!   many of the modelled intermediates are really live at once.
//! - `O`, overhead: process base plus the load transient where it exceeds what the cache
//!   and activations add later. `fo` scales that.
//! - `c`, additive: what scales with none of them (binary, libraries, thread stacks,
//!   allocator arenas): a constant per group.
//!
//! The analytic components are recomputed from each record's profile and configuration
//! with the current predictor ([`analytic`]), so a better analytic model needs a new fit,
//! not new measurements. The fit ([`fit`]) is robust (Huber IRLS on *relative* residuals,
//! so small and large models count the same and one outlier cannot dominate), bounded
//! (factors non-negative; a component absent or constant in every record keeps factor 1)
//! and dependency-free (a 5x5 solve by hand, [`linalg`]). It is then made one-sided
//! ([`one_sided`]): raised by the smallest uplift that keeps inner held-out
//! under-predictions beyond 2% rare, chosen on the training records only.
//!
//! # Validation
//!
//! [`cross_validation`] holds out whole model shapes and whole (ctx, batch) pairs; the
//! full procedure (fit and uplift) is rerun inside every fold. [`analysis`] gathers the
//! figures ([`stats`]: count, median, p95, max absolute relative error, under-prediction
//! rate, worst miss in bytes) beside those of the uncalibrated estimate.
//!
//! # Outputs
//!
//! [`tables`] writes one deterministic JSON table per group (`crates/predict/tables`),
//! [`report`] and [`plots`] regenerate `reports/`, [`check`] recomputes both from the
//! committed data and fails on any difference or a p95 above a table's figure.

#![warn(missing_docs)]

pub mod analysis;
pub mod analytic;
pub mod check;
pub mod cross_validation;
pub mod diagnosis;
pub mod engines;
pub mod error;
pub mod fit;
pub mod gpu_logs;
pub mod linalg;
pub mod meaning;
pub mod migrate;
pub mod one_sided;
pub mod paths;
pub mod plots;
pub mod provenance;
pub mod readme;
pub mod records;
pub mod report;
pub mod stats;
pub mod synthetic;
pub mod tables;

pub use error::{CalibrationError, Result};
