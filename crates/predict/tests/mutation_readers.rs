//! Bounded, seeded mutation test of both readers (on stable; the cargo-fuzz targets live in
//! fuzz/). Thousands of corrupted files: byte flips, truncation at every header
//! offset, huge counts and lengths, bad type ids, misaligned/overlapping offsets,
//! overflowing dims, corrupted JSON. Each must give Ok or Err, never panic, finish quickly,
//! and never allocate more than a bound tied to the file's size (checked with a counting
//! global allocator).

#[path = "../../formats/tests/support/mod.rs"]
mod support;

use memcal_predict::ggml_type::GgmlType;
use memcal_predict::gguf::writer::GgufWriter;
use memcal_predict::gguf::{GgufFile, OwnedArray, Value};
use memcal_predict::hf_config::HfConfig;
use memcal_predict::read::profile_from_gguf;
use memcal_predict::safetensors::SafeTensorsFile;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

/// Counts this thread's live heap bytes while enabled, and their peak.
struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    let _ = ON.try_with(|on| {
        if on.get() {
            let live = LIVE.with(|l| {
                l.set(l.get() + n);
                l.get()
            });
            PEAK.with(|p| p.set(p.get().max(live)));
        }
    });
}

fn shrank(n: usize) {
    let _ = ON.try_with(|on| {
        if on.get() {
            LIVE.with(|l| l.set(l.get().saturating_sub(n)));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        shrank(layout.size());
        grew(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the peak of bytes it held live.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    ON.with(|o| o.set(true));
    let out = f();
    ON.with(|o| o.set(false));
    (out, PEAK.with(Cell::get))
}

/// Deterministic xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING_U64: [u64; 10] = [
    0,
    1,
    31,
    33,
    1 << 31,
    1 << 40,
    i64::MAX as u64,
    i64::MAX as u64 + 1,
    u64::MAX,
    u64::MAX - 7,
];
const INTERESTING_U32: [u32; 12] = [0, 4, 5, 8, 9, 13, 36, 37, 38, 39, 42, u32::MAX];

/// A small BitNet-like header with arrays, nested arrays, and ambiguous type ids; the data
/// section is zeros.
fn base_gguf() -> Vec<u8> {
    let mut w = GgufWriter::new();
    let ok = "base file";
    let a = "bitnet-b1.58";
    w.add_string("general.architecture", a).expect(ok);
    w.add_u32("general.file_type", 40).expect(ok);
    w.add_u32(&format!("{a}.block_count"), 2).expect(ok);
    w.add_u32(&format!("{a}.context_length"), 4096).expect(ok);
    w.add_u32(&format!("{a}.embedding_length"), 256).expect(ok);
    w.add_u32(&format!("{a}.feed_forward_length"), 512)
        .expect(ok);
    w.add_u32(&format!("{a}.attention.head_count"), 4)
        .expect(ok);
    w.add_u32_array(&format!("{a}.attention.head_count_kv"), &[1, 2])
        .expect(ok);
    w.add_u32(&format!("{a}.attention.sliding_window"), 128)
        .expect(ok);
    w.add_string_array("tokenizer.ggml.tokens", (0..24).map(|i| format!("t{i}")))
        .expect(ok);
    w.add_f32_array("tokenizer.ggml.scores", &[0.5; 24])
        .expect(ok);
    let nested = OwnedArray::Array(vec![
        OwnedArray::String(vec!["a".into(), "b".into()]),
        OwnedArray::I64(vec![-1, 2]),
    ]);
    w.add_value("x.nested", &Value::Array(nested)).expect(ok);
    let t = [
        ("token_embd.weight", vec![256, 24], GgmlType::F16, 1),
        ("blk.0.attn_norm.weight", vec![256], GgmlType::F32, 0),
        ("blk.0.attn_q.weight", vec![256, 256], GgmlType::I2S, 36),
        ("blk.0.ffn_up.weight", vec![256, 512], GgmlType::TL2, 39),
        ("blk.1.attn_q.weight", vec![256, 256], GgmlType::TL1, 38),
        ("blk.1.ffn_up.weight", vec![256, 512], GgmlType::TL2, 42),
        ("output.weight", vec![256, 24], GgmlType::Q8_0, 8),
    ];
    for (name, dims, ty, id) in t {
        w.add_tensor_info_with_id(name, &dims, ty, id).expect(ok);
    }
    let mut bytes = w.header_bytes().expect(ok);
    let (_, data) = w.layout().expect(ok);
    bytes.resize(bytes.len() + data as usize, 0);
    bytes
}

/// Applies one seeded mutation.
fn mutate(base: &[u8], header_len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut b = base.to_vec();
    let pos = rng.below(header_len);
    match rng.below(6) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let p = rng.below(header_len);
                b[p] = rng.next() as u8;
            }
        }
        1 => {
            let v = INTERESTING_U64[rng.below(INTERESTING_U64.len())];
            let at = pos.min(b.len().saturating_sub(8));
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        2 => {
            let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
            let at = pos.min(b.len().saturating_sub(4));
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        3 => b.truncate(pos),
        4 => {
            // Small arithmetic nudges of a u64 (offsets, dims, lengths off by a little).
            let at = pos.min(b.len().saturating_sub(8));
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            let v = u64::from_le_bytes(x).wrapping_add([1, 4, 32, u64::MAX][rng.below(4)]);
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        _ => {
            let p = rng.below(b.len());
            b.insert(p, rng.next() as u8);
        }
    }
    b
}

/// Bound on live heap bytes for parsing `len` bytes: the header copy plus per-item
/// structures (each at least 13-24 file bytes) stay within a small multiple of the file.
fn alloc_bound(len: usize) -> usize {
    64 * 1024 + 24 * len
}

/// Runs one reader call on a `len`-byte input, asserting it is quick and that its peak
/// heap stays within the bound; `extra` allows for fixed per-reader allocations.
fn bounded<T>(what: &str, len: usize, extra: usize, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let (out, peak) = peak_of(f);
    assert!(start.elapsed() < Duration::from_secs(1), "{what}: too slow");
    assert!(
        peak <= alloc_bound(len) + extra,
        "{what}: peak {peak} bytes for a {len}-byte input"
    );
    out
}

/// Parses (and profiles, when it parses) one candidate; true when it parsed.
fn check_gguf(bytes: &[u8], file_len: u64, what: &str) -> bool {
    bounded(what, bytes.len(), 0, || {
        match GgufFile::parse(Path::new("m.gguf"), bytes, file_len) {
            Ok(g) => {
                let _ = profile_from_gguf(&g);
                for (_, v) in g.metadata() {
                    if let Some(a) = v.as_array() {
                        let _ = a.to_owned_array();
                    }
                }
                true
            }
            Err(e) => {
                assert!(e.to_string().starts_with("m.gguf: "), "{what}: {e}");
                false
            }
        }
    })
}

#[test]
fn gguf_reader_survives_mutations() {
    let base = base_gguf();
    let header_len = {
        let g = GgufFile::parse(Path::new("base"), &base, base.len() as u64).expect("base");
        assert!(check_gguf(&base, base.len() as u64, "base"));
        g.data_offset as usize
    };
    let started = Instant::now();
    // Truncation at every header offset and a few inside the data.
    for cut in (0..=header_len).chain([header_len + 1, base.len() / 2, base.len() - 1]) {
        assert!(!check_gguf(&base[..cut], cut as u64, &format!("cut {cut}")) || cut >= header_len);
    }
    // A header prefix claiming a huge file must not allocate for the claimed size.
    check_gguf(&base[..header_len], 1 << 50, "prefix of a huge file");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for i in 0..3000 {
        let m = mutate(&base, header_len, &mut rng);
        if check_gguf(&m, m.len() as u64, &format!("mutation {i}")) {
            parsed += 1;
        }
    }
    // Some mutations (in padding, in string bytes, in values) keep the file valid.
    assert!(parsed > 100 && parsed < 2900, "{parsed} of 3000 parsed");
    assert!(started.elapsed() < Duration::from_secs(60));
}

fn check_st(bytes: &[u8], what: &str) {
    bounded(what, bytes.len(), 0, || {
        let parsed = SafeTensorsFile::parse(Path::new("m.safetensors"), bytes, bytes.len() as u64);
        if let Err(e) = parsed {
            assert!(e.to_string().starts_with("m.safetensors: "), "{what}: {e}");
        }
    });
}

#[test]
fn safetensors_and_config_readers_survive_mutations() {
    let tensors = support::hf_llama_tensors(2, 64, 32, 96, 50, false);
    let refs: Vec<(&str, &str, Vec<u64>)> = tensors
        .iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.clone()))
        .collect();
    let (header, data) = support::st_header(&refs);
    let base = support::st_file(&header, data);
    SafeTensorsFile::parse(Path::new("b"), &base, base.len() as u64).expect("base");
    let hlen = 8 + header.len();
    for cut in 0..=hlen {
        check_st(&base[..cut], &format!("cut {cut}"));
    }
    let mut rng = Rng(7);
    for i in 0..2000 {
        let mut m = base.clone();
        let p = 8 + rng.below(header.len());
        match rng.below(4) {
            0 => m[p] = b"0123456789{}[],:\"-eE."[rng.below(21)],
            1 => m[p] = rng.next() as u8,
            2 => m[..8].copy_from_slice(&INTERESTING_U64[rng.below(10)].to_le_bytes()),
            _ => {
                let digits = format!("{}", rng.next());
                m.splice(p..p, digits.bytes());
            }
        }
        check_st(&m, &format!("st mutation {i}"));
    }
    let config = br#"{"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 8,
        "num_key_value_heads": 2, "max_position_embeddings": 4096, "sliding_window": 64,
        "layer_types": ["sliding_attention","full_attention","sliding_attention","full_attention"],
        "text_config": {"head_dim": 32}, "quantization_config": {"quant_method": "bitnet"}}"#;
    HfConfig::parse(Path::new("c"), config).expect("base config");
    for i in 0..2000 {
        let mut m = config.to_vec();
        let p = rng.below(m.len());
        m[p] = b"0123456789{}[],:\"-eE. ntf"[rng.below(25)];
        // Per-layer lists may be built for up to MAX_LAYERS layers before any check.
        bounded(&format!("config mutation {i}"), m.len(), 1 << 20, || {
            let _ = HfConfig::parse(Path::new("config.json"), &m);
        });
    }
}
