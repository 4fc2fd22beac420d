//! Calibration: the tables fitted on measured records ([`table`], the format the
//! calibration crate writes; [`table_set`], the embedded or loaded ones) and their
//! correction applied on top of an engine's analytic estimate ([`apply`]).

pub mod apply;
pub mod table;
pub mod table_set;

pub use apply::{bits_per_weight, calibrated, calibrated_for};
pub use table::CalibrationTable;
pub use table_set::{TableMatch, TableSet};
