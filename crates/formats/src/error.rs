//! The readers' error type.

use std::path::PathBuf;

/// What can go wrong reading a model file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

/// Result with the readers' [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
