//! A file behind HTTP range requests as a [`ReadAt`]: the readers of `memcal-formats` read
//! it exactly as they read a local file. The first request asks for a first chunk and
//! learns the file's length (`Content-Range`) and `ETag`; each later read asks for exactly
//! the bytes the reader wants, continuing what was read. The bytes read so far (always a
//! prefix of the file) are what the header cache keeps.

use crate::error::{Error, Result};
use crate::http::{Ask, Client};
use memcal_formats::ReadAt;
use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};

/// A remote file read by ranges, with the prefix read so far.
pub struct HttpSource<'c> {
    client: &'c Client,
    url: String,
    name: PathBuf,
    /// Where later requests go: the URL that answered the first one, after redirects.
    fetch_url: RefCell<String>,
    len: u64,
    etag: Option<String>,
    /// The bytes `[0, prefix.len())` of the file.
    prefix: RefCell<Vec<u8>>,
    /// The most of the file ever read (the format's header bound).
    limit: u64,
    /// Whether the bytes beyond what was cached were asked of the network.
    fetched: RefCell<bool>,
    /// What went wrong in a read, with its URL (the reader sees an I/O error).
    failure: RefCell<Option<Error>>,
}

/// What `Content-Range: bytes A-B/TOTAL` says.
fn content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let spec = v.trim().strip_prefix("bytes ")?;
    let (range, total) = spec.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?, total))
}

impl<'c> HttpSource<'c> {
    /// Opens `url` with a first request for its first `first_chunk` bytes; `limit` is the
    /// most of the file any read may reach (the format's header bound).
    pub fn open(client: &'c Client, url: &str, first_chunk: u64, limit: u64) -> Result<Self> {
        let want = first_chunk.clamp(1, limit.max(1));
        let answer = client.get(
            url,
            Ask {
                range: Some((0, want - 1)),
                ..Ask::default()
            },
            true,
            "no such file",
        )?;
        let etag = answer.etag();
        let final_url = answer.url.clone();
        let (len, take) = if answer.status == 206 {
            let cr = answer.header("content-range").map(str::to_string);
            let Some((a, b, total)) = cr.as_deref().and_then(content_range) else {
                return Err(Error::protocol(
                    url,
                    format!(
                        "a 206 answer without a valid Content-Range ({})",
                        cr.as_deref().unwrap_or("none")
                    ),
                ));
            };
            let Some(total) = total else {
                return Err(Error::protocol(
                    url,
                    "the server does not say the file's length (Content-Range total is *)",
                ));
            };
            if a != 0 || b < a || b >= total || b - a + 1 > want {
                return Err(Error::protocol(
                    url,
                    format!(
                        "asked for bytes 0-{}, the server sent {a}-{b}/{total}",
                        want - 1
                    ),
                ));
            }
            let n = b - a + 1;
            if let Some(cl) = answer.content_length().filter(|&cl| cl != n) {
                return Err(Error::protocol(
                    url,
                    format!(
                        "Content-Length is {cl}, but the Content-Range {a}-{b} holds {n} bytes"
                    ),
                ));
            }
            (total, n)
        } else {
            // The server ignores Range and sends the whole file: its length is the
            // Content-Length, and only the first chunk of the body is read.
            let Some(total) = answer.content_length() else {
                return Err(Error::protocol(
                    url,
                    "the server ignores Range and sends no Content-Length: the file's \
                     length is unknown, so its header cannot be checked",
                ));
            };
            (total, want.min(total))
        };
        let bytes = answer.read(Some(take), take, client.stats())?;
        Ok(HttpSource {
            client,
            url: url.to_string(),
            name: PathBuf::from(url),
            fetch_url: RefCell::new(final_url),
            len,
            etag,
            prefix: RefCell::new(bytes),
            limit,
            fetched: RefCell::new(true),
            failure: RefCell::new(None),
        })
    }

