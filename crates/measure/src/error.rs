//! The measurement layer's error type.

use std::path::PathBuf;

/// Everything that can go wrong measuring, storing or sweeping.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A `/proc` file held something unexpected.
    #[error("{path}: {what}")]
    Proc {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// A process could not be started, waited for or signalled.
    #[error("{what}: {source}")]
    Process {
        /// What was being done (names the program).
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The child process broke the phase protocol.
    #[error("child protocol: {0}")]
    Protocol(String),
    /// A record or spec could not be encoded or decoded.
    #[error("{what}: {source}")]
    Json {
        /// What was being encoded or decoded.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The predictor could not read the model or estimate the configuration.
    #[error(transparent)]
    Predictor(#[from] predictor::Error),
    /// The reference runtime failed.
    #[error("runtime: {0}")]
    Runtime(String),
    /// A request that cannot be honoured (unknown suite, impossible grid, no device).
    #[error("{0}")]
    Invalid(String),
}

impl MeasureError {
    /// An [`MeasureError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> MeasureError {
        MeasureError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`MeasureError`].
pub type Result<T, E = MeasureError> = std::result::Result<T, E>;
