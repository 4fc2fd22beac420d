//! The profiler's global allocator: the system allocator unchanged, plus, inside a measured
//! child, a typed report of a refused allocation. Rust aborts when an allocation fails; just
//! before, this writes the child's `Failed { oom: true }` event (with the size asked for) to
//! stdout with one `write(2)` from a stack buffer, so the parent records an `oom` from the
//! allocator's own answer instead of guessing from stderr text.

use crate::measure::protocol::alloc_failure_line;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

static REPORT: AtomicBool = AtomicBool::new(false);

/// From now on, a refused allocation writes the child's OOM event (the measured child
/// calls this first).
pub fn report_refusals() {
    REPORT.store(true, Ordering::Relaxed);
}

/// [`System`], reporting refusals (see the module docs).
pub struct ReportingAlloc;

fn refused(bytes: usize) {
    if !REPORT.load(Ordering::Relaxed) {
        return;
    }
    let mut buf = [0u8; 128];
    let n = alloc_failure_line(&mut buf, bytes);
    // SAFETY: writes `n` initialised bytes of `buf` to stdout; no allocation, no locks.
    unsafe {
        libc::write(1, buf.as_ptr().cast(), n);
    }
}

// SAFETY: every call forwards to `System` with the same arguments and returns its result.
unsafe impl GlobalAlloc for ReportingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            refused(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            refused(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            refused(new_size);
        }
        p
    }
}
