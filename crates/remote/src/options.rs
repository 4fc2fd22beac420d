//! Where references resolve and how the client behaves, from the environment the
//! ecosystems already use.

use std::path::PathBuf;
use std::time::Duration;

/// The default Hugging Face endpoint.
pub const HF_DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// The default Ollama registry.
pub const OLLAMA_DEFAULT_REGISTRY: &str = "https://registry.ollama.ai";

/// How references are resolved and read.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Hugging Face endpoint (`HF_ENDPOINT`, default [`HF_DEFAULT_ENDPOINT`]).
    pub hf_endpoint: String,
    /// A Hugging Face token for gated and private repositories (`HF_TOKEN`, else
    /// `HUGGING_FACE_HUB_TOKEN`, else the token file `huggingface-cli login` writes).
    /// Sent only to the Hugging Face endpoint.
    pub hf_token: Option<String>,
    /// The Hugging Face cache, looked in before the network (`HF_HUB_CACHE`, else
    /// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub` or
    /// `~/.cache/huggingface/hub`).
    pub hf_cache: Option<PathBuf>,
    /// The Ollama registry (`MEMCAL_OLLAMA_REGISTRY`, default
    /// [`OLLAMA_DEFAULT_REGISTRY`]; a host named in the reference is asked over https).
    pub ollama_registry: String,
    /// Ollama's model store, looked in before the network (`OLLAMA_MODELS`, else
    /// `~/.ollama/models`, else `/usr/share/ollama/.ollama/models` where it exists).
    pub ollama_models: Option<PathBuf>,
    /// Whether the local stores (Ollama's, the Hugging Face cache) are looked in first.
    pub local_stores: bool,
    /// The header cache's directory (`MEMCAL_CACHE_DIR`, else the platform cache
    /// directory's `memcal/headers`); `None`: no cache (`--no-cache`).
    pub cache_dir: Option<PathBuf>,
    /// Ask the network again even where the cache holds the answer (`--refresh`); the
    /// answers replace the cached ones.
    pub refresh: bool,
    /// The client's limits.
    pub http: HttpOptions,
}

/// The HTTP client's limits: every request ends within bounded time, and a failing one is
/// retried a bounded number of times.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Connecting, and each wait for bytes (a server that stalls longer is given up):
    /// `MEMCAL_HTTP_TIMEOUT` seconds, default 30.
    pub timeout: Duration,
    /// One request, whole (headers and body): default 300 s, at least `timeout`.
    pub request_timeout: Duration,
    /// Retries after a 429, a 5xx or a failed connection (`MEMCAL_HTTP_RETRIES`, default
    /// 3).
    pub retries: u32,
    /// The first wait before a retry, doubled each time (`MEMCAL_HTTP_BACKOFF_MS`, default
    /// 500 ms).
    pub backoff: Duration,
    /// The longest wait before a retry, also the most of a `Retry-After` honoured
    /// (`MEMCAL_HTTP_MAX_WAIT` seconds, default 10).
    pub max_wait: Duration,
    /// The first read of a model file: the whole header of most models (4 MiB).
    pub first_chunk: u64,
}

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions {
            timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
            retries: 3,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(10),
            first_chunk: memcal_formats::gguf::reader::INITIAL_HEADER_READ,
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_path(name: &str) -> Option<PathBuf> {
    env(name).map(PathBuf::from)
}

fn home() -> Option<PathBuf> {
    env_path("HOME").or_else(|| env_path("USERPROFILE"))
}

/// The platform's cache directory: `$XDG_CACHE_HOME` or `~/.cache` (Linux and other
/// Unix), `~/Library/Caches` (macOS), `%LOCALAPPDATA%` (Windows).
pub fn platform_cache_dir() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        return home().map(|h| h.join("Library/Caches"));
    }
    if cfg!(windows) {
        return env_path("LOCALAPPDATA");
    }
    env_path("XDG_CACHE_HOME").or_else(|| home().map(|h| h.join(".cache")))
}

fn secs(name: &str) -> Option<Duration> {
    env(name)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

impl Options {
    /// The options the environment gives.
    pub fn from_env() -> Options {
        let hf_home = env_path("HF_HOME").or_else(|| {
            platform_cache_dir()
                .or_else(|| home().map(|h| h.join(".cache")))
                .map(|c| c.join("huggingface"))
        });
        let hf_token = env("HF_TOKEN")
            .or_else(|| env("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let file = env_path("HF_TOKEN_PATH")
                    .or_else(|| hf_home.as_ref().map(|h| h.join("token")))?;
                let text = std::fs::read_to_string(file).ok()?;
                Some(text.trim().to_string()).filter(|t| !t.is_empty() && t.len() < 1024)
            });
        let hf_cache = env_path("HF_HUB_CACHE").or_else(|| hf_home.map(|h| h.join("hub")));
        let ollama_models = env_path("OLLAMA_MODELS").or_else(|| {
            let user = home().map(|h| h.join(".ollama/models"));
            let system = PathBuf::from("/usr/share/ollama/.ollama/models");
            match user {
                Some(u) if u.is_dir() || !system.is_dir() => Some(u),
                _ => Some(system),
            }
        });
        let cache_dir = env_path("MEMCAL_CACHE_DIR")
            .or_else(|| platform_cache_dir().map(|c| c.join("memcal").join("headers")));
        let mut http = HttpOptions::default();
        if let Some(t) = secs("MEMCAL_HTTP_TIMEOUT") {
            http.timeout = t;
        }
        if let Some(r) = env("MEMCAL_HTTP_RETRIES").and_then(|v| v.trim().parse().ok()) {
            http.retries = r;
        }
        if let Some(b) = env("MEMCAL_HTTP_BACKOFF_MS").and_then(|v| v.trim().parse().ok()) {
            http.backoff = std::time::Duration::from_millis(b);
        }
        if let Some(w) = secs("MEMCAL_HTTP_MAX_WAIT") {
            http.max_wait = w;
        }
        http.request_timeout = http.request_timeout.max(http.timeout);
        Options {
            hf_endpoint: env("HF_ENDPOINT")
                .unwrap_or_else(|| HF_DEFAULT_ENDPOINT.to_string())
                .trim_end_matches('/')
                .to_string(),
            hf_token,
            hf_cache,
            ollama_registry: env("MEMCAL_OLLAMA_REGISTRY")
                .unwrap_or_else(|| OLLAMA_DEFAULT_REGISTRY.to_string())
                .trim_end_matches('/')
                .to_string(),
            ollama_models,
            local_stores: true,
            cache_dir,
            refresh: false,
            http,
        }
    }
}
