//! The runtime's typed error.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a model in the reference runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Reading the model file failed.
    #[error("{path}: {source}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The GGUF header could not be read (the reader said why).
    #[error(transparent)]
    Header(#[from] predictor::FormatError),
    /// The file is a valid GGUF file but not a model this runtime can build.
    #[error("{path}: {what}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong (missing key or tensor, bad shape), naming it.
        what: String,
    },
    /// The file holds something this runtime does not support (architecture, tensor type).
    #[error("{path}: unsupported: {what}")]
    Unsupported {
        /// The model file.
        path: PathBuf,
        /// What is not supported.
        what: String,
    },
    /// A call with arguments that cannot work (empty batch, context overflow, bad token id).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// An error from candle.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

impl RuntimeError {
    /// A [`RuntimeError::Model`] for `path`.
    pub fn model(path: impl Into<PathBuf>, what: impl Into<String>) -> RuntimeError {
        RuntimeError::Model {
            path: path.into(),
            what: what.into(),
        }
    }

    /// A [`RuntimeError::Unsupported`] for `path`.
    pub fn unsupported(path: impl Into<PathBuf>, what: impl Into<String>) -> RuntimeError {
        RuntimeError::Unsupported {
            path: path.into(),
            what: what.into(),
        }
    }
}

/// Result with the runtime's [`RuntimeError`].
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
