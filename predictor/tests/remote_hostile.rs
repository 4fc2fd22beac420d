//! Hostile or broken servers: each case ends within its time bound, under a memory bound
//! (the bytes the server managed to send, and the command's peak RSS), and exits
//! non-zero with a message naming the URL and the fault. The client's limits are made
//! short through the environment (a 1 s wait for bytes, 2 retries 10 ms apart).

use memcal_testserver::{models, Behaviour, Server};
use std::process::Command;
use std::time::{Duration, Instant};

/// The most body bytes a server may get out before the client stops it: the 4 MiB first
/// read twice and socket buffers, far below any model (the huge bodies claim 20 GiB).
const SENT_BOUND: u64 = 32 << 20;
/// The command's peak RSS bound.
const RSS_BOUND_KIB: i64 = 256 << 10;

struct Case {
    what: &'static str,
    path: String,
    reference: String,
    /// Words the message must hold (besides the URL).
    fault: &'static [&'static str],
    bound: Duration,
}

fn peak_children_rss_kib() -> i64 {
    // SAFETY: getrusage writes the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u.ru_maxrss
    }
}

fn run(server: &Server, reference: &str, dir: &std::path::Path) -> (bool, String, Duration) {
    run_with(server, reference, dir, None)
}

fn run_with(
    server: &Server,
    reference: &str,
    dir: &std::path::Path,
    token: Option<&str>,
) -> (bool, String, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_predictor"));
    if let Some(t) = token {
        cmd.env("HF_TOKEN", t);
    } else {
        cmd.env_remove("HF_TOKEN");
    }
    let out = cmd
        .args(["estimate", reference, "--json"])
        .env("HF_ENDPOINT", server.url())
        .env("MEMCAL_OLLAMA_REGISTRY", server.url())
        .env("MEMCAL_CACHE_DIR", dir.join("cache"))
        .env("HF_HUB_CACHE", dir.join("no-hf"))
        .env("OLLAMA_MODELS", dir.join("no-ollama"))
        .env("MEMCAL_HTTP_TIMEOUT", "1")
        .env("MEMCAL_HTTP_RETRIES", "2")
        .env("MEMCAL_HTTP_BACKOFF_MS", "10")
        .env("MEMCAL_HTTP_MAX_WAIT", "1")
        .env("HF_TOKEN_PATH", dir.join("no-token"))
        .env_remove("HUGGING_FACE_HUB_TOKEN")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .output()
        .unwrap_or_else(|e| panic!("running predictor: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn hostile_servers_get_a_clear_error_in_bounded_time_and_memory() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let gguf = models::tiny_gguf();
    let (big, big_len) = models::big_header_gguf();
    let url = |p: &str| format!("{}{p}", server.url());
    let short = Duration::from_secs(10);
    let mut cases = Vec::new();
    let mut add =
        |path: &str, body: Vec<u8>, b: Behaviour, fault: &'static [&'static str], what| {
            server.add(path, body);
            server.behave(path, b);
            cases.push(Case {
                what,
                path: path.to_string(),
                reference: url(path),
                fault,
                bound: short,
            });
        };
    add(
        "/ignores-range.gguf",
        big.clone(),
        Behaviour::HugeBody(20 << 30),
        &["ignores Range", "refusing to download"],
        "Range ignored, a 20 GiB body",
    );
    add(
        "/no-length.gguf",
        big.clone(),
        Behaviour::IgnoreRangeNoLength,
        &["no Content-Length", "length is unknown"],
        "Range ignored, no Content-Length",
    );
    add(
        "/wrong-length.gguf",
        gguf.clone(),
        Behaviour::ContentLength(100),
        &["Content-Length is 100"],
        "a wrong Content-Length",
    );
    add(
        "/long-length.gguf",
        gguf.clone(),
        Behaviour::ContentLength(1 << 30),
        &["Content-Length is 1073741824"],
        "a Content-Length past the range",
    );
    add(
        "/truncated.gguf",
        gguf.clone(),
        Behaviour::Truncate(1000),
        &["broke off after 1000 of 205664 bytes"],
        "a truncated body",
    );
    add(
        "/busy.gguf",
        gguf.clone(),
        Behaviour::Status {
            code: 503,
            times: 1000,
            retry_after: None,
        },
        &["503", "after 3 tries"],
        "5xx, again and again",
    );
    add(
        "/rate-limited.gguf",
        gguf.clone(),
        Behaviour::Status {
            code: 429,
            times: 1000,
            retry_after: Some(1),
        },
        &["429", "rate limited"],
        "429 with Retry-After",
    );
    add(
        "/retry-much-later.gguf",
        gguf.clone(),
        Behaviour::Status {
            code: 429,
            times: 1000,
            retry_after: Some(3600),
        },
        &["429", "retry after 3600 s"],
        "429 asking for an hour",
    );
    add(
        "/stalls.gguf",
        gguf.clone(),
        Behaviour::Stall(Duration::from_secs(60)),
        &["timed out"],
        "a server that stalls",
    );
    // A header claiming more than the reader's bound, in a file claiming 2 TiB.
    let mut huge_claim = Vec::new();
    huge_claim.extend_from_slice(b"GGUF");
    huge_claim.extend_from_slice(&3u32.to_le_bytes());
    huge_claim.extend_from_slice(&0u64.to_le_bytes());
    huge_claim.extend_from_slice(&1u64.to_le_bytes());
    huge_claim.extend_from_slice(&22u64.to_le_bytes());
    huge_claim.extend_from_slice(b"tokenizer.ggml.tokens\0");
    huge_claim.extend_from_slice(&9u32.to_le_bytes()); // array
    huge_claim.extend_from_slice(&8u32.to_le_bytes()); // of strings
    huge_claim.extend_from_slice(&(1u64 << 40).to_le_bytes());
    add(
        "/huge-claim.gguf",
        huge_claim,
        Behaviour::Padded(2 << 40),
        &["not parsed within its first 1073741824 bytes"],
        "a header claiming 2^40 strings",
    );
    if let Some((_, cfg)) = models::sharded_safetensors()
        .into_iter()
        .find(|(n, _)| n == "config.json")
    {
        server.add("/config.json", cfg);
    }
    let mut huge_st = (1u64 << 40).to_le_bytes().to_vec();
    huge_st.extend_from_slice(b"{}");
    add(
        "/huge-claim.safetensors",
        huge_st,
        Behaviour::Padded(2 << 40),
        &["exceeds the 100000000-byte limit"],
        "a SafeTensors header claiming 1 TiB",
    );
    // Not found, and a gated repository (its file list answers 401 without a token).
    cases.push(Case {
        what: "404",
        path: "/missing.gguf".into(),
        reference: url("/missing.gguf"),
        fault: &["404", "no such file"],
        bound: short,
    });
    let info = serde_json::json!({"sha": "abc", "siblings": [{"rfilename": "m.gguf"}]});
    server.add_json("/api/models/org/gated/revision/main", &info);
    server.behave(
        "/api/models/org/gated/revision/main",
        Behaviour::Gated("secret".into()),
    );
    cases.push(Case {
        what: "401 for a gated repository",
        path: "/api/models/org/gated/revision/main".into(),
        reference: "hf://org/gated".into(),
        fault: &["401", "gated", "HF_TOKEN"],
        bound: short,
    });
    cases.push(Case {
        what: "an Ollama model not in the registry",
        path: "/v2/library/nothing/manifests/latest".into(),
        reference: "ollama://nothing".into(),
        fault: &["404", "no such model"],
        bound: short,
    });

    for c in &cases {
        server.clear_log();
        let (ok, err, took) = run(&server, &c.reference, dir.path());
        let sent: u64 = server
            .log()
            .iter()
            .filter(|l| l.path == c.path)
            .map(|l| l.body_bytes)
            .sum();
        eprintln!(
            "{}: {took:?}, {sent} body bytes sent: {}",
            c.what,
            err.trim()
        );
        assert!(!ok, "{}: succeeded", c.what);
        assert!(took < c.bound, "{}: took {took:?}", c.what);
        assert!(
            sent < SENT_BOUND,
            "{}: the server sent {sent} bytes",
            c.what
        );
        assert!(
            err.contains(&url(&c.path)),
            "{}: the message does not name the URL: {err}",
            c.what
        );
        for f in c.fault {
            assert!(
                err.contains(f),
                "{}: the message does not say {f:?}: {err}",
                c.what
            );
        }
    }
    let rss = peak_children_rss_kib();
    assert!(rss < RSS_BOUND_KIB, "a command peaked at {rss} KiB");
    let _ = big_len;
}

#[test]
fn transient_failures_are_retried_and_a_range_less_206_is_read_exactly() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let gguf = models::tiny_gguf();
    let local = dir.path().join("tiny_llama.gguf");
    std::fs::write(&local, &gguf).unwrap_or_else(|e| panic!("{e}"));
    server.add("/tiny_llama.gguf", gguf.clone());
    server.behave(
        "/tiny_llama.gguf",
        Behaviour::Status {
            code: 503,
            times: 2,
            retry_after: Some(0),
        },
    );
    let (ok, err, _) = run(
        &server,
        &format!("{}/tiny_llama.gguf", server.url()),
        dir.path(),
    );
    assert!(ok, "two 503s then an answer: {err}");
    assert_eq!(server.log().len(), 3);
    // A 206 without Content-Length (the length is the Content-Range's) reads as any.
    let d2 = dir.path().join("second");
    server.add("/x/tiny_llama.gguf", gguf);
    server.behave("/x/tiny_llama.gguf", Behaviour::NoContentLength);
    let (ok, err, _) = run(&server, &format!("{}/x/tiny_llama.gguf", server.url()), &d2);
    assert!(ok, "{err}");
    let _ = local;
}

#[test]
fn a_gated_file_needs_hf_token_and_gets_it() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let files = vec![("tiny_llama.gguf".to_string(), models::tiny_gguf())];
    server.add_hf_repo("org/gated-gguf", "c0ffee", &files);
    let path = "/org/gated-gguf/resolve/main/tiny_llama.gguf";
    server.behave(path, Behaviour::Gated("secret".into()));
    let reference = "hf://org/gated-gguf/tiny_llama.gguf";
    let (ok, err, _) = run_with(&server, reference, &dir.path().join("a"), None);
    assert!(
        !ok && err.contains(path) && err.contains("401") && err.contains("set HF_TOKEN"),
        "{err}"
    );
    let (ok, err, _) = run_with(&server, reference, &dir.path().join("b"), Some("wrong"));
    assert!(!ok && err.contains("HF_TOKEN has no access"), "{err}");
    server.clear_log();
    let (ok, err, _) = run_with(&server, reference, &dir.path().join("c"), Some("secret"));
    assert!(ok, "{err}");
    assert!(server
        .log()
        .iter()
        .all(|l| l.authorization.as_deref() == Some("Bearer secret")));
}
