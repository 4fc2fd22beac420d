//! `profiler` command line: measure the reference runtime (`run`, `sweep`), other engines
//! (`exec`), and write or run synthetic models (`synth`, `generate`). With no arguments it
//! runs the default sweep suite. The commands live in [`profiler::cli`].

fn main() -> std::process::ExitCode {
    profiler::cli::threads_from_env();
    profiler::cli::main()
}
