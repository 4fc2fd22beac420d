//! The predictor's error type.

use std::path::PathBuf;

/// Everything that can go wrong reading a model or computing an estimate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid model file; `what` says exactly what is wrong.
    #[error("{path}: {what}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the offset or tensor name where known.
        what: String,
    },
    /// The file is valid but holds something this version does not support.
    #[error("{path}: unsupported: {what}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported.
        what: String,
    },
    /// A device string that is not `cpu`, `gpu`, `cuda` or `cuda:N`.
    #[error("unknown device {0:?} (expected cpu, gpu, cuda or cuda:N)")]
    UnknownDevice(String),
    /// A run configuration value out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A backend name that no memory model exists for.
    #[error("unknown backend {0:?} (expected one of: memcal, llama.cpp, bitnet.cpp, bitnet-rs; `predictor backends` lists them)")]
    UnknownBackend(String),
    /// No preset of that name.
    #[error("unknown preset {0:?} (run `predictor presets` for the list)")]
    UnknownPreset(String),
    /// A model file that could not be read (see [`memcal_formats::Error`]).
    #[error(transparent)]
    Format(#[from] memcal_formats::Error),
    /// A calibration table that cannot be used.
    #[error("calibration table {name}: {what}")]
    Table {
        /// The table file or name.
        name: String,
        /// What is wrong.
        what: String,
    },
}

impl Error {
    /// A [`Error::Malformed`] for `path`.
    pub fn malformed(path: impl Into<PathBuf>, what: impl Into<String>) -> Error {
        Error::Malformed {
            path: path.into(),
            what: what.into(),
        }
    }
}

/// Result with the predictor's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
