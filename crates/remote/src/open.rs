//! Resolving a reference and reading its headers: the local stores first, then the
//! cache, then the network; each remote file through an [`HttpSource`] read by the same
//! readers as a local file.

use crate::cache::{Cache, CachedHeader};
use crate::error::{Error, Result};
use crate::hf::{resolve_local as hf_local, resolve_remote as hf_remote, Want};
use crate::http::{Client, Stats};
use crate::ollama::{resolve_local as ollama_local, resolve_remote as ollama_remote, Name};
use crate::options::Options;
use crate::plan::{dir_of, join, Plan, Resolution};
use crate::reference::ModelRef;
use crate::source::HttpSource;
use memcal_formats::gguf::GgufFile;
use memcal_formats::hf_config::HfConfig;
use memcal_formats::safetensors::{Checkpoint, SafeTensorsFile};
use memcal_formats::ReadAt;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// What a reference opened as.
#[derive(Debug, Clone)]
pub enum Target {
    /// A local path (given as one, or found in Ollama's store or the Hugging Face cache):
    /// open it as any local model.
    Local(PathBuf),
    /// A remote GGUF's header (a split model's parts joined).
    Gguf(GgufFile),
    /// A remote SafeTensors checkpoint's headers and its config.json.
    SafeTensors(Checkpoint, HfConfig),
}

/// An opened reference.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The headers, or the local path to read them from.
    pub target: Target,
    /// The model's name where the file's own would mislead: a repository's name, an
    /// Ollama model's `MODEL:TAG`.
    pub name: Option<String>,
    /// An Ollama model's params layer (`num_ctx`, `num_batch`, `num_gpu`, `stop`...).
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// How it was resolved (local store, cache).
    pub notes: Vec<String>,
}

impl Opened {
    /// An integer of the Ollama params (`num_ctx`...), when present and non-negative.
    pub fn param_u64(&self, key: &str) -> Option<u64> {
        self.params.as_ref()?.get(key)?.as_u64()
    }
}

/// Resolves references and reads their headers, with one client, cache and set of
/// counters.
#[derive(Debug)]
pub struct Remote {
    opts: Options,
    client: Client,
    cache: Option<Cache>,
}

/// The most of a GGUF read: the reader's bound.
const GGUF_LIMIT: u64 = memcal_formats::gguf::reader::MAX_HEADER_BYTES;
/// The most of a SafeTensors file read: the length and the header's bound.
const ST_LIMIT: u64 = 8 + memcal_formats::safetensors::MAX_HEADER_BYTES;
/// A SafeTensors file's first read.
const ST_FIRST: u64 = memcal_formats::safetensors::INITIAL_HEADER_READ;

impl Remote {
    /// A resolver with these options.
    pub fn new(opts: Options) -> Remote {
        let auth = opts.hf_token.as_ref().and_then(|t| {
            let host = crate::http::host_of(&opts.hf_endpoint)?;
            Some((host, t.clone()))
        });
        let hf_host = crate::http::host_of(&opts.hf_endpoint);
        let client = Client::new(opts.http.clone(), auth, hf_host);
        let cache = opts.cache_dir.as_ref().map(Cache::new);
        Remote {
            opts,
            client,
            cache,
        }
    }

    /// A resolver with [`Options::from_env`].
    pub fn from_env() -> Remote {
        Remote::new(Options::from_env())
    }

