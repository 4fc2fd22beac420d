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
    /// A host allocation the runtime makes fallibly (the KV cache, a tensor's read buffer)
    /// was refused.
    #[error("out of memory: allocating {bytes} bytes for {what} failed")]
    OutOfMemory {
        /// What the memory was for.
        what: String,
        /// Bytes asked for.
        bytes: u64,
    },
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

impl RuntimeError {
    /// Whether this error means memory ran out: a refused host allocation, or a CUDA
    /// allocation that failed with `CUDA_ERROR_OUT_OF_MEMORY` (or cuBLAS's
    /// `CUBLAS_STATUS_ALLOC_FAILED`) inside candle. Decided from the error's type and code,
    /// never from its text.
    pub fn is_out_of_memory(&self) -> bool {
        match self {
            RuntimeError::OutOfMemory { .. } => true,
            RuntimeError::Candle(e) => candle_is_oom(e),
            _ => false,
        }
    }
}

/// Whether a candle error is a device out-of-memory, looking through candle's wrappers.
fn candle_is_oom(e: &candle_core::Error) -> bool {
    match e {
        candle_core::Error::Context { inner, .. }
        | candle_core::Error::WithBacktrace { inner, .. } => candle_is_oom(inner),
        #[cfg(feature = "cuda")]
        candle_core::Error::Cuda(inner) => cuda_is_oom(inner.as_ref()),
        _ => false,
    }
}

#[cfg(feature = "cuda")]
fn cuda_is_oom(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    use candle_core::cuda::cudarc::cublas::result::CublasError;
    use candle_core::cuda::cudarc::cublas::sys::cublasStatus_t;
    use candle_core::cuda::cudarc::driver::{sys::CUresult, DriverError};
    if let Some(d) = e.downcast_ref::<DriverError>() {
        return d.0 == CUresult::CUDA_ERROR_OUT_OF_MEMORY;
    }
    if let Some(c) = e.downcast_ref::<candle_core::cuda::CudaError>() {
        return match c {
            candle_core::cuda::CudaError::Cuda(d) => d.0 == CUresult::CUDA_ERROR_OUT_OF_MEMORY,
            candle_core::cuda::CudaError::Cublas(b) => {
                b.0 == cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED
            }
            _ => false,
        };
    }
    e.downcast_ref::<CublasError>()
        .is_some_and(|b| b.0 == cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED)
}

/// Result with the runtime's [`RuntimeError`].
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
