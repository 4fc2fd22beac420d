//! What a reference resolved to: the files to read and what goes with them. Cached as
//! JSON (the small documents inside, so that a cached resolution needs no request).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The files a reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Plan {
    /// A local file or directory (an Ollama blob, a Hugging Face cache snapshot).
    Local { path: PathBuf },
    /// A remote GGUF (the first part, for a split model: the other parts lie beside it).
    Gguf { url: String },
    /// A remote single SafeTensors file and its config.json.
    SafeTensorsFile {
        url: String,
        config_url: String,
        config: String,
    },
    /// A remote sharded SafeTensors checkpoint: the index, its shards beside it (`base`),
    /// and config.json.
    SafeTensorsIndex {
        url: String,
        base: String,
        index: String,
        config_url: String,
        config: String,
    },
}

/// A resolution: the plan, the profile's name, Ollama's params, notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Resolution {
    pub(crate) plan: Plan,
    /// The model's name where the file's own would mislead (a repository, an Ollama tag).
    pub(crate) name: Option<String>,
    /// The Ollama params layer, as JSON text.
    pub(crate) params: Option<String>,
    /// Notes on how it was resolved.
    pub(crate) notes: Vec<String>,
}

impl Resolution {
    pub(crate) fn new(plan: Plan) -> Resolution {
        Resolution {
            plan,
            name: None,
            params: None,
            notes: Vec::new(),
        }
    }
}

/// `base` + `/` + `name`.
pub(crate) fn join(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// The URL's directory (everything before the last `/`, query dropped).
pub(crate) fn dir_of(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    no_query
        .rsplit_once('/')
        .map_or(no_query, |(d, _)| d)
        .to_string()
}