    /// Requests sent and bytes received so far.
    pub fn stats(&self) -> &Stats {
        self.client.stats()
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Resolves `reference` and reads its headers (a path is returned as it is).
    pub fn open(&self, reference: &str) -> Result<Opened> {
        let r = ModelRef::parse(reference)?;
        if let ModelRef::Path(p) = r {
            return Ok(Opened {
                target: Target::Local(p),
                name: None,
                params: None,
                notes: Vec::new(),
            });
        }
        let resolution = self.resolve(&r)?;
        let notes = RefCell::new(resolution.notes.clone());
        let target = match &resolution.plan {
            Plan::Local { path } => Target::Local(path.clone()),
            Plan::Gguf { url } => Target::Gguf(self.gguf(url, &notes)?),
            Plan::SafeTensorsFile {
                url,
                config_url,
                config,
            } => {
                let st = self.read_header(url, ST_LIMIT, &notes, |s| {
                    SafeTensorsFile::read_from(s, ST_FIRST)
                })?;
                let ck = Checkpoint {
                    path: PathBuf::from(url),
                    shards: vec![st],
                    notes: Vec::new(),
                };
                Target::SafeTensors(
                    ck,
                    HfConfig::parse(Path::new(config_url), config.as_bytes())?,
                )
            }
            Plan::SafeTensorsIndex {
                url,
                base,
                index,
                config_url,
                config,
            } => {
                let failure: RefCell<Option<Error>> = RefCell::new(None);
                let ck = Checkpoint::from_index(Path::new(url), index.as_bytes(), |shard| {
                    let shard_url = join(base, shard);
                    self.read_header(&shard_url, ST_LIMIT, &notes, |s| {
                        SafeTensorsFile::read_from(s, ST_FIRST)
                    })
                    .map_err(|e| stash(&failure, e, &shard_url))
                })
                .map_err(|e| failure.borrow_mut().take().unwrap_or(Error::Format(e)))?;
                Target::SafeTensors(
                    ck,
                    HfConfig::parse(Path::new(config_url), config.as_bytes())?,
                )
            }
        };
        let params = match &resolution.params {
            Some(text) => serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.as_object().cloned()),
            None => None,
        };
        Ok(Opened {
            target,
            name: resolution.name,
            params,
            notes: notes.into_inner(),
        })
    }

    /// The resolution: local stores, then the cache, then the network (then cached).
    fn resolve(&self, r: &ModelRef) -> Result<Resolution> {
        if self.opts.local_stores {
            let local = match r {
                ModelRef::HfFile {
                    repo,
                    revision,
                    file,
                } => hf_local(&self.opts, repo, revision.as_deref(), Want::File(file)).map(Ok),
                ModelRef::HfRepo {
                    repo,
                    revision,
                    quant,
                } => hf_local(
                    &self.opts,
                    repo,
                    revision.as_deref(),
                    Want::Repo(quant.as_deref()),
                )
                .map(Ok),
                ModelRef::Ollama {
                    host,
                    namespace,
                    model,
                    tag,
                } => ollama_local(
                    &self.opts,
                    Name {
                        host: host.as_deref(),
                        namespace,
                        model,
                        tag,
                    },
                ),
                _ => None,
            };
            if let Some(found) = local {
                return found;
            }
        }
        let key = format!("resolve {r}");
        if let (Some(cache), false) = (&self.cache, self.opts.refresh) {
            if let Some(v) = cache.resolution(&key) {
                if let Ok(res) = serde_json::from_value::<Resolution>(v) {
                    return Ok(res);
                }
            }
        }
        let res = match r {
            ModelRef::Path(p) => Resolution::new(Plan::Local { path: p.clone() }),
            ModelRef::Url(url) => self.resolve_url(url)?,
            ModelRef::HfFile {
                repo,
                revision,
                file,
            } => hf_remote(
                &self.client,
                &self.opts,
                repo,
                revision.as_deref(),
                Want::File(file),
            )?,
            ModelRef::HfRepo {
                repo,
                revision,
                quant,
            } => hf_remote(
                &self.client,
                &self.opts,
                repo,
                revision.as_deref(),
                Want::Repo(quant.as_deref()),
            )?,
            ModelRef::Ollama {
                host,
                namespace,
                model,
                tag,
            } => ollama_remote(
                &self.client,
                &self.opts,
                Name {
                    host: host.as_deref(),
                    namespace,
                    model,
                    tag,
                },
            )?,
        };
        if let Some(cache) = &self.cache {
            if let Ok(v) = serde_json::to_value(&res) {
                // A cache that cannot be written costs a later query its requests, nothing
                // more.
                let _ = cache.put_resolution(&key, &v);
            }
        }
        Ok(res)
    }

