//! The calibration crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong loading records, fitting, writing tables or plotting.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A record line that does not parse or has an unsupported schema.
    #[error("{path}:{line}: {what}")]
    Record {
        /// The data file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A calibration table that cannot be read.
    #[error("{path}: {source}")]
    Table {
        /// The table file.
        path: PathBuf,
        /// The predictor's description of the problem.
        #[source]
        source: predictor::Error,
    },
    /// A fit that cannot be computed (too few records, singular system).
    #[error("fit of {group}: {what}")]
    Fit {
        /// The group (`<backend>/<device kind>/<qtype>`) or fold being fitted.
        group: String,
        /// Why.
        what: String,
    },
    /// A file of the public GPU log corpus that is not a run.
    #[error("{path}: not a corpus run: {what}")]
    GpuLog {
        /// The corpus file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A plot that could not be drawn or saved.
    #[error("plot {name}: {what}")]
    Plot {
        /// The plot's file stem.
        name: String,
        /// The drawing backend's message.
        what: String,
    },
}

impl CalibrationError {
    /// An [`CalibrationError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> CalibrationError {
        CalibrationError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`CalibrationError::Fit`] for `group`.
    pub fn fit(group: impl Into<String>, what: impl Into<String>) -> CalibrationError {
        CalibrationError::Fit {
            group: group.into(),
            what: what.into(),
        }
    }
}

/// Result with the calibration crate's [`CalibrationError`].
pub type Result<T, E = CalibrationError> = std::result::Result<T, E>;
