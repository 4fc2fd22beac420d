//! Ollama models: the registry's manifest (`{registry}/v2/{namespace}/{model}/manifests/{tag}`),
//! its model layer (`application/vnd.ollama.image.model`, a GGUF blob read by range at
//! `/v2/{namespace}/{model}/blobs/{digest}`) and its params layer
//! (`application/vnd.ollama.image.params`: `num_ctx` and the like); and Ollama's local
//! store (`manifests/{host}/{namespace}/{model}/{tag}`, `blobs/sha256-<hex>`) before the
//! network.

use crate::error::{Error, Result};
use crate::http::{Ask, Client};
use crate::options::Options;
use crate::plan::{Plan, Resolution};
use std::path::PathBuf;

/// The model layer's media type.
pub const MODEL_LAYER: &str = "application/vnd.ollama.image.model";
/// The params layer's media type.
pub const PARAMS_LAYER: &str = "application/vnd.ollama.image.params";
/// The registry host Ollama's store names when none is given.
pub const DEFAULT_HOST: &str = "registry.ollama.ai";
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
const MAX_PARAMS_BYTES: u64 = 1 << 20;
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A model reference's parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Name<'a> {
    pub(crate) host: Option<&'a str>,
    pub(crate) namespace: &'a str,
    pub(crate) model: &'a str,
    pub(crate) tag: &'a str,
}

impl Name<'_> {
    /// The name a profile gets: `MODEL:TAG` (`NAMESPACE/MODEL:TAG` outside `library`).
    fn display(&self) -> String {
        if self.namespace == "library" {
            format!("{}:{}", self.model, self.tag)
        } else {
            format!("{}/{}:{}", self.namespace, self.model, self.tag)
        }
    }
}

/// The digests of the model and params layers.
fn layers(origin: &str, manifest: &[u8]) -> Result<(String, Option<String>)> {
    let json: serde_json::Value = serde_json::from_slice(manifest)
        .map_err(|e| Error::protocol(origin, format!("the manifest is not JSON: {e}")))?;
    let layers = json
        .get("layers")
        .and_then(|l| l.as_array())
        .ok_or_else(|| Error::protocol(origin, "the manifest has no layers"))?;
    let digest_of = |media: &str| -> Result<Option<String>> {
        let Some(layer) = layers
            .iter()
            .find(|l| l.get("mediaType").and_then(|m| m.as_str()) == Some(media))
        else {
            return Ok(None);
        };
        let d = layer
            .get("digest")
            .and_then(|d| d.as_str())
            .unwrap_or_default();
        let hex = d.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::protocol(
                origin,
                format!("the {media} layer's digest {d:?} is not sha256:<64 hex digits>"),
            ));
        }
        Ok(Some(d.to_string()))
    };
    let model = digest_of(MODEL_LAYER)?.ok_or_else(|| Error::NotFound {
        url: origin.to_string(),
        what: format!("the manifest has no model layer ({MODEL_LAYER})"),
    })?;
    Ok((model, digest_of(PARAMS_LAYER)?))
}

fn params_text(origin: &str, bytes: Vec<u8>) -> Result<String> {
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::protocol(origin, "the params layer is not UTF-8 JSON"))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::protocol(origin, format!("the params layer is not JSON: {e}")))?;
    if !json.is_object() {
        return Err(Error::protocol(
            origin,
            "the params layer is not a JSON object",
        ));
    }
    Ok(text)
}

/// Resolves from the registry.
pub(crate) fn resolve_remote(client: &Client, opts: &Options, n: Name<'_>) -> Result<Resolution> {
    let registry = match n.host {
        Some(h) => format!("https://{h}"),
        None => opts.ollama_registry.clone(),
    };
    let base = format!("{registry}/v2/{}/{}", n.namespace, n.model);
    let manifest_url = format!("{base}/manifests/{}", n.tag);
    let ask = Ask {
        accept: Some(MANIFEST_ACCEPT),
        ..Ask::default()
    };
    let manifest = client.get_small(
        &manifest_url,
        ask,
        MAX_MANIFEST_BYTES,
        false,
        "no such model or tag in the registry",
    )?;
    let (model, params) = layers(&manifest_url, &manifest)?;
    let mut r = Resolution::new(Plan::Gguf {
        url: format!("{base}/blobs/{model}"),
    });
    if let Some(p) = params {
        let url = format!("{base}/blobs/{p}");
        let bytes = client.get_small(
            &url,
            Ask::default(),
            MAX_PARAMS_BYTES,
            false,
            "no such blob",
        )?;
        r.params = Some(params_text(&url, bytes)?);
    }
    r.name = Some(n.display());
    Ok(r)
}

/// Resolves from Ollama's local store, when the model was pulled.
pub(crate) fn resolve_local(opts: &Options, n: Name<'_>) -> Option<Result<Resolution>> {
    let root = opts.ollama_models.as_ref()?;
    let manifest_path = root
        .join("manifests")
        .join(n.host.unwrap_or(DEFAULT_HOST))
        .join(n.namespace)
        .join(n.model)
        .join(n.tag);
    let manifest = std::fs::read(&manifest_path).ok()?;
    let origin = manifest_path.display().to_string();
    let blob = |d: &str| -> PathBuf { root.join("blobs").join(d.replace(':', "-")) };
    Some((|| {
        let (model, params) = layers(&origin, &manifest)?;
        let path = blob(&model);
        if !path.is_file() {
            return Err(Error::NotFound {
                url: origin.clone(),
                what: format!("the model blob {} is missing", path.display()),
            });
        }
        let mut r = Resolution::new(Plan::Local { path });
        if let Some(p) = params {
            let pp = blob(&p);
            let bytes =
                memcal_formats::hf_config::read_small_file(&pp, MAX_PARAMS_BYTES, "params")?;
            r.params = Some(params_text(&pp.display().to_string(), bytes)?);
        }
        r.name = Some(n.display());
        r.notes.push(format!(
            "read from Ollama's local store ({})",
            root.display()
        ));
        Ok(r)
    })())
}