    /// A plain URL: a GGUF, or a SafeTensors file or index with config.json beside it.
    fn resolve_url(&self, url: &str) -> Result<Resolution> {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        let small = |u: &str, max: u64, what: &str| -> Result<String> {
            let b = self
                .client
                .get_small(u, crate::http::Ask::default(), max, false, what)?;
            String::from_utf8(b).map_err(|_| Error::protocol(u, "not UTF-8 text"))
        };
        let config = || {
            let cu = join(&dir_of(url), "config.json");
            let text = small(
                &cu,
                memcal_formats::hf_config::MAX_CONFIG_BYTES,
                "no config.json beside the weights: SafeTensors headers do not hold the model's shape",
            )?;
            Ok::<_, Error>((cu, text))
        };
        Ok(Resolution::new(if path.ends_with(".safetensors") {
            let (config_url, config) = config()?;
            Plan::SafeTensorsFile {
                url: url.to_string(),
                config_url,
                config,
            }
        } else if path.ends_with(".json") {
            let (config_url, config) = config()?;
            let index = small(
                url,
                memcal_formats::safetensors::MAX_INDEX_BYTES,
                "no such index",
            )?;
            Plan::SafeTensorsIndex {
                url: url.to_string(),
                base: dir_of(url),
                index,
                config_url,
                config,
            }
        } else {
            Plan::Gguf {
                url: url.to_string(),
            }
        }))
    }

    /// A remote GGUF, with the other parts of a split model beside it.
    fn gguf(&self, url: &str, notes: &RefCell<Vec<String>>) -> Result<GgufFile> {
        let first_chunk = self.opts.http.first_chunk;
        let first = self.read_header(url, GGUF_LIMIT, notes, |s| {
            GgufFile::read_from(s, first_chunk)
        })?;
        let base = dir_of(url);
        let failure: RefCell<Option<Error>> = RefCell::new(None);
        first
            .join_parts(|name| {
                let part = join(&base, name);
                self.read_header(&part, GGUF_LIMIT, notes, |s| {
                    GgufFile::read_from(s, first_chunk)
                })
                .map_err(|e| stash(&failure, e, &part))
            })
            .map_err(|e| failure.borrow_mut().take().unwrap_or(Error::Format(e)))
    }

    /// Reads one remote file's header with `read`, from the cache when it holds it, and
    /// caches what the network gave.
    fn read_header<T>(
        &self,
        url: &str,
        limit: u64,
        notes: &RefCell<Vec<String>>,
        read: impl Fn(&dyn ReadAt) -> memcal_formats::Result<T>,
    ) -> Result<T> {
        // The first request asks for what the format's reader reads first.
        let first_chunk = if limit == ST_LIMIT {
            self.opts.http.first_chunk.min(ST_FIRST)
        } else {
            self.opts.http.first_chunk
        };
        let cached = match (&self.cache, self.opts.refresh) {
            (Some(c), false) => c.header(url),
            _ => None,
        };
        let src = match cached {
            Some(h) => HttpSource::cached(&self.client, url, h.len, h.etag, h.prefix, limit),
            None => HttpSource::open(&self.client, url, first_chunk, limit)?,
        };
        let out = read(&src).map_err(|e| src.take_failure().unwrap_or(Error::Format(e)))?;
        if let (Some(cache), true) = (&self.cache, src.fetched()) {
            let entry = CachedHeader {
                len: src.len(),
                etag: src.etag().map(str::to_string),
                prefix: src.prefix(),
            };
            if let Err(e) = cache.put_header(url, &entry) {
                let mut n = notes.borrow_mut();
                let line = format!("{e} (the next query reads the header again)");
                if !n.contains(&line) {
                    n.push(line);
                }
            }
        }
        Ok(out)
    }
}

/// Keeps a remote error for the caller of a reader callback (which must return the
/// readers' error type); a stand-in naming the URL travels through the reader meanwhile.
fn stash(slot: &RefCell<Option<Error>>, e: Error, url: &str) -> memcal_formats::Error {
    let stand_in = memcal_formats::Error::malformed(url, e.to_string());
    *slot.borrow_mut() = Some(e);
    stand_in
}
