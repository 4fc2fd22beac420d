//! `predictor` command line.
fn main() {}
