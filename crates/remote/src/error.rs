//! The error of resolving and reading a model reference: each names the URL (or path) and
//! what is wrong with it.

use std::path::PathBuf;

/// What can go wrong resolving or reading a model reference.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reference is not one of the accepted forms.
    #[error("{reference:?} is not a model reference: {what}")]
    Reference {
        /// The reference as given.
        reference: String,
        /// What is wrong and which forms are accepted.
        what: String,
    },
    /// The server answered with an error status (after the retries, for 429 and 5xx).
    #[error("{url}: HTTP {status}{}: {what}", reason_of(*status))]
    Status {
        /// The URL asked.
        url: String,
        /// The status code.
        status: u16,
        /// What it means here.
        what: String,
    },
    /// The connection failed, timed out or broke off (after the retries).
    #[error("{url}: {what}")]
    Transport {
        /// The URL asked.
        url: String,
        /// What happened.
        what: String,
    },
    /// The server's answer does not make sense (lengths, ranges, JSON).
    #[error("{url}: {what}")]
    Protocol {
        /// The URL asked.
        url: String,
        /// What is wrong with the answer.
        what: String,
    },
    /// The reference names nothing the repository or registry holds.
    #[error("{url}: {what}")]
    NotFound {
        /// What was asked.
        url: String,
        /// What is missing.
        what: String,
    },
    /// A model header that the readers refuse (naming the URL or file).
    #[error(transparent)]
    Format(#[from] memcal_formats::Error),
    /// The header cache could not be written.
    #[error("header cache {path}: {what}")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// What failed.
        what: String,
    },
}

/// The standard reason phrase after the code, e.g. ` Not Found`.
fn reason_of(status: u16) -> &'static str {
    match status {
        400 => " Bad Request",
        401 => " Unauthorized",
        403 => " Forbidden",
        404 => " Not Found",
        408 => " Request Timeout",
        410 => " Gone",
        416 => " Range Not Satisfiable",
        429 => " Too Many Requests",
        500 => " Internal Server Error",
        502 => " Bad Gateway",
        503 => " Service Unavailable",
        504 => " Gateway Timeout",
        _ => "",
    }
}

impl Error {
    /// A [`Error::Protocol`] for `url`.
    pub fn protocol(url: impl Into<String>, what: impl Into<String>) -> Error {
        Error::Protocol {
            url: url.into(),
            what: what.into(),
        }
    }
}

/// Result with the remote [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
