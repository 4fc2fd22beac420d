//! The runtime's memory behaviour, measured in this process: ternary weights stay packed
//! (resident weight bytes equal the file's tensor bytes), and the KV cache is resident as
//! soon as it is allocated. One test function so that nothing else runs in the process
//! while RSS is read.

use predictor::ggml_type::GgmlType;
use predictor::gguf::GgufFile;
use predictor::KvDtype;
use profiler::runtime::{LoadOptions, Model};
use profiler::synth::{write_model, SynthSpec};

/// Resident anonymous memory of this process, bytes (`RssAnon` in /proc/self/status).
fn rss_anon() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn ternary_weights_stay_packed_and_the_kv_cache_is_resident() {
    // Fixed mmap threshold: large buffers get their own mappings and go back to the OS when
    // freed, instead of glibc raising the threshold after the writer's frees and serving the
    // load from already-resident heap pages (which would hide the load's growth).
    // SAFETY: plain libc calls with valid arguments, before any other thread allocates.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    let spec = SynthSpec {
        arch: "bitnet-b1.58".into(),
        layers: 4,
        hidden: 1024,
        heads: 8,
        kv_heads: 2,
        head_dim: None,
        ffn: 2816,
        vocab: 1024,
        ctx_train: 2048,
        qtype: GgmlType::I2S,
        tied: true,
        seed: 3,
        moe: None,
        sliding_window: None,
        embd_type: None,
        fast_blocks: false,
    };
    write_model(&spec, &path).unwrap();
    let header = GgufFile::open(&path).unwrap();
    let file_tensor_bytes = header.tensor_data_bytes();
    let i2s_bytes: u64 = header
        .tensors
        .iter()
        .filter(|t| t.ggml_type == GgmlType::I2S)
        .map(|t| t.nbytes)
        .sum();
    drop(header);
    // SAFETY: releases free heap memory to the OS; no preconditions.
    unsafe { libc::malloc_trim(0) };

    let before = rss_anon();
    let model = Model::load(&path, &LoadOptions::default()).unwrap();
    let loaded = rss_anon().saturating_sub(before);
    let weights = model.weight_bytes();
    // Weights as held: exactly the file's bytes (norms are F32 in the file and in memory).
    assert_eq!(model.ternary_bytes(), i2s_bytes);
    let diff = (weights as f64 - file_tensor_bytes as f64).abs() / file_tensor_bytes as f64;
    assert!(
        diff < 0.01,
        "weights {weights} vs file tensors {file_tensor_bytes}"
    );
    // And as measured: the RSS growth of the load is the weights (plus small allocator
    // slack), not twice the ternary bytes (unpacked) or four times (f32).
    let ratio = loaded as f64 / weights as f64;
    assert!(
        (0.9..1.15).contains(&ratio),
        "load grew RssAnon by {loaded} B for {weights} B of weights (ratio {ratio:.3})"
    );

    let before = rss_anon();
    let cache = model.alloc_cache(2, 2048, KvDtype::F32).unwrap();
    let grown = rss_anon().saturating_sub(before);
    let want = cache.bytes();
    assert_eq!(want, 2 * 4 * 2 * 2048 * 256 * 4);
    assert!(
        grown as f64 >= 0.95 * want as f64,
        "allocating a {want} B KV cache grew RssAnon by only {grown} B: not resident"
    );
}
