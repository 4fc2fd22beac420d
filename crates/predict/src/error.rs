//! The predictor's error type.

use std::path::PathBuf;

/// Everything that can go wrong reading a model or computing an estimate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A device string that is not `cpu`, `gpu`, `cuda`, `rocm` or one of those with `:N`.
    #[error("unknown device {0:?} (expected cpu, cuda, cuda:N, rocm or rocm:N; gpu means cuda)")]
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
    /// A model file that could not be read, is malformed, or holds something unsupported
    /// (the readers' [`memcal_formats::Error`], naming the file).
    #[error(transparent)]
    Format(#[from] memcal_formats::Error),
    /// A model reference that could not be resolved or read (`memcal-remote`'s error,
    /// naming the URL and the fault).
    #[error(transparent)]
    Remote(Box<dyn std::error::Error + Send + Sync + 'static>),
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
    /// A file that could not be read ([`memcal_formats::Error::Io`]).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Format(memcal_formats::Error::Io {
            path: path.into(),
            source,
        })
    }

    /// A file that is not a valid model file ([`memcal_formats::Error::Malformed`]).
    pub fn malformed(path: impl Into<PathBuf>, what: impl Into<String>) -> Error {
        Error::Format(memcal_formats::Error::malformed(path, what))
    }

    /// A valid file holding something this version does not support
    /// ([`memcal_formats::Error::Unsupported`]).
    pub fn unsupported(path: impl Into<PathBuf>, what: impl Into<String>) -> Error {
        Error::Format(memcal_formats::Error::Unsupported {
            path: path.into(),
            what: what.into(),
        })
    }
}

/// Result with the predictor's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
