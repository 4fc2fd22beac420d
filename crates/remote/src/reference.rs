//! Model references: what a user may give where a model path is accepted.

use crate::error::{Error, Result};
use std::fmt;
use std::path::PathBuf;

/// A model reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A local path (file or directory), read as before.
    Path(PathBuf),
    /// An `http://` or `https://` URL of a `.gguf` or `.safetensors` file.
    Url(String),
    /// `hf://OWNER/REPO[@REVISION]/FILE`: one file of a Hugging Face repository (a
    /// `.gguf`, the first part of a split GGUF, a `.safetensors` or an index.json).
    HfFile {
        /// `OWNER/REPO`.
        repo: String,
        /// The branch, tag or commit (`main` when absent).
        revision: Option<String>,
        /// The file's path in the repository.
        file: String,
    },
    /// `hf://OWNER/REPO[@REVISION][:QUANT]`: a repository; a GGUF repository's file is
    /// picked by its quantization tag as llama.cpp's `-hf` picks it, a SafeTensors
    /// repository is read whole (config.json, the index, every shard's header).
    HfRepo {
        /// `OWNER/REPO`.
        repo: String,
        /// The branch, tag or commit (`main` when absent).
        revision: Option<String>,
        /// The quantization tag (`Q4_K_M`, `q8_0`...), when given.
        quant: Option<String>,
    },
    /// `ollama://[NAMESPACE/]MODEL[:TAG]` (also `ollama://HOST/NAMESPACE/MODEL[:TAG]`).
    Ollama {
        /// The registry host, when named in the reference.
        host: Option<String>,
        /// The namespace (`library` when absent).
        namespace: String,
        /// The model.
        model: String,
        /// The tag (`latest` when absent).
        tag: String,
    },
}

/// Whether `s` is written as a remote reference (`http(s)://`, `hf://`, `ollama://`)
/// rather than a path.
pub fn is_reference(s: &str) -> bool {
    ["http://", "https://", "hf://", "ollama://"]
        .iter()
        .any(|p| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p))
}

/// A repository, model or namespace name: letters, digits, `.`, `_`, `-`.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl ModelRef {
    /// Parses a reference; anything not written as a remote reference is a path.
    pub fn parse(s: &str) -> Result<ModelRef> {
        let bad = |what: &str| Error::Reference {
            reference: s.to_string(),
            what: what.to_string(),
        };
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let host = s.split_once("://").map_or("", |(_, r)| r);
            if host.is_empty() || host.starts_with('/') {
                return Err(bad("the URL has no host"));
            }
            return Ok(ModelRef::Url(s.to_string()));
        }
        if let Some(rest) = strip_prefix_ci(s, "hf://") {
            return parse_hf(rest).ok_or_else(|| {
                bad("expected hf://OWNER/REPO[@REVISION]/FILE or hf://OWNER/REPO[@REVISION][:QUANT]")
            });
        }
        if let Some(rest) = strip_prefix_ci(s, "ollama://") {
            return parse_ollama(rest)
                .ok_or_else(|| bad("expected ollama://[NAMESPACE/]MODEL[:TAG]"));
        }
        Ok(ModelRef::Path(PathBuf::from(s)))
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn parse_hf(rest: &str) -> Option<ModelRef> {
    let mut parts = rest.splitn(3, '/');
    let owner = parts.next()?;
    let name_part = parts.next()?;
    let file = parts.next();
    if !plain_name(owner) {
        return None;
    }
    let revision_ok = |r: &str| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    match file {
        Some(file) => {
            let (name, revision) = match name_part.split_once('@') {
                Some((n, r)) => (n, Some(r)),
                None => (name_part, None),
            };
            let file_ok = !file.is_empty()
                && !file.starts_with('/')
                && file
                    .split('/')
                    .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains('\\'));
            if !plain_name(name) || !file_ok || !revision.is_none_or(revision_ok) {
                return None;
            }
            Some(ModelRef::HfFile {
                repo: format!("{owner}/{name}"),
                revision: revision.map(str::to_string),
                file: file.to_string(),
            })
        }
        None => {
            let (head, quant) = match name_part.rsplit_once(':') {
                Some((h, q)) => (h, Some(q)),
                None => (name_part, None),
            };
            let (name, revision) = match head.split_once('@') {
                Some((n, r)) => (n, Some(r)),
                None => (head, None),
            };
            if !plain_name(name)
                || !revision.is_none_or(revision_ok)
                || !quant.is_none_or(plain_name)
            {
                return None;
            }
            Some(ModelRef::HfRepo {
                repo: format!("{owner}/{name}"),
                revision: revision.map(str::to_string),
                quant: quant.map(str::to_string),
            })
        }
    }
}

