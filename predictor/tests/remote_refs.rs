//! Model references against a local HTTP server (range requests, a Hugging Face-like and
//! an Ollama-registry-like layout serving the committed test models): `estimate --json`
//! of each remote form is byte-identical to the estimate of the same local file(s), for a
//! GGUF, a split GGUF and a sharded SafeTensors repository; a second query makes no
//! request and works offline; `--no-cache` and `--refresh` ask again; the local stores
//! (Ollama's, the Hugging Face cache) need no network.

use memcal_testserver::{models, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HF_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

struct World {
    server: Server,
    dir: tempfile::TempDir,
    /// The same files on disk.
    local: PathBuf,
}

fn world() -> World {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let local = dir.path().join("local");
    let gguf = models::tiny_gguf();
    let split = models::split_gguf(&gguf, "tiny", 3);
    let st = models::sharded_safetensors();
    // Plain files.
    server.add("/files/tiny_llama.gguf", gguf.clone());
    for (name, bytes) in &split {
        server.add(&format!("/files/split/{name}"), bytes.clone());
    }
    models::write_dir(&local, &[("tiny_llama.gguf".to_string(), gguf.clone())]);
    models::write_dir(&local.join("split"), &split);
    // Hugging Face: a GGUF repository (a Q8_0 file, and the split model) and a SafeTensors
    // repository.
    let mut ggufs = vec![("tiny_llama-Q8_0.gguf".to_string(), gguf.clone())];
    ggufs.extend(split.iter().cloned());
    server.add_hf_repo("test/tiny-gguf", HF_COMMIT, &ggufs);
    server.add_hf_repo("test/tiny-st", HF_COMMIT, &st);
    models::write_dir(&local.join("hf"), &ggufs);
    models::write_dir(&local.join("tiny-st"), &st);
    // Ollama: a model without params, and one whose params set num_ctx.
    server.add_ollama_model("library", "tiny", "latest", &gguf, None);
    let params = serde_json::json!({"num_ctx": 128, "stop": ["</s>"]});
    server.add_ollama_model("me", "tiny-ctx", "v1", &gguf, Some(&params));
    models::write_dir(
        &local.join("ollama"),
        &[("tiny:latest.gguf".to_string(), gguf)],
    );
    World { server, dir, local }
}

impl World {
    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// The predictor command with the endpoints at the server and empty local stores.
    fn cmd(&self, args: &[&str]) -> Output {
        self.cmd_at(&self.server.url(), args)
    }

    fn cmd_at(&self, endpoint: &str, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_predictor"));
        c.args(args)
            .env("HF_ENDPOINT", endpoint)
            .env("MEMCAL_OLLAMA_REGISTRY", endpoint)
            .env("MEMCAL_CACHE_DIR", self.cache())
            .env("HF_HUB_CACHE", self.dir.path().join("no-hf-cache"))
            .env("OLLAMA_MODELS", self.dir.path().join("no-ollama"))
            .env("MEMCAL_HTTP_TIMEOUT", "5")
            .env("MEMCAL_HTTP_RETRIES", "0")
            .env("HF_TOKEN_PATH", self.dir.path().join("no-token"));
        for v in [
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            c.env_remove(v);
        }
        c.output()
            .unwrap_or_else(|e| panic!("running predictor: {e}"))
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "predictor {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }
}

fn local(w: &World, p: &str) -> String {
    w.local.join(p).display().to_string()
}

/// Each remote form against the same local file(s).
fn forms(w: &World) -> Vec<(String, String)> {
    vec![
        (w.url("/files/tiny_llama.gguf"), local(w, "tiny_llama.gguf")),
        (
            w.url("/files/split/tiny-00001-of-00003.gguf"),
            local(w, "split/tiny-00001-of-00003.gguf"),
        ),
        (
            "hf://test/tiny-gguf/tiny_llama-Q8_0.gguf".into(),
            local(w, "hf/tiny_llama-Q8_0.gguf"),
        ),
        (
            "hf://test/tiny-gguf:Q8_0".into(),
            local(w, "hf/tiny_llama-Q8_0.gguf"),
        ),
        (
            format!("hf://test/tiny-gguf@{HF_COMMIT}/tiny-00001-of-00003.gguf"),
            local(w, "split/tiny-00001-of-00003.gguf"),
        ),
        ("hf://test/tiny-st".into(), local(w, "tiny-st")),
        ("ollama://tiny".into(), local(w, "ollama/tiny:latest.gguf")),
    ]
}

#[test]
fn every_remote_form_estimates_as_its_local_files_do() {
    let w = world();
    for (remote, local) in forms(&w) {
        for extra in [&[][..], &["--backend", "memcal", "--ctx", "200"][..]] {
            let mut a = vec!["estimate", remote.as_str(), "--json"];
            a.extend_from_slice(extra);
            let mut b = vec!["estimate", local.as_str(), "--json"];
            b.extend_from_slice(extra);
            let (ra, lb) = (w.ok(&a), w.ok(&b));
            assert_eq!(ra, lb, "estimate of {remote} differs from {local}");
        }
    }
    // plan and inspect take references too.
    let plan = |m: &str| w.ok(&["plan", m, "--budget", "8G", "--json"]);
    assert_eq!(plan("hf://test/tiny-st"), plan(&local(&w, "tiny-st")));
    let inspect = w.ok(&["inspect", &w.url("/files/tiny_llama.gguf"), "--json"]);
    assert!(inspect.contains("\"n_tensors\": 21"), "{inspect}");
}

#[test]
fn a_second_query_makes_no_request_and_works_offline() {
    let w = world();
    for (remote, _) in forms(&w) {
        let first = w.ok(&["estimate", &remote, "--json"]);
        w.server.clear_log();
        let second = w.ok(&["estimate", &remote, "--json"]);
        assert_eq!(first, second);
        assert_eq!(
            w.server.log(),
            vec![],
            "{remote}: requests with a warm cache"
        );
        // Offline: the endpoints at a port nobody listens on (plain URLs keep their host,
        // so only the hf:// and ollama:// forms can be pointed away).
        if !remote.starts_with("http") {
            let out = w.cmd_at("http://127.0.0.1:9", &["estimate", &remote, "--json"]);
            assert!(
                out.status.success(),
                "{remote} offline: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), first);
        }
        // --no-cache and --refresh ask the server again.
        for flag in ["--no-cache", "--refresh"] {
            w.server.clear_log();
            let again = w.ok(&["estimate", &remote, "--json", flag]);
            assert_eq!(again, first);
            assert!(!w.server.log().is_empty(), "{remote} {flag}: no request");
        }
    }
}

#[test]
fn ollama_params_give_the_context_unless_the_user_gives_one() {
    let w = world();
    let gguf = local(&w, "ollama/tiny:latest.gguf");
    let with_params = w.ok(&["estimate", "ollama://me/tiny-ctx:v1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&with_params).unwrap_or_default();
    assert_eq!(v.pointer("/config/ctx").and_then(|c| c.as_u64()), Some(128));
    let notes: Vec<String> = v["notes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("num_ctx") && n.contains("me/tiny-ctx:v1")),
        "{notes:?}"
    );
    // The same as the local file at --ctx 128 but for the name and that note.
    let at_128 = w.ok(&["estimate", &gguf, "--ctx", "128", "--json"]);
    let mut l: serde_json::Value = serde_json::from_str(&at_128).unwrap_or_default();
    let mut r = v.clone();
    r["model"]["name"] = l["model"]["name"].clone();
    let rn = r["notes"].as_array_mut().map(|a| {
        a.retain(|n| !n.as_str().unwrap_or_default().contains("num_ctx"));
        a.len()
    });
    assert_eq!(rn, l["notes"].as_array().map(|a| a.len()));
    l["notes"] = r["notes"].clone();
    assert_eq!(r, l);
    // --ctx wins, and then there is no note.
    let given = w.ok(&[
        "estimate",
        "ollama://me/tiny-ctx:v1",
        "--ctx",
        "64",
        "--json",
    ]);
    assert!(
        given.contains("\"ctx\": 64") && !given.contains("num_ctx"),
        "{given}"
    );
}

#[test]
fn local_stores_are_read_without_the_network() {
    let w = world();
    let gguf = models::tiny_gguf();
    // An Ollama store holding library/tiny:latest.
    let store = w.dir.path().join("ollama-store");
    let (manifest, blobs) = memcal_testserver::ollama_manifest(&gguf, None);
    let mdir = store.join("manifests/registry.ollama.ai/library/tiny");
    models::write_dir(
        &mdir,
        &[("latest".to_string(), manifest.to_string().into_bytes())],
    );
    let named: Vec<(String, Vec<u8>)> = blobs
        .into_iter()
        .map(|(d, b)| (d.replace(':', "-"), b))
        .collect();
    models::write_dir(&store.join("blobs"), &named);
    // A Hugging Face cache holding test/tiny-st at main.
    let hub = w.dir.path().join("hub");
    let repo = hub.join("models--test--tiny-st");
    models::write_dir(
        &repo.join("refs"),
        &[("main".to_string(), HF_COMMIT.as_bytes().to_vec())],
    );
    models::write_dir(
        &repo.join("snapshots").join(HF_COMMIT),
        &models::sharded_safetensors(),
    );
    let run = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_predictor"));
        c.args(args)
            .env("OLLAMA_MODELS", &store)
            .env("HF_HUB_CACHE", &hub)
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .env("MEMCAL_OLLAMA_REGISTRY", "http://127.0.0.1:9")
            .env("MEMCAL_CACHE_DIR", w.dir.path().join("unused-cache"))
            .env("MEMCAL_HTTP_RETRIES", "0");
        c.output()
            .unwrap_or_else(|e| panic!("running predictor: {e}"))
    };
    for (reference, local_model) in [
        ("ollama://tiny", local(&w, "ollama/tiny:latest.gguf")),
        ("hf://test/tiny-st", local(&w, "tiny-st")),
    ] {
        let out = run(&["estimate", reference, "--json"]);
        assert!(
            out.status.success(),
            "{reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            w.ok(&["estimate", &local_model, "--json"]),
            "{reference} from the local store"
        );
    }
}

#[test]
fn a_split_model_on_disk_is_read_whole_and_only_from_its_first_part() {
    let w = world();
    let dir = local(&w, "split");
    let by_dir = w.ok(&["inspect", &dir, "--json"]);
    let first = w.ok(&[
        "inspect",
        &local(&w, "split/tiny-00001-of-00003.gguf"),
        "--json",
    ]);
    let whole = w.ok(&["inspect", &local(&w, "tiny_llama.gguf"), "--json"]);
    let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or_default();
    assert_eq!(v(&by_dir)["n_tensors"], v(&whole)["n_tensors"]);
    assert_eq!(
        v(&first)["tensor_data_bytes"],
        v(&whole)["tensor_data_bytes"]
    );
    assert_eq!(v(&by_dir)["n_params"], v(&whole)["n_params"]);
    let out = w.cmd(&["estimate", &local(&w, "split/tiny-00002-of-00003.gguf")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("tiny-00001-of-00003.gguf"),
        "{err}"
    );
    let _ = Path::new(&dir);
}
