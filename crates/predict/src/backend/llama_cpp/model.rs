//! llama.cpp's model buffers (`llama-model.cpp`, `llama-model-loader.cpp`): what moves
//! into the CPU backend's extra buffers (`CPU_REPACK`, `AMX`), what a mapped file gives
//! back after loading, and what the heap keeps of a load without mmap.

use super::cparams::Cparams;
use super::malloc_heap;
use super::repack::ExtraBuffers;

/// Bytes of the weights the build moves into its extra buffers (`AMX`, `CPU_REPACK`).
pub fn extra_buffer_bytes(cp: &Cparams) -> ExtraBuffers {
    match cp.build.extra_buffers {
        Some(rules) if cp.config.repack => rules.extra_buffers(&cp.isa, cp.profile),
        _ => ExtraBuffers::default(),
    }
}

/// What the heap keeps of the read buffers a load without mmap goes through: each weight
/// moved into an extra buffer is read into a buffer of its own size first (see
/// [`super::malloc_heap`]); with mmap the copies are made from the mapping.
pub fn read_buffers_retained(cp: &Cparams) -> u64 {
    let (profile, config) = (cp.profile, cp.config);
    let Some(rules) = cp
        .build
        .extra_buffers
        .filter(|_| config.repack && !config.mmap)
    else {
        return 0;
    };
    let reads: Vec<(u64, u64)> = profile
        .matmul_weights
        .iter()
        .filter(|w| w.count > 0 && rules.moves(&cp.isa, w))
        .map(|w| (w.bytes / w.count, w.count))
        .collect();
    let start = malloc_heap::threshold_after_vocabulary(profile.shape.vocab);
    malloc_heap::retained(&reads, 1, start)
}

/// Bytes at the end of a mapped file that llama.cpp gives back after loading: its mapped
/// buffer spans only the tensors it keeps, so the trailing weights that moved into an
/// extra buffer (an `output` repacked on x86, say) are unmapped.
pub fn unmapped_tail(cp: &Cparams) -> u64 {
    let (profile, config) = (cp.profile, cp.config);
    let Some(rules) = cp
        .build
        .extra_buffers
        .filter(|_| config.repack && config.mmap)
    else {
        return 0;
    };
    profile
        .trailing_weights
        .iter()
        .rev()
        .take_while(|w| rules.moves(&cp.isa, w))
        .last()
        .map_or(0, |w| w.bytes.min(profile.tensor_data_bytes))
}

/// The name the build prints for its repacked weights' buffer (`CPU_REPACK`, or
/// `CPU_AARCH64` on builds before the rename).
pub fn repack_buffer_name(cp: &Cparams) -> &'static str {
    cp.build
        .extra_buffers
        .map_or("CPU_REPACK", |r| r.repack_buffer_name())
}

/// Bytes of the weights repacked into `CPU_REPACK`.
pub fn repacked_bytes(cp: &Cparams) -> u64 {
    extra_buffer_bytes(cp).repack
}
