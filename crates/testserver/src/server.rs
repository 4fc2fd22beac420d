//! A small HTTP/1.1 server over std::net for tests: one thread per connection, one
//! request per connection (`Connection: close`), byte ranges, and per-path behaviours.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How a path answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// As a good server: `Range` honoured (206 with `Content-Range`), `Content-Length`.
    Normal,
    /// `Range` ignored: 200 and the whole body.
    IgnoreRange,
    /// `Range` ignored, and a body of this many bytes claimed and streamed (the file, then
    /// zeros): a client must stop reading at its header bound.
    HugeBody(u64),
    /// `Range` ignored: 200 and the whole body, with no `Content-Length` (the body ends
    /// when the connection closes).
    IgnoreRangeNoLength,
    /// Ranges honoured over a file of this many bytes: the body, then zeros (a header
    /// that claims a huge file without the server holding one).
    Padded(u64),
    /// A 206 whose `Content-Length` header says this instead of the range's length (the
    /// bytes sent are the range's).
    ContentLength(u64),
    /// A 206 with no `Content-Length` (the body ends when the connection closes).
    NoContentLength,
    /// The body is cut off after this many bytes (the connection closes).
    Truncate(usize),
    /// The first `times` requests get `code` (with `Retry-After` seconds when given), the
    /// later ones the normal answer.
    Status {
        /// The status code.
        code: u16,
        /// How many requests get it.
        times: u32,
        /// `Retry-After` in seconds.
        retry_after: Option<u32>,
    },
    /// The status line and headers, then nothing for this long.
    Stall(Duration),
    /// 401 unless the request carries `Authorization: Bearer <token>`.
    Gated(String),
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The method.
    pub method: String,
    /// The path (without the query).
    pub path: String,
    /// The `Range` header.
    pub range: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The status answered.
    pub status: u16,
    /// Body bytes written before the response ended or the client went away.
    pub body_bytes: u64,
}

struct Route {
    body: Arc<Vec<u8>>,
    content_type: &'static str,
    behaviour: Behaviour,
    served: u32,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    log: Vec<Logged>,
    /// Connections accepted and not yet answered in full.
    in_flight: usize,
    /// Of those, the ones held on purpose (`Behaviour::Stall`): nobody waits for them.
    stalled: usize,
}

