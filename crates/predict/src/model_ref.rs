//! Model references wherever a model path is accepted: a local path (read exactly as
//! [`crate::read::open_model`] reads it), or, with the `remote` feature, an `http(s)://`
//! URL, `hf://OWNER/REPO[@REV]/FILE`, `hf://OWNER/REPO[@REV][:QUANT]` or
//! `ollama://[NAMESPACE/]MODEL[:TAG]`, resolved and read header-only by `memcal-remote`
//! (local stores and the header cache first). An Ollama model's params layer gives the
//! run's defaults ([`RunDefaults`]: its `num_ctx`, as Ollama's runner is started with it).

use crate::error::{Error, Result};
use crate::profile::ModelProfile;
use crate::read::{open_model, OpenedModel};
use std::path::Path;

/// How references are read (the command line's `--no-cache` and `--refresh`); the
/// endpoints come from the environment (`memcal_remote::Options::from_env`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefOptions {
    /// Read no header cache and write none.
    pub no_cache: bool,
    /// Ask the network again and replace the cached answers.
    pub refresh: bool,
}

/// Run-configuration defaults a reference gives: an Ollama model's params.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunDefaults {
    /// The context (`num_ctx`), used when the user gives none.
    pub ctx: Option<u32>,
    /// The model the defaults come from, for the note.
    pub source: String,
}

impl RunDefaults {
    /// Fills `ctx` when the user left it out; returns the note saying so (none when
    /// nothing was filled).
    pub fn apply(&self, ctx: &mut Option<u32>) -> Vec<String> {
        match (self.ctx, *ctx) {
            (Some(c), None) => {
                *ctx = Some(c);
                vec![format!(
                    "context {c} from {}'s Ollama params (num_ctx), as Ollama starts its \
                     runner with it; --ctx overrides",
                    self.source
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// A model opened from a reference.
#[derive(Debug, Clone)]
pub struct OpenedRef {
    /// The headers.
    pub model: OpenedModel,
    /// The profile's name where the file's own would mislead (a repository, `MODEL:TAG`).
    pub name: Option<String>,
    /// The run's defaults from the reference.
    pub defaults: RunDefaults,
}

impl OpenedRef {
    /// The model's profile, named for the reference.
    pub fn profile(&self) -> Result<ModelProfile> {
        let mut p = self.model.profile()?;
        if let Some(n) = &self.name {
            p.name = n.clone();
        }
        Ok(p)
    }
}

/// Whether `reference` is written as a remote reference rather than a path.
pub fn is_reference(reference: &Path) -> bool {
    reference.to_str().is_some_and(|s| {
        ["http://", "https://", "hf://", "ollama://"]
            .iter()
            .any(|p| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)))
    })
}

/// Opens a model path or reference. Paths go to [`open_model`] unchanged (the same
/// errors as always).
pub fn open_reference(reference: &Path, opts: RefOptions) -> Result<OpenedRef> {
    if !is_reference(reference) {
        return Ok(OpenedRef {
            model: open_model(reference)?,
            name: None,
            defaults: RunDefaults::default(),
        });
    }
    open_remote(reference.to_str().unwrap_or_default(), opts)
}

/// The profile of a model path or reference, with its run defaults.
pub fn load_reference(reference: &Path, opts: RefOptions) -> Result<(ModelProfile, RunDefaults)> {
    let opened = open_reference(reference, opts)?;
    Ok((opened.profile()?, opened.defaults))
}

#[cfg(not(feature = "remote"))]
fn open_remote(reference: &str, _opts: RefOptions) -> Result<OpenedRef> {
    Err(Error::unsupported(
        reference,
        "a remote model reference, but this build reads local files only (memcal-predict's \
         `remote` feature, which the predictor command and the Python package turn on)",
    ))
}

#[cfg(feature = "remote")]
fn open_remote(reference: &str, opts: RefOptions) -> Result<OpenedRef> {
    let mut o = memcal_remote::Options::from_env();
    if opts.no_cache {
        o.cache_dir = None;
    }
    o.refresh = opts.refresh;
    let opened = memcal_remote::Remote::new(o)
        .open(reference)
        .map_err(remote_error)?;
    let ctx = opened
        .param_u64("num_ctx")
        .and_then(|c| u32::try_from(c).ok())
        .filter(|&c| c > 0);
    let defaults = RunDefaults {
        ctx,
        source: opened.name.clone().unwrap_or_else(|| reference.to_string()),
    };
    let model = match opened.target {
        memcal_remote::Target::Local(path) => open_model(&path)?,
        memcal_remote::Target::Gguf(g) => OpenedModel::Gguf(g),
        memcal_remote::Target::SafeTensors(ck, cfg) => OpenedModel::SafeTensors(ck, cfg),
    };
    Ok(OpenedRef {
        model,
        name: opened.name,
        defaults,
    })
}

#[cfg(feature = "remote")]
fn remote_error(e: memcal_remote::Error) -> Error {
    match e {
        memcal_remote::Error::Format(f) => Error::Format(f),
        other => Error::Remote(Box::new(other)),
    }
}
