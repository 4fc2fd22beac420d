//! The runtime's fixed thread pool.

use std::sync::OnceLock;

static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();

/// Threads the runtime uses: `MEMCAL_THREADS` when set to a positive integer, else the
/// available cores.
pub fn thread_count() -> usize {
    std::env::var("MEMCAL_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The rayon pool the runtime's own kernels (ternary matmuls, attention) run on, built once
/// with [`thread_count`] threads. candle's quantized matmuls use candle's own pool, sized by
/// `CANDLE_NUM_THREADS` / `RAYON_NUM_THREADS` (the `profiler` binary sets those from
/// `MEMCAL_THREADS` before any work).
pub fn pool() -> &'static rayon::ThreadPool {
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(thread_count())
            .thread_name(|i| format!("memcal-rt-{i}"))
            .build()
            // Only fails when the OS cannot spawn threads: nothing a file or user controls.
            .expect("spawning the runtime's worker threads")
    })
}
