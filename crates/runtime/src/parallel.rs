//! The parallel driver shared by the runtime's own matmul kernels: work is split over the
//! weight matrix's output rows, so each weight row is read (and unpacked) once per call and
//! dotted with every activation row.

use crate::threads::pool;

/// Raw output pointer shared by the workers; each writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: workers write disjoint indices (distinct weight rows), see `matmul_by_rows`.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Weight rows handled by one task.
const ROWS_PER_TASK: usize = 16;

/// Computes `m x n` outputs (`m` activation rows, `n` weight rows) in parallel over the
/// weight rows. `row(state, r, col)` must fill `col` (length `m`) with the outputs of weight
/// row `r` for every activation row; `init` builds each task's scratch state.
pub fn matmul_by_rows<S, I, F>(n: usize, m: usize, init: I, row: F) -> Vec<f32>
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [f32]) + Sync + Send,
{
    use rayon::prelude::*;
    let mut out = vec![0f32; m * n];
    if m == 0 || n == 0 {
        return out;
    }
    let ptr = OutPtr(out.as_mut_ptr());
    let tasks = n.div_ceil(ROWS_PER_TASK);
    pool().install(|| {
        (0..tasks).into_par_iter().for_each_init(
            || (init(), vec![0f32; m]),
            |(state, col), t| {
                let p = ptr;
                for r in t * ROWS_PER_TASK..((t + 1) * ROWS_PER_TASK).min(n) {
                    row(state, r, col);
                    for (i, &v) in col.iter().enumerate() {
                        // SAFETY: i < m and r < n, so the index is inside `out`; each (i, r)
                        // is written by exactly one task (the one owning weight row r).
                        unsafe { *p.0.add(i * n + r) = v };
                    }
                }
            },
        );
    });
    out
}
