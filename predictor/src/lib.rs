//! The `predictor` command as a library: the command line itself ([`cli`], run by the
//! `predictor` binary and by the Python package's `memcal` command and functions), and
//! what the `profiler` command shares with it: the run-configuration flags ([`cli_args`],
//! the same spelling on every tool) and host probing ([`device_memory`]: free RAM through
//! sysinfo, free GPU memory through cudarc). The prediction itself is the
//! `memcal-predict` library.
#![warn(missing_docs)]

pub mod cli;
pub mod cli_args;
pub mod device_memory;
pub mod tensor_overrides;
