//! `profiler` command line.
fn main() {}
