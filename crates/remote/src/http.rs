//! The HTTP client: blocking ureq with rustls, every request bounded in time (connect,
//! each wait for bytes, the whole request), bounded retries with backoff after a 429, a
//! 5xx or a failed connection (honouring `Retry-After` within a cap), redirects followed
//! by hand (each one counted, credentials never sent to another host), and bodies read
//! only as far as asked: a server that ignores `Range` and sends the whole model is cut
//! off at the bytes asked for.

use crate::error::{Error, Result};
use crate::options::HttpOptions;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

/// Requests sent and body bytes received, for the benchmark and for tests.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Stats {
    /// Requests sent (each redirect and each retry counts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Body bytes received.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Most redirects followed for one request.
const MAX_REDIRECTS: u32 = 8;

/// A client with its limits and counters.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    opts: HttpOptions,
    stats: Arc<Stats>,
    /// The host a bearer token may be sent to, and the token.
    auth: Option<(String, String)>,
    /// The Hugging Face endpoint's host: a 401 or 403 from it names HF_TOKEN.
    hf_host: Option<String>,
}

/// A successful answer, its body not yet read.
pub struct Answer {
    /// The URL that answered (after redirects).
    pub url: String,
    /// The status (2xx).
    pub status: u16,
    response: Response<Body>,
}

impl Answer {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.headers().get(name)?.to_str().ok()
    }

    /// `Content-Length`, when present and a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// The `ETag` (or Hugging Face's `X-Linked-Etag` for a file behind a redirect).
    pub fn etag(&self) -> Option<String> {
        self.header("x-linked-etag")
            .or_else(|| self.header("etag"))
            .map(str::to_string)
    }

    /// Reads at most `max` body bytes: exactly `want` when given (fewer is a truncated
    /// body), else the whole body, which must fit in `max`. Never reads past `max`.
    pub fn read(self, want: Option<u64>, max: u64, stats: &Stats) -> Result<Vec<u8>> {
        let url = self.url.clone();
        let limit = want.unwrap_or(max).min(max);
        let mut reader = self.response.into_body().into_reader().take(limit + 1);
        let cap = usize::try_from(limit.min(16 << 20)).unwrap_or(16 << 20);
        let mut out = Vec::with_capacity(cap);
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let room = (limit + 1).saturating_sub(out.len() as u64);
            if room == 0 {
                break;
            }
            let n = chunk
                .len()
                .min(usize::try_from(room).unwrap_or(chunk.len()));
            match reader.read(&mut chunk[..n]) {
                Ok(0) => break,
                Ok(k) => {
                    stats.bytes.fetch_add(k as u64, Ordering::Relaxed);
                    out.extend_from_slice(&chunk[..k]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let got = out.len();
                    return Err(Error::Transport {
                        url,
                        what: match want {
                            Some(w) => format!(
                                "the body broke off after {got} of {w} bytes ({})",
                                describe_io(&e)
                            ),
                            None => {
                                format!(
                                    "the body broke off after {got} bytes ({})",
                                    describe_io(&e)
                                )
                            }
                        },
                    });
                }
            }
        }
        match want {
            Some(w) if (out.len() as u64) < w => Err(Error::protocol(
                url,
                format!(
                    "truncated body: {} of the {w} bytes asked for, then the end",
                    out.len()
                ),
            )),
            Some(w) => {
                out.truncate(w as usize);
                Ok(out)
            }
            None if out.len() as u64 > max => Err(Error::protocol(
                url,
                format!("the answer is larger than the {max} bytes accepted for it"),
            )),
            None => Ok(out),
        }
    }
}

fn describe_io(e: &std::io::Error) -> String {
    let ureq_timeout = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            "timed out waiting for bytes (MEMCAL_HTTP_TIMEOUT)".to_string()
        }
        _ if ureq_timeout => "timed out waiting for bytes (MEMCAL_HTTP_TIMEOUT)".to_string(),
        _ => e.to_string(),
    }
}

/// The host (and port) of a URL, lower-cased.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `location` resolved against `base`.
fn join_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let host = rest.split('/').next().unwrap_or(rest);
    if let Some(abs) = location.strip_prefix('/') {
        return format!("{scheme}://{host}/{abs}");
    }
    let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
    format!("{dir}/{location}")
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ask<'a> {
    /// `Range: bytes=A-B` (inclusive).
    pub range: Option<(u64, u64)>,
    /// `Accept`.
    pub accept: Option<&'a str>,
    /// `User-Agent`, in place of memcal's.
    pub user_agent: Option<&'a str>,
}

