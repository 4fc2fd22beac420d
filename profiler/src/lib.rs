//! memcal's profiler: a reference runtime on candle that really loads and runs models, and
//! isolated measurements of what that (or any other engine) uses.
#![warn(missing_docs)]
pub mod cli;
pub mod engine;
pub mod measure;
pub mod runtime;
pub mod suite;
pub mod synth;
