//! Bytes fetched and requests per model for each remote reference form, against the local
//! test server, with a cold cache and then a warm one; then the time of a warm open.
//! Not a timed test: the figures are counted, printed, and checked against the issue's
//! bounds (a single-file GGUF: at most 3 requests, at most the header plus one first
//! read; a warm cache: no request).
//!
//! Run: `cargo bench -p memcal-benches --bench remote_fetch`.

use criterion::Criterion;
use memcal_remote::{Options, Remote, Target};
use memcal_testserver::{models, Behaviour, Server};
use std::hint::black_box;

/// A resolver with its endpoints at the server, a cache in `cache`, no local stores.
fn remote(server: &Server, cache: &std::path::Path) -> Remote {
    let mut o = Options::from_env();
    o.hf_endpoint = server.url();
    o.ollama_registry = server.url();
    o.cache_dir = Some(cache.to_path_buf());
    o.local_stores = false;
    o.hf_token = None;
    Remote::new(o)
}

/// Requests and body bytes of one open, from the client's counters and the server's log.
fn measure(server: &Server, cache: &std::path::Path, reference: &str) -> (u64, u64, u64) {
    server.clear_log();
    let r = remote(server, cache);
    match r.open(reference) {
        Ok(o) => {
            black_box(matches!(o.target, Target::Gguf(_)));
        }
        Err(e) => panic!("{reference}: {e}"),
    }
    let logged = server.log();
    assert_eq!(
        logged.len() as u64,
        r.stats().requests(),
        "{reference}: counters"
    );
    let served: u64 = logged.iter().map(|l| l.body_bytes).sum();
    (r.stats().requests(), r.stats().bytes(), served)
}

fn main() {
    let server = Server::start();
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    };
    let gguf = models::tiny_gguf();
    let split = models::split_gguf(&gguf, "tiny", 3);
    let (big, big_len) = models::big_header_gguf();
    server.add("/tiny_llama.gguf", gguf.clone());
    server.add("/llama3-8b-shape.gguf", big.clone());
    server.behave("/llama3-8b-shape.gguf", Behaviour::Padded(big_len));
    let mut repo = vec![("tiny_llama-Q8_0.gguf".to_string(), gguf.clone())];
    repo.extend(split.iter().cloned());
    server.add_hf_repo("test/tiny-gguf", "c0ffee", &repo);
    server.add_hf_repo("test/tiny-st", "c0ffee", &models::sharded_safetensors());
    server.add_ollama_model(
        "library",
        "tiny",
        "latest",
        &gguf,
        Some(&serde_json::json!({"num_ctx": 2048})),
    );
    let first = memcal_remote::HttpOptions::default().first_chunk;
    let url = |p: &str| format!("{}{p}", server.url());
    let cases: Vec<(&str, String, Option<u64>)> = vec![
        (
            "GGUF by URL (tiny)",
            url("/tiny_llama.gguf"),
            Some(gguf.len() as u64),
        ),
        (
            "GGUF by URL (10 MB header)",
            url("/llama3-8b-shape.gguf"),
            Some(big.len() as u64),
        ),
        (
            "hf:// FILE",
            "hf://test/tiny-gguf/tiny_llama-Q8_0.gguf".into(),
            Some(gguf.len() as u64),
        ),
        (
            "hf:// :QUANT",
            "hf://test/tiny-gguf:Q8_0".into(),
            Some(gguf.len() as u64),
        ),
        (
            "split GGUF (3 parts)",
            "hf://test/tiny-gguf/tiny-00001-of-00003.gguf".into(),
            None,
        ),
        (
            "SafeTensors repo (2 shards)",
            "hf://test/tiny-st".into(),
            None,
        ),
        ("ollama://", "ollama://tiny".into(), Some(gguf.len() as u64)),
    ];
    println!(
        "{:<30} {:>9} {:>12} {:>9} {:>12}  (first read {first} bytes)",
        "model", "requests", "bytes", "warm req", "warm bytes"
    );
    for (i, (what, reference, header)) in cases.iter().enumerate() {
        let cache = dir.path().join(format!("cache-{i}"));
        let (req, bytes, served) = measure(&server, &cache, reference);
        let (wreq, wbytes, _) = measure(&server, &cache, reference);
        println!("{what:<30} {req:>9} {bytes:>12} {wreq:>9} {wbytes:>12}");
        assert!(bytes <= served, "{what}: more bytes counted than served");
        assert_eq!((wreq, wbytes), (0, 0), "{what}: a warm cache asked again");
        if let Some(h) = header {
            // A single-file GGUF (the header here: the whole tiny file, or the big header).
            assert!(req <= 3, "{what}: {req} requests");
            assert!(
                bytes <= h + first,
                "{what}: {bytes} bytes for a {h}-byte header"
            );
        }
    }

    // The time of a warm open (no request: the cache's files and the parse).
    let mut c = Criterion::default().configure_from_args();
    let cache = dir.path().join("cache-0");
    let reference = url("/tiny_llama.gguf");
    c.bench_function("remote/warm-open/tiny-gguf", |b| {
        b.iter(|| {
            let r = remote(&server, &cache);
            black_box(r.open(&reference).is_ok())
        })
    });
    c.final_summary();
}
