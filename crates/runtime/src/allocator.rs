//! The process allocator's settings that make the runtime's peak memory its live buffers.
//!
//! glibc raises its mmap threshold dynamically: after a buffer of size X (up to 32 MiB) is
//! freed, later buffers up to X come from the heap instead of their own mapping, and freed
//! heap memory stays resident. A step's f32 buffers (scores, FFN activations) then leave
//! their memory behind, and the measured peak becomes a mix of what is live and what a
//! previous layer happened to free: up to twice the live peak, depending on buffer sizes
//! relative to 32 MiB (seen in the first CPU sweep). Fixing the threshold (which turns the
//! dynamic adjustment off) gives every buffer of 128 KiB or more its own mapping, returned on
//! free, so the peak is what is live, as with an engine that plans its compute buffers.

use std::sync::Once;

/// Buffers at least this large get their own mapping (glibc's default initial threshold).
pub const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD_BYTES`] for the whole process (once;
/// later calls do nothing). A no-op outside glibc.
pub fn fix_mmap_threshold() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        }
    });
}
