//! Parsing a 7B-class header (Llama-3-8B shape: 291 Q4_K tensors, 128,256 tokens with
//! scores and types, with and without 280,147 merges) does work proportional to the tensor
//! table, not to the tokenizer: the number of allocations a parse makes is counted (a
//! deterministic check, unlike a timing) and must not grow with the vocabulary. The time is
//! the criterion bench's job (`cargo bench -p memcal-benches --bench predictor_latency`,
//! target < 2 ms); this test prints it for information only.

mod support;

use memcal_formats::gguf::writer::GgufWriter;
use memcal_formats::gguf::{GgufFile, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts allocations (all threads; the parse is single-threaded).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Median and minimum time of 7 parses of `w` written sparse (after a warm-up parse), and
/// the allocations of one parse.
fn time_parse(w: &GgufWriter, name: &str) -> (Duration, Duration, u64, GgufFile) {
    let dir = support::tempdir();
    let path = dir.path().join(name);
    let len = w.write_sparse_file(&path).expect("write");
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let first = GgufFile::open(&path).expect("parse"); // also warms the page cache
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(first.tensors.len(), 291);
    assert_eq!(first.file_bytes, len);
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let g = GgufFile::open(&path).expect("parse");
        times.push(t.elapsed());
        let n = g
            .get("tokenizer.ggml.tokens")
            .and_then(Value::as_array)
            .map(|a| a.len());
        assert_eq!(n, Some(128256));
    }
    times.sort();
    (times[times.len() / 2], times[0], allocations, first)
}

#[test]
fn seven_b_header_parses_fast() {
    for merges in [false, true] {
        let w = support::llama3_8b_header(merges);
        let header = w.header_bytes().expect("header").len();
        let (median, min, allocations, g) = time_parse(&w, "llama3-8b-q4_k.gguf");
        eprintln!(
            "7B-class header, 128k tokens{}: {header} header bytes, {allocations} allocations, \
             median parse {median:?} (min {min:?}, information only)",
            if merges { " + 280k merges" } else { "" },
        );
        // A few per tensor (name, dims) and per key; nothing per token or merge.
        assert!(
            allocations < 4 * 291 + 200,
            "{allocations} allocations for 291 tensors: the parse allocates per array element"
        );
        // Decoding on demand still works.
        let mut tokens = g
            .get("tokenizer.ggml.tokens")
            .and_then(Value::as_str_array)
            .expect("tokens");
        assert_eq!(tokens.nth(128255).as_deref(), Some("Ġtok128255"));
    }
}
