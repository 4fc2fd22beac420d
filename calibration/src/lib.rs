//! memcal's calibration: fit corrections from measured records, validate them, write the
//! tables the predictor ships, and report the error.
#![warn(missing_docs)]