/// A local HTTP server on 127.0.0.1 and a free port; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// Starts a server with no files on a free port.
    pub fn start() -> Server {
        Server::start_on(0)
    }

    /// Starts a server with no files on `port` (0: a free one).
    pub fn start_on(port: u16) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("test server: cannot bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("test server: no address: {e}"));
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let st = st.clone();
                lock(&st).in_flight += 1;
                std::thread::spawn(move || {
                    handle(stream, &st);
                    lock(&st).in_flight -= 1;
                });
            }
        });
        Server { addr, state, stop }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `body` at `path` (starting with `/`).
    pub fn add(&self, path: &str, body: Vec<u8>) {
        self.add_typed(path, body, "application/octet-stream");
    }

    /// Serves a JSON document at `path`.
    pub fn add_json(&self, path: &str, value: &serde_json::Value) {
        self.add_typed(path, value.to_string().into_bytes(), "application/json");
    }

    fn add_typed(&self, path: &str, body: Vec<u8>, content_type: &'static str) {
        lock(&self.state).routes.insert(
            path.to_string(),
            Route {
                body: Arc::new(body),
                content_type,
                behaviour: Behaviour::Normal,
                served: 0,
            },
        );
    }

    /// Makes `path` (already added) answer as `b`.
    pub fn behave(&self, path: &str, b: Behaviour) {
        match lock(&self.state).routes.get_mut(path) {
            Some(r) => r.behaviour = b,
            None => panic!("test server: no route {path}"),
        }
    }

    /// Every request so far (once the answers in flight have ended, waiting up to 2 s;
    /// a stalled answer is left out, unwaited).
    pub fn log(&self) -> Vec<Logged> {
        self.settle();
        lock(&self.state).log.clone()
    }

    /// Forgets the requests so far, once the answers in flight have ended (up to 2 s).
    /// A handler logs its request after its answer is written, so a client may have read
    /// the answer and exited while the entry is still to come: without the wait it would
    /// land after the clear.
    pub fn clear_log(&self) {
        self.settle();
        lock(&self.state).log.clear();
    }

    /// Waits up to 2 s for the connections in flight, stalls aside, to end.
    fn settle(&self) {
        for _ in 0..200 {
            let settled = {
                let st = lock(&self.state);
                st.in_flight <= st.stalled
            };
            if settled {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Serves a Hugging Face-like repository `repo` (`owner/name`) at commit `commit`
    /// (also as the branch `main`): the model API with its file list
    /// (`/api/models/{repo}/revision/{rev}`), the files (`/{repo}/resolve/{rev}/{file}`),
    /// and, for GGUF files, the Ollama-compatible manifest llama.cpp's `-hf` asks
    /// (`/v2/{repo}/manifests/{tag}`, `ggufFile`).
    pub fn add_hf_repo(&self, repo: &str, commit: &str, files: &[(String, Vec<u8>)]) {
        let siblings: Vec<serde_json::Value> = files
            .iter()
            .map(|(n, _)| serde_json::json!({ "rfilename": n }))
            .collect();
        let info = serde_json::json!({ "id": repo, "sha": commit, "siblings": siblings });
        for rev in [commit, "main"] {
            self.add_json(&format!("/api/models/{repo}/revision/{rev}"), &info);
            for (name, bytes) in files {
                self.add(&format!("/{repo}/resolve/{rev}/{name}"), bytes.clone());
            }
        }
        let ggufs: Vec<&String> = files
            .iter()
            .map(|(n, _)| n)
            .filter(|n| n.ends_with(".gguf") && !n.contains("-0000") || n.contains("-00001-of-"))
            .collect();
        for tag in ["latest", "Q8_0", "q8_0", "F32", "f32", "Q4_K_M"] {
            let upper = tag.to_ascii_uppercase();
            let pick = if tag == "latest" {
                ggufs
                    .iter()
                    .find(|n| n.to_ascii_uppercase().contains("Q4_K_M"))
                    .or(ggufs.first())
            } else {
                ggufs
                    .iter()
                    .find(|n| n.to_ascii_uppercase().contains(&upper))
            };
            if let Some(name) = pick {
                self.add_json(
                    &format!("/v2/{repo}/manifests/{tag}"),
                    &serde_json::json!({ "ggufFile": { "rfilename": name } }),
                );
            }
        }
    }

    /// Serves an Ollama-registry-like model `namespace/model:tag`: its manifest
    /// (`/v2/{ns}/{model}/manifests/{tag}`) with a model layer (`gguf`) and, when given, a
    /// params layer, and the blobs (`/v2/{ns}/{model}/blobs/{digest}`). Returns the
    /// manifest and the blobs (digest, bytes) for a local store.
    pub fn add_ollama_model(
        &self,
        namespace: &str,
        model: &str,
        tag: &str,
        gguf: &[u8],
        params: Option<&serde_json::Value>,
    ) -> (serde_json::Value, Vec<(String, Vec<u8>)>) {
        let (manifest, blobs) = ollama_manifest(gguf, params);
        self.add_json(
            &format!("/v2/{namespace}/{model}/manifests/{tag}"),
            &manifest,
        );
        for (digest, bytes) in &blobs {
            self.add(
                &format!("/v2/{namespace}/{model}/blobs/{digest}"),
                bytes.clone(),
            );
        }
        (manifest, blobs)
    }
}

/// An Ollama manifest for a model blob and an optional params blob, with made-up digests
/// (a client reading headers cannot check them).
pub fn ollama_manifest(
    gguf: &[u8],
    params: Option<&serde_json::Value>,
) -> (serde_json::Value, Vec<(String, Vec<u8>)>) {
    let digest = |bytes: &[u8], salt: u64| {
        // FNV-1a, four times with different salts: 64 hex digits.
        let mut out = String::from("sha256:");
        for k in 0..4u64 {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (salt * 31 + k);
            for b in bytes {
                h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
            out.push_str(&format!("{h:016x}"));
        }
        out
    };
    let config = b"{\"model_format\":\"gguf\"}".to_vec();
    let mut blobs = vec![
        (digest(gguf, 1), gguf.to_vec()),
        (digest(&config, 2), config.clone()),
    ];
    let mut layers = vec![serde_json::json!({
        "mediaType": "application/vnd.ollama.image.model",
        "digest": blobs[0].0, "size": gguf.len()
    })];
    if let Some(p) = params {
        let bytes = p.to_string().into_bytes();
        let d = digest(&bytes, 3);
        layers.push(serde_json::json!({
            "mediaType": "application/vnd.ollama.image.params",
            "digest": d, "size": bytes.len()
        }));
        blobs.push((d, bytes));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": blobs[1].0, "size": config.len()
        },
        "layers": layers
    });
    (manifest, blobs)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The parsed request: method, path, headers (lower-case names).
fn read_request(stream: &TcpStream) -> Option<(String, String, HashMap<String, String>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    let path = target.split('?').next().unwrap_or(target).to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Some((method, path, headers))
}

/// `bytes=A-B` or `bytes=A-` as an inclusive range within `len`.
fn parse_range(h: &str, len: u64) -> Option<(u64, u64)> {
    let spec = h.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end: u64 = match b.trim() {
        "" => len.checked_sub(1)?,
        b => b.parse::<u64>().ok()?.min(len.checked_sub(1)?),
    };
    (start <= end).then_some((start, end))
}

fn handle(mut stream: TcpStream, state: &Mutex<State>) {
    let Some((method, path, headers)) = read_request(&stream) else {
        return;
    };
    let range = headers.get("range").cloned();
    let authorization = headers.get("authorization").cloned();
    let route = {
        let mut st = lock(state);
        st.routes.get_mut(&path).map(|r| {
            r.served += 1;
            (
                r.body.clone(),
                r.content_type,
                r.behaviour.clone(),
                r.served,
            )
        })
    };
    let mut logged = Logged {
        method,
        path,
        range: range.clone(),
        authorization: authorization.clone(),
        status: 404,
        body_bytes: 0,
    };
    let Some((body, content_type, behaviour, served)) = route else {
        let _ = simple(&mut stream, 404, "Not Found", &[], b"not found");
        lock(state).log.push(logged);
        return;
    };
    let len = match behaviour {
        Behaviour::Padded(n) => n,
        _ => body.len() as u64,
    };
    let mut extra: Vec<(String, String)> = vec![
        ("Content-Type".into(), content_type.into()),
        ("Accept-Ranges".into(), "bytes".into()),
        ("ETag".into(), format!("\"{len:x}-test\"")),
    ];
    match &behaviour {
        Behaviour::Status {
            code,
            times,
            retry_after,
        } if served <= *times => {
            let mut h = Vec::new();
            if let Some(s) = retry_after {
                h.push(("Retry-After".to_string(), s.to_string()));
            }
            logged.status = *code;
            let _ = simple(&mut stream, *code, "Try Later", &h, b"busy");
            lock(state).log.push(logged);
            return;
        }
        Behaviour::Gated(token) if authorization.as_deref() != Some(&format!("Bearer {token}")) => {
            logged.status = 401;
            let _ = simple(
                &mut stream,
                401,
                "Unauthorized",
                &[],
                b"Access to this model is restricted. You must be authenticated.",
            );
            lock(state).log.push(logged);
            return;
        }
        _ => {}
    }
    let ignore = matches!(
        behaviour,
        Behaviour::IgnoreRange | Behaviour::HugeBody(_) | Behaviour::IgnoreRangeNoLength
    );
    let asked = range
        .as_deref()
        .filter(|_| !ignore)
        .map(|h| parse_range(h, len));
    let (status, start, end_excl) = match asked {
        Some(Some((a, b))) => (206, a, b + 1),
        Some(None) => {
            let h = vec![("Content-Range".to_string(), format!("bytes */{len}"))];
            logged.status = 416;
            let _ = simple(&mut stream, 416, "Range Not Satisfiable", &h, b"");
            lock(state).log.push(logged);
            return;
        }
        None => (200, 0, len),
    };
    let total = match behaviour {
        Behaviour::HugeBody(n) => n,
        _ => end_excl - start,
    };
    if status == 206 {
        extra.push((
            "Content-Range".into(),
            format!("bytes {start}-{}/{len}", end_excl - 1),
        ));
    }
    match behaviour {
        Behaviour::NoContentLength | Behaviour::IgnoreRangeNoLength => {}
        Behaviour::ContentLength(n) => extra.push(("Content-Length".into(), n.to_string())),
        _ => extra.push(("Content-Length".into(), total.to_string())),
    }
    logged.status = status;
    let reason = if status == 206 {
        "Partial Content"
    } else {
        "OK"
    };
    if head(&mut stream, status, reason, &extra).is_err() {
        lock(state).log.push(logged);
        return;
    }
    if let Behaviour::Stall(d) = behaviour {
        lock(state).stalled += 1;
        std::thread::sleep(d);
        lock(state).stalled -= 1;
    }
    let limit = match behaviour {
        Behaviour::Truncate(n) => (n as u64).min(total),
        _ => total,
    };
    let mut sent = 0u64;
    let chunk = vec![0u8; 64 << 10];
    while sent < limit {
        let at = start + sent;
        let n = (limit - sent).min(chunk.len() as u64) as usize;
        let piece: &[u8] = if at < body.len() as u64 {
            let e = (at as usize + n).min(body.len());
            &body[at as usize..e]
        } else {
            &chunk[..n]
        };
        if stream.write_all(piece).is_err() {
            break;
        }
        sent += piece.len() as u64;
    }
    let _ = stream.flush();
    logged.body_bytes = sent;
    lock(state).log.push(logged);
}

fn head(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    headers: &[(String, String)],
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())
}

fn simple(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut h = headers.to_vec();
    h.push(("Content-Length".to_string(), body.len().to_string()));
    head(stream, status, reason, &h)?;
    stream.write_all(body)
}
