//! Isolated memory measurements: each measured run happens in a fresh child process whose
//! phases are read from `/proc/self/status` (with the peak reset between phases), reaped
//! with `wait4` for `ru_maxrss`, sampled on the GPU through cudarc, and written as
//! [`predictor::record::Record`]s to a JSON Lines store. Also: the machine fingerprint,
//! sweeps over grids, and profiling of external engines (`exec`): one command, a server
//! driven with a workload ([`serve`]), or a client with its RPC workers ([`rpc`]).
#![warn(missing_docs)]

pub mod cgroup;
pub mod engine;
pub mod error;
pub mod exec;
pub mod filehash;
pub mod gpu;
pub mod isolate;
pub mod machine;
pub mod procfs;

pub mod protocol;
pub mod rpc;
pub mod runner;
pub mod serve;
pub mod software;
pub mod store;
pub mod sweep;
pub mod wait;
pub mod watch;

pub use error::{MeasureError, Result};
