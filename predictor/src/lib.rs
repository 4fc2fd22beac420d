//! What the `predictor` command shares with the `profiler` command: the run-configuration
//! flags ([`cli_args`], the same spelling on every tool) and host probing
//! ([`device_memory`]: free RAM through sysinfo, free GPU memory through cudarc). The
//! prediction itself is the `memcal-predict` library.
#![warn(missing_docs)]

pub mod cli_args;
pub mod device_memory;
