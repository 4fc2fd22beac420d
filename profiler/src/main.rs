//! `profiler` command line: measure the reference runtime (`run`, `sweep`), other engines
//! (`exec`), and write or run synthetic models (`synth`, `generate`). With no arguments it
//! runs the default sweep suite. The commands live in [`profiler::cli`].

/// The system allocator, reporting refused allocations of a measured child as typed events.
#[global_allocator]
static ALLOC: profiler::oom_alloc::ReportingAlloc = profiler::oom_alloc::ReportingAlloc;

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`profiler sweep --list | head`), as Unix tools do.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    profiler::cli::threads_from_env();
    profiler::cli::main()
}
