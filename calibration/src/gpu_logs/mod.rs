//! The public GPU log corpus (calibration/gpu-logs): llama.cpp runs whose buffer lines
//! users posted, each replayed through memcal's estimate buffer by buffer ([`replay()`])
//! from its model rebuilt from the log ([`rebuild`]).

pub mod breakdown;
pub mod corpus;
pub mod rebuild;
pub mod replay;
pub mod report;

pub use corpus::{load, Run};
pub use replay::{cover, replay, Covered, Outcome, Source};
