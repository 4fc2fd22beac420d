//! memcal's profiler command: the suites of synthetic models and configurations, the child
//! workload that runs the reference runtime inside a measured process, and the CLI.
//!
//! The work lives in crates of their own, re-exported here under the names the commands
//! and tests use: [`runtime`] (memcal-runtime, the reference runtime on candle), [`synth`]
//! (memcal-synth, synthetic models), [`measure`] (memcal-measure, isolated measurement,
//! sweeps and engine `exec`, without candle) and [`engine`] (its engine command lines and
//! log parsing). Without the `runtime` feature only `exec` remains, built without candle.
#![warn(missing_docs)]

pub use memcal_measure::engine;
#[cfg(feature = "runtime")]
pub use memcal_runtime as runtime;
#[cfg(feature = "runtime")]
pub use memcal_synth as synth;

pub mod cli;
pub mod oom_alloc;
#[cfg(feature = "runtime")]
pub mod suite;

/// The measurement harness (memcal-measure), plus the child workload that runs the
/// reference runtime in the measured process.
pub mod measure {
    pub use memcal_measure::*;
    #[cfg(feature = "runtime")]
    pub mod child;
}