    /// A source over cached bytes (`prefix`, the first bytes of a file of `len` bytes):
    /// no request until a read goes past them.
    pub fn cached(
        client: &'c Client,
        url: &str,
        len: u64,
        etag: Option<String>,
        prefix: Vec<u8>,
        limit: u64,
    ) -> Self {
        HttpSource {
            client,
            url: url.to_string(),
            name: PathBuf::from(url),
            fetch_url: RefCell::new(url.to_string()),
            len,
            etag,
            prefix: RefCell::new(prefix),
            limit,
            fetched: RefCell::new(false),
            failure: RefCell::new(None),
        }
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The file's `ETag`, when the server gave one.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// Whether any bytes came from the network (then the cache needs writing).
    pub fn fetched(&self) -> bool {
        *self.fetched.borrow()
    }

    /// The bytes read so far (a prefix of the file).
    pub fn prefix(&self) -> Vec<u8> {
        self.prefix.borrow().clone()
    }

    /// The error behind a failed read, with its URL, in place of the reader's I/O error.
    pub fn take_failure(&self) -> Option<Error> {
        self.failure.borrow_mut().take()
    }

    /// Fetches `[from, to)` and appends it to the prefix (which ends at `from`).
    fn fetch(&self, from: u64, to: u64) -> Result<()> {
        let url = self.fetch_url.borrow().clone();
        let answer = self.client.get(
            &url,
            Ask {
                range: Some((from, to - 1)),
                ..Ask::default()
            },
            true,
            "no such file",
        )?;
        if let (Some(first), Some(now)) = (&self.etag, answer.etag()) {
            if *first != now {
                return Err(Error::protocol(
                    &self.url,
                    format!(
                        "the file changed while its header was read (ETag {first}, then {now})"
                    ),
                ));
            }
        }
        let n = to - from;
        let bytes = if answer.status == 206 {
            let cr = answer.header("content-range").and_then(content_range);
            if cr.map(|(a, b, t)| (a, b, t.unwrap_or(self.len))) != Some((from, to - 1, self.len)) {
                return Err(Error::protocol(
                    &self.url,
                    format!(
                        "asked for bytes {from}-{}/{}, the server sent {}",
                        to - 1,
                        self.len,
                        answer.header("content-range").unwrap_or("no Content-Range")
                    ),
                ));
            }
            if let Some(cl) = answer.content_length().filter(|&cl| cl != n) {
                return Err(Error::protocol(
                    &self.url,
                    format!("Content-Length is {cl}, but the range asked for holds {n} bytes"),
                ));
            }
            answer.read(Some(n), n, self.client.stats())?
        } else {
            // Range ignored: the rest of the header lies behind bytes already read, and
            // reading the body again from the start is downloading the file.
            return Err(Error::protocol(
                &self.url,
                format!(
                    "the server ignores Range (HTTP {} with the whole file), and the header \
                     runs past the first {from} bytes read: refusing to download the file",
                    answer.status
                ),
            ));
        };
        self.prefix.borrow_mut().extend_from_slice(&bytes);
        *self.fetched.borrow_mut() = true;
        Ok(())
    }
}

impl ReadAt for HttpSource<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let end = offset.saturating_add(buf.len() as u64).min(self.len);
        let have = self.prefix.borrow().len() as u64;
        if end > have {
            if end > self.limit {
                let e = Error::protocol(
                    &self.url,
                    format!(
                        "the header would run past byte {}, the most memcal reads of a model \
                         file: refusing to download it",
                        self.limit
                    ),
                );
                let msg = e.to_string();
                *self.failure.borrow_mut() = Some(e);
                return Err(io::Error::other(msg));
            }
            // Continue the prefix (the readers read forward, each byte once).
            if let Err(e) = self.fetch(have, end) {
                let msg = e.to_string();
                *self.failure.borrow_mut() = Some(e);
                return Err(io::Error::other(msg));
            }
        }
        let prefix = self.prefix.borrow();
        let n = (end - offset) as usize;
        buf[..n].copy_from_slice(&prefix[offset as usize..offset as usize + n]);
        Ok(n)
    }

    fn name(&self) -> &Path {
        &self.name
    }
}