impl Client {
    /// A client with these limits; `auth` is the host a bearer token may go to, and the
    /// token; `hf_host` the Hugging Face endpoint's host.
    pub fn new(
        opts: HttpOptions,
        auth: Option<(String, String)>,
        hf_host: Option<String>,
    ) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("memcal/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(opts.timeout))
            .timeout_per_read(Some(opts.timeout))
            .timeout_recv_response(Some(opts.timeout))
            .timeout_global(Some(opts.request_timeout))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            opts,
            stats: Arc::new(Stats::default()),
            auth,
            hf_host,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The limits.
    pub fn options(&self) -> &HttpOptions {
        &self.opts
    }

    /// GET `url`, following redirects and retrying 429, 5xx and failed connections; a
    /// non-2xx status after that is [`Error::Status`] (`what_404` says what a 404 means
    /// here; a 401 or 403 from the Hugging Face endpoint names `HF_TOKEN` when
    /// `gated_hint`).
    pub fn get(&self, url: &str, ask: Ask<'_>, gated_hint: bool, what_404: &str) -> Result<Answer> {
        let mut url = url.to_string();
        let mut attempt = 0u32;
        let mut redirects = 0u32;
        loop {
            let sent = self.send(&url, ask);
            let retry = |attempt: u32, after: Option<Duration>| -> Option<Duration> {
                if attempt >= self.opts.retries {
                    return None;
                }
                let backoff = self.opts.backoff.saturating_mul(1 << attempt.min(16));
                Some(after.unwrap_or(backoff).min(self.opts.max_wait))
            };
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    let transient = matches!(
                        e,
                        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound
                    ) || matches!(&e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused || io.kind() == std::io::ErrorKind::ConnectionReset);
                    if transient {
                        if let Some(wait) = retry(attempt, None) {
                            std::thread::sleep(wait);
                            attempt += 1;
                            continue;
                        }
                    }
                    return Err(Error::Transport {
                        what: describe(&e, attempt, &self.opts),
                        url,
                    });
                }
            };
            let status = response.status().as_u16();
            if (300..400).contains(&status) && status != 304 {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let Some(location) = location else {
                    return Err(Error::protocol(
                        url,
                        format!("HTTP {status} without a Location"),
                    ));
                };
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(Error::protocol(
                        url,
                        format!("more than {MAX_REDIRECTS} redirects"),
                    ));
                }
                url = join_location(&url, &location);
                continue;
            }
            if status == 429 || (500..600).contains(&status) {
                let after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                if let Some(a) = after.filter(|a| *a > self.opts.max_wait) {
                    return Err(Error::Status {
                        url,
                        status,
                        what: format!(
                            "the server asks to retry after {} s, longer than memcal waits ({} s)",
                            a.as_secs(),
                            self.opts.max_wait.as_secs_f64()
                        ),
                    });
                }
                if let Some(wait) = retry(attempt, after) {
                    std::thread::sleep(wait);
                    attempt += 1;
                    continue;
                }
                return Err(Error::Status {
                    url,
                    status,
                    what: format!(
                        "{} after {} tries",
                        if status == 429 {
                            "rate limited"
                        } else {
                            "server error"
                        },
                        attempt + 1
                    ),
                });
            }
            if !(200..300).contains(&status) {
                let from_hub =
                    gated_hint && host_of(&url).is_some() && host_of(&url) == self.hf_host;
                let what = match status {
                    401 | 403 if from_hub && self.auth.is_some() => {
                        "the repository is gated or private and HF_TOKEN has no access to it: \
                         accept its terms on the Hub with that account"
                            .to_string()
                    }
                    401 | 403 if from_hub => {
                        "the repository is gated or private: accept its terms on the Hub and \
                         set HF_TOKEN to a token with access"
                            .to_string()
                    }
                    401 | 403 => "access denied".to_string(),
                    404 => what_404.to_string(),
                    416 => "the server cannot serve the byte range asked for".to_string(),
                    _ => "unexpected status".to_string(),
                };
                return Err(Error::Status { url, status, what });
            }
            return Ok(Answer {
                url,
                status,
                response,
            });
        }
    }

    fn send(&self, url: &str, ask: Ask<'_>) -> Result<Response<Body>, ureq::Error> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self.agent.get(url);
        if let Some((a, b)) = ask.range {
            req = req.header("Range", format!("bytes={a}-{b}"));
        }
        if let Some(accept) = ask.accept {
            req = req.header("Accept", accept);
        }
        if let Some(agent) = ask.user_agent {
            req = req.header("User-Agent", agent);
        }
        if let Some((host, token)) = &self.auth {
            if host_of(url).as_deref() == Some(host.as_str()) {
                req = req.header("Authorization", format!("Bearer {token}"));
            }
        }
        req.call()
    }

    /// GET a small document whole (JSON, config.json, an index): at most `max` bytes.
    pub fn get_small(
        &self,
        url: &str,
        ask: Ask<'_>,
        max: u64,
        gated_hint: bool,
        what_404: &str,
    ) -> Result<Vec<u8>> {
        let answer = self.get(url, ask, gated_hint, what_404)?;
        if let Some(n) = answer.content_length().filter(|&n| n > max) {
            return Err(Error::protocol(
                answer.url,
                format!("the answer is {n} bytes, more than the {max} accepted for it"),
            ));
        }
        answer.read(None, max, &self.stats)
    }
}

fn describe(e: &ureq::Error, attempt: u32, opts: &HttpOptions) -> String {
    let tries = if attempt > 0 {
        format!(" (after {} tries)", attempt + 1)
    } else {
        String::new()
    };
    match e {
        ureq::Error::Timeout(t) => format!(
            "timed out ({t}; memcal waits {} s for bytes, MEMCAL_HTTP_TIMEOUT)",
            opts.timeout.as_secs_f64()
        ),
        ureq::Error::ConnectionFailed => format!("cannot connect{tries}"),
        ureq::Error::HostNotFound => format!("host not found{tries}"),
        ureq::Error::Io(io) => format!("{}{tries}", describe_io(io)),
        other => format!("{other}{tries}"),
    }
}
