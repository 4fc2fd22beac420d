//! Opens any model path (a `.gguf` file, a `.safetensors` file with its `config.json`, a
//! `model.safetensors.index.json`, or a directory holding one of these) and builds its
//! [`ModelProfile`]: shapes from the header keys ([`gguf`]) or config.json
//! ([`safetensors`]), sizes from the tensor table (`sizes.rs`), exact to the byte.
//!
//! BitNet SafeTensors checkpoints (`quantization_config.quant_method: "bitnet"`) store their
//! ternary projections packed four weights per byte in U8 tensors. Those are reported under
//! the type name [`crate::weight_type::PACKED_TERNARY`] with their stored bytes, and their
//! elements counted as four weights per stored byte.

mod arch_keys;
mod checks;
pub mod gguf;
pub mod safetensors;
mod sizes;
mod sliding;

pub use checks::MAX_CTX;
pub use gguf::profile_from_gguf;
pub use safetensors::{profile_from_safetensors, profile_without_config};
pub use sizes::layer_index;

use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::hf_config::HfConfig;
use crate::profile::ModelProfile;
use crate::safetensors::Checkpoint;
use std::fs;
use std::path::{Path, PathBuf};

/// File name of a sharded SafeTensors index.
pub const INDEX_NAME: &str = "model.safetensors.index.json";

/// Builds the profile of the model at `path` (see the module docs for what it accepts).
pub fn load_profile(path: &Path) -> Result<ModelProfile> {
    open_model(path)?.profile()
}

/// A model's parsed headers.
#[derive(Debug, Clone)]
pub enum OpenedModel {
    /// A GGUF file.
    Gguf(GgufFile),
    /// A SafeTensors checkpoint and its config.json.
    SafeTensors(Checkpoint, HfConfig),
}

impl OpenedModel {
    /// The model's profile.
    pub fn profile(&self) -> Result<ModelProfile> {
        match self {
            OpenedModel::Gguf(g) => profile_from_gguf(g),
            OpenedModel::SafeTensors(ck, cfg) => profile_from_safetensors(ck, cfg),
        }
    }
}

/// Finds the model file at `path` (a file or a directory) and parses its headers.
pub fn open_model(path: &Path) -> Result<OpenedModel> {
    let meta = fs::metadata(path).map_err(|source| Error::io(path.to_path_buf(), source))?;
    let target = if meta.is_dir() {
        find_in_dir(path)?
    } else {
        path.to_path_buf()
    };
    Ok(match kind_of(&target)? {
        Kind::Gguf => OpenedModel::Gguf(GgufFile::open_all_parts(&target)?),
        Kind::SafeTensors => {
            OpenedModel::SafeTensors(Checkpoint::open_file(&target)?, config_beside(&target)?)
        }
        Kind::Index => {
            OpenedModel::SafeTensors(Checkpoint::open_index(&target)?, config_beside(&target)?)
        }
    })
}

/// What a model file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gguf,
    SafeTensors,
    Index,
}

/// Decides by name, then by the GGUF magic.
fn kind_of(path: &Path) -> Result<Kind> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".gguf") {
        return Ok(Kind::Gguf);
    }
    if name.ends_with(".safetensors") {
        return Ok(Kind::SafeTensors);
    }
    if name.ends_with(".index.json") {
        return Ok(Kind::Index);
    }
    let mut magic = [0u8; 4];
    let is_gguf = fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"GGUF";
    if is_gguf {
        Ok(Kind::Gguf)
    } else {
        Err(Error::unsupported(
            path,
            "not a model file: expected a .gguf file, a .safetensors file, a \
             model.safetensors.index.json or a directory holding one",
        ))
    }
}

/// The model file inside a directory: its single GGUF, else its SafeTensors index, else its
/// single SafeTensors file.
fn find_in_dir(dir: &Path) -> Result<PathBuf> {
    let entries = fs::read_dir(dir).map_err(|source| Error::io(dir.to_path_buf(), source))?;
    let mut gguf = Vec::new();
    let mut st = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        let n = e.file_name().to_string_lossy().to_ascii_lowercase();
        if n.ends_with(".gguf") {
            gguf.push(p);
        } else if n.ends_with(".safetensors") {
            st.push(p);
        }
    }
    gguf.sort();
    st.sort();
    let several = |what: &str, files: &[PathBuf]| {
        Error::unsupported(
            dir,
            format!(
                "the directory holds several {what} files ({}); name one",
                files
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    match gguf.len() {
        1 => return Ok(gguf.remove(0)),
        n if n > 1 => {
            // The parts of one split model: its first part (the others are read with it).
            if let Some(first) = crate::gguf::split::first_part(&gguf) {
                return Ok(first);
            }
            return Err(several("GGUF", &gguf));
        }
        _ => {}
    }
    let index = dir.join(INDEX_NAME);
    if index.is_file() {
        return Ok(index);
    }
    match st.len() {
        1 => Ok(st.remove(0)),
        0 => Err(Error::unsupported(
            dir,
            "no .gguf, .safetensors or model.safetensors.index.json in the directory",
        )),
        _ => Err(several("SafeTensors (and no index)", &st)),
    }
}

/// Whether a SafeTensors checkpoint file or index has no config.json beside it.
pub fn lacks_config(file: &Path) -> bool {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    (name.ends_with(".safetensors") || name.ends_with(".index.json"))
        && !file
            .parent()
            .unwrap_or(Path::new("."))
            .join("config.json")
            .is_file()
}

/// The config.json in the same directory as `file`.
fn config_beside(file: &Path) -> Result<HfConfig> {
    let cfg = file.parent().unwrap_or(Path::new(".")).join("config.json");
    if !cfg.is_file() {
        return Err(Error::malformed(
            file,
            format!(
                "no config.json beside it ({}): SafeTensors headers do not hold the model's shape",
                cfg.display()
            ),
        ));
    }
    Ok(HfConfig::open(&cfg)?)
}