fn parse_ollama(rest: &str) -> Option<ModelRef> {
    let (path, tag) = match rest.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, t),
        _ => (rest, "latest"),
    };
    let parts: Vec<&str> = path.split('/').collect();
    let (host, namespace, model) = match parts.as_slice() {
        [m] => (None, "library", *m),
        [n, m] => (None, *n, *m),
        [h, n, m] => (Some(*h), *n, *m),
        _ => return None,
    };
    let host_ok = host.is_none_or(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    });
    if !plain_name(namespace) || !plain_name(model) || !plain_name(tag) || !host_ok {
        return None;
    }
    Some(ModelRef::Ollama {
        host: host.map(str::to_string),
        namespace: namespace.to_string(),
        model: model.to_string(),
        tag: tag.to_string(),
    })
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |r: &Option<String>| r.as_ref().map(|r| format!("@{r}")).unwrap_or_default();
        match self {
            ModelRef::Path(p) => write!(f, "{}", p.display()),
            ModelRef::Url(u) => f.write_str(u),
            ModelRef::HfFile {
                repo,
                revision,
                file,
            } => write!(f, "hf://{repo}{}/{file}", at(revision)),
            ModelRef::HfRepo {
                repo,
                revision,
                quant,
            } => {
                let q = quant.as_ref().map(|q| format!(":{q}")).unwrap_or_default();
                write!(f, "hf://{repo}{}{q}", at(revision))
            }
            ModelRef::Ollama {
                host,
                namespace,
                model,
                tag,
            } => {
                let h = host.as_ref().map(|h| format!("{h}/")).unwrap_or_default();
                write!(f, "ollama://{h}{namespace}/{model}:{tag}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_parse() {
        let p = |s: &str| ModelRef::parse(s).map_err(|e| e.to_string());
        assert_eq!(p("model.gguf"), Ok(ModelRef::Path("model.gguf".into())));
        assert_eq!(
            p("https://example.org/m.gguf"),
            Ok(ModelRef::Url("https://example.org/m.gguf".into()))
        );
        assert_eq!(
            p("hf://bartowski/Llama-3.2-1B-GGUF:Q4_K_M"),
            Ok(ModelRef::HfRepo {
                repo: "bartowski/Llama-3.2-1B-GGUF".into(),
                revision: None,
                quant: Some("Q4_K_M".into())
            })
        );
        assert_eq!(
            p("hf://o/r@v1.0/sub/m-00001-of-00002.gguf"),
            Ok(ModelRef::HfFile {
                repo: "o/r".into(),
                revision: Some("v1.0".into()),
                file: "sub/m-00001-of-00002.gguf".into()
            })
        );
        assert_eq!(
            p("hf://o/r@abc123"),
            Ok(ModelRef::HfRepo {
                repo: "o/r".into(),
                revision: Some("abc123".into()),
                quant: None
            })
        );
        assert_eq!(
            p("ollama://llama3.2"),
            Ok(ModelRef::Ollama {
                host: None,
                namespace: "library".into(),
                model: "llama3.2".into(),
                tag: "latest".into()
            })
        );
        assert_eq!(
            p("ollama://me/tiny:q8"),
            Ok(ModelRef::Ollama {
                host: None,
                namespace: "me".into(),
                model: "tiny".into(),
                tag: "q8".into()
            })
        );
        for bad in [
            "hf://",
            "hf://owner",
            "hf://o/r/../x.gguf",
            "hf://o/r:Q4/x",
            "ollama://",
            "ollama://a/b/c/d",
            "https://",
            "hf://o/r:",
        ] {
            assert!(p(bad).is_err(), "{bad} parsed");
        }
        assert!(is_reference("HF://o/r") && !is_reference("./hf/o"));
    }
}
