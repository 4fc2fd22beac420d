//! What glibc's `malloc` keeps resident after a loader's temporary buffers are freed.
//!
//! llama.cpp reads a tensor that does not live in a plain host buffer (a repacked weight
//! without mmap, a weight sent to an RPC worker) through temporary buffers of the tensor's
//! size: a read buffer, and for RPC a message it copies the data into. glibc gives an
//! allocation of at least its mmap threshold a mapping of its own and, when such a chunk is
//! freed, raises the threshold to that chunk's size (up to 32 MiB) and the heap's trim
//! threshold to twice that. From then on same-sized and smaller buffers come from the heap;
//! freed, they stay at its top, resident, unless that free top reaches the trim threshold.
//! Traced on build 11434: a mixture-of-experts file with eighteen 27 MiB expert stacks
//! loaded without mmap keeps 27 MiB beside its buffers for the whole run; an RPC client
//! sending Qwen2.5-1.5B's 11.3 MB and 7.7 MB block tensors keeps two 7.7 MB buffers (two
//! 11.3 MB ones reach the trim threshold and are given back).

/// The largest size glibc raises its mmap threshold to (`DEFAULT_MMAP_THRESHOLD_MAX` on
/// 64-bit systems).
const MAX_THRESHOLD: u64 = 32 << 20;

/// The mmap threshold a llama.cpp process has reached when its weights start loading: the
/// vocabulary's load has freed buffers of about one `llama_token_data` record (40 bytes) per
/// token by then (traced on Qwen2.5's 151936 tokens: pairs of 3.6 and 4.6 MB buffers stay
/// on the heap, 11.3 MB ones are mapped and set the threshold).
pub fn threshold_after_vocabulary(vocab: u64) -> u64 {
    (vocab * 40).min(MAX_THRESHOLD)
}

/// Bytes left resident at the heap's top once tensors of the given sizes (`(bytes, count)`
/// pairs) have been read, each through `buffers` temporary buffers of its size alive at
/// once, in a process whose mmap threshold is `threshold` to begin with. The largest size up
/// to 32 MiB above that threshold raises it (its first read is mapped); of the sizes read
/// from the heap, the largest whose buffers stay below twice the threshold (where the heap
/// is trimmed) is what remains.
pub fn retained(reads: &[(u64, u64)], buffers: u64, threshold: u64) -> u64 {
    let buffers = buffers.max(1);
    let largest = reads
        .iter()
        .filter(|&&(s, c)| s > 0 && c > 0 && s <= MAX_THRESHOLD)
        .map(|&(s, _)| s)
        .max()
        .unwrap_or(0);
    let threshold = threshold.min(MAX_THRESHOLD);
    // Below the starting threshold every read comes from the heap, the largest included.
    let (threshold, first_mapped) = if largest > threshold {
        (largest, true)
    } else {
        (threshold, false)
    };
    if threshold == 0 {
        return 0;
    }
    let count_of = |size: u64| -> u64 {
        reads
            .iter()
            .filter(|&&(s, _)| s == size)
            .map(|&(_, c)| c)
            .sum()
    };
    let mut heap: Vec<u64> = reads
        .iter()
        .filter(|&&(s, c)| {
            c > 0
                && s > 0
                && (s < threshold || (s == threshold && (!first_mapped || count_of(s) > 1)))
        })
        .map(|&(s, _)| s)
        .collect();
    heap.sort_unstable_by(|a, b| b.cmp(a));
    heap.into_iter()
        .map(|s| buffers * s)
        .find(|&top| top < 2 * threshold)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    const QWEN_VOCAB: u64 = 151_936;

    #[test]
    fn repeated_reads_below_the_threshold_stay_on_the_heap() {
        // Eighteen 27 MiB expert stacks read one at a time: the second and later ones come
        // from the heap, and 27 MiB stays.
        let start = threshold_after_vocabulary(48_000);
        assert_eq!(retained(&[(27 * MIB, 18), (MIB, 24)], 1, start), 27 * MIB);
        // A single read of the largest size is mapped and given back; the next size stays.
        assert_eq!(retained(&[(27 * MIB, 1), (MIB, 24)], 1, start), MIB);
    }

    #[test]
    fn pairs_at_the_threshold_are_trimmed_smaller_pairs_stay() {
        // Traced RPC clients of Qwen2.5 (read buffer and message per tensor, no mmap).
        let start = threshold_after_vocabulary(QWEN_VOCAB);
        let q15 = [(11_289_600, 28), (7_741_440, 56), (1_000_000, 56)];
        assert_eq!(retained(&q15, 2, start), 2 * 7_741_440);
        let q05 = [(3_575_040, 12), (2_996_224, 48), (2_449_440, 12)];
        assert_eq!(retained(&q05, 2, start), 2 * 3_575_040);
        let q05_q8 = [(4_630_528, 72), (852_992, 48)];
        assert_eq!(retained(&q05_q8, 2, start), 2 * 4_630_528);
        // Through the mapping only the message is allocated: the largest stays.
        assert_eq!(retained(&q15, 1, start), 11_289_600);
    }

    #[test]
    fn tensors_above_32_mib_are_always_mapped() {
        assert_eq!(retained(&[(40 * MIB, 32)], 1, 0), 0);
        assert_eq!(retained(&[], 2, MIB), 0);
    }
}
