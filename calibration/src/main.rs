//! `calibration` command line.
fn main() {}
