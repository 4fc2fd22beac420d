//! Errors as Python exceptions: the class of `memcal.errors` that fits what went wrong,
//! with the message the `predictor` command prints after `error: ` (the error and its
//! causes, `{:#}`).

use pyo3::prelude::*;
use pyo3::types::PyType;

/// The `memcal.errors` class for an error, by name.
fn class_name(e: &anyhow::Error) -> &'static str {
    for cause in e.chain() {
        if let Some(p) = cause.downcast_ref::<predictor::Error>() {
            return match p {
                predictor::Error::Format(f) => format_class(f),
                predictor::Error::Table { .. } => "TableError",
                predictor::Error::Remote(_) => "ModelReadError",
                _ => "ConfigError",
            };
        }
        if let Some(f) = cause.downcast_ref::<memcal_formats::Error>() {
            return format_class(f);
        }
    }
    "MemcalError"
}

/// The class of a reader's error.
fn format_class(e: &memcal_formats::Error) -> &'static str {
    match e {
        memcal_formats::Error::Io { .. } => "ModelReadError",
        memcal_formats::Error::Unsupported { .. } => "UnsupportedModelError",
        _ => "ModelFormatError",
    }
}

/// The OS error number under an error, if any (set as `errno` on `ModelReadError`).
fn os_error(e: &anyhow::Error) -> Option<i32> {
    e.chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error)
}

/// The Python exception for `e`.
pub fn to_py(py: Python<'_>, e: &anyhow::Error) -> PyErr {
    let message = format!("{e:#}");
    let name = class_name(e);
    let class = py
        .import("memcal.errors")
        .and_then(|m| m.getattr(name))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    let class = match class {
        Ok(c) => c,
        // The package is broken (memcal.errors missing): say so rather than lose the error.
        Err(import_error) => return import_error,
    };
    let err = PyErr::from_type(class, message);
    if let Some(errno) = os_error(e) {
        // OSError's errno, so `e.errno == errno.ENOENT` works; str(e) stays the message.
        if let Err(set) = err.value(py).setattr("errno", errno) {
            return set;
        }
    }
    err
}
