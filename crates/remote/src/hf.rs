//! Hugging Face repositories: files at `{endpoint}/{repo}/resolve/{revision}/{file}`, the
//! file list from `{endpoint}/api/models/{repo}/revision/{revision}`, a GGUF picked by its
//! quantization tag as llama.cpp's `-hf REPO:QUANT` picks it (the Hub's
//! `/v2/{repo}/manifests/{tag}`, then the same choice over the file list), and the local
//! Hugging Face cache (`models--OWNER--REPO/snapshots/{commit}/`) before the network.

use crate::error::{Error, Result};
use crate::http::{Ask, Client};
use crate::options::Options;
use crate::plan::{dir_of, Plan, Resolution};
use memcal_formats::hf_config::MAX_CONFIG_BYTES;
use memcal_formats::safetensors::MAX_INDEX_BYTES;
use std::path::{Path, PathBuf};

/// The index of a sharded SafeTensors checkpoint.
pub const INDEX_NAME: &str = "model.safetensors.index.json";
/// Largest API answer read (a file list).
const MAX_API_BYTES: u64 = 16 << 20;

/// What of a repository is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Want<'a> {
    /// One file.
    File(&'a str),
    /// The repository, a GGUF picked by tag.
    Repo(Option<&'a str>),
}

fn upper(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// Whether `tag` occurs in `name` as a token (not inside a longer name: `Q4_K` is not in
/// `Q4_K_M`).
fn has_token(name: &str, tag: &str) -> bool {
    let (n, t) = (upper(name), upper(tag));
    let bytes = n.as_bytes();
    let mut from = 0;
    while let Some(i) = n[from..].find(&t) {
        let at = from + i;
        let before = at.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(at + t.len()).copied();
        let edge = |b: Option<u8>| b.is_none_or(|b| !b.is_ascii_alphanumeric() && b != b'_');
        if edge(before) && edge(after) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The GGUF files a tag can pick: not projectors, and only a split model's first part.
fn candidates(files: &[String]) -> Vec<&String> {
    let mut c: Vec<&String> = files
        .iter()
        .filter(|f| {
            let u = upper(f);
            u.ends_with(".GGUF")
                && !u.contains("MMPROJ")
                && (!u.contains("-OF-") || u.contains("-00001-OF-"))
        })
        .collect();
    c.sort();
    c
}

/// The GGUF llama.cpp's `-hf REPO[:TAG]` picks from a file list: for a tag, the file
/// holding it as a token (else as a prefix, `q4` for `Q4_K_M`), case-insensitively; with
/// no tag (`latest`), Q4_K_M, else a Q4 file, else the first GGUF.
pub fn pick_gguf(files: &[String], tag: Option<&str>) -> Option<String> {
    let c = candidates(files);
    let tag = tag.filter(|t| !t.eq_ignore_ascii_case("latest"));
    let found = match tag {
        Some(t) => c
            .iter()
            .find(|f| has_token(f, t))
            .or_else(|| {
                c.iter()
                    .find(|f| has_token(f, "Q4_K_M") && upper(f).contains(&upper(t)))
            })
            .or_else(|| {
                c.iter()
                    .find(|f| upper(f).contains(&format!("{}_", upper(t))))
            }),
        None => c
            .iter()
            .find(|f| has_token(f, "Q4_K_M"))
            .or_else(|| c.iter().find(|f| upper(f).contains("Q4")))
            .or_else(|| c.first()),
    };
    found.map(|f| f.to_string())
}

fn resolve_url(opts: &Options, repo: &str, rev: &str, file: &str) -> String {
    format!("{}/{repo}/resolve/{rev}/{file}", opts.hf_endpoint)
}

/// The short name of a repository (`OWNER/NAME` -> `NAME`).
fn repo_name(repo: &str) -> String {
    repo.rsplit('/').next().unwrap_or(repo).to_string()
}

/// The directory of `file` within the repository (`""` at the top).
fn repo_dir(file: &str) -> &str {
    file.rsplit_once('/').map_or("", |(d, _)| d)
}

fn in_dir(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Resolves over the network.
pub(crate) fn resolve_remote(
    client: &Client,
    opts: &Options,
    repo: &str,
    revision: Option<&str>,
    want: Want<'_>,
) -> Result<Resolution> {
    let rev = revision.unwrap_or("main");
    let file = match want {
        Want::File(f) => f.to_string(),
        Want::Repo(Some(tag)) if revision.is_none() => {
            match manifest_file(client, opts, repo, tag)? {
                Some(f) => f,
                None => pick_from_list(client, opts, repo, rev, Some(tag))?.0,
            }
        }
        Want::Repo(tag) => {
            let (f, sha) = pick_from_list(client, opts, repo, rev, tag)?;
            return plan_for(client, opts, repo, &sha, &f, true);
        }
    };
    plan_for(
        client,
        opts,
        repo,
        rev,
        &file,
        matches!(want, Want::Repo(_)),
    )
}

/// llama.cpp's way: the Hub's Ollama-compatible manifest names the file (`ggufFile`).
/// `None` when the Hub has no manifest for the tag (404, 400): the file list decides.
fn manifest_file(client: &Client, opts: &Options, repo: &str, tag: &str) -> Result<Option<String>> {
    let url = format!("{}/v2/{repo}/manifests/{tag}", opts.hf_endpoint);
    let ask = Ask {
        accept: Some("application/json"),
        user_agent: Some("llama-cpp"),
        ..Ask::default()
    };
    let bytes = match client.get_small(&url, ask, MAX_API_BYTES, true, "no such repository or tag")
    {
        Ok(b) => b,
        Err(Error::Status {
            status: 400 | 404, ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::protocol(&url, format!("the manifest is not JSON: {e}")))?;
    Ok(json
        .pointer("/ggufFile/rfilename")
        .and_then(|v| v.as_str())
        .map(str::to_string))
}

/// The repository's file list at `rev` and its commit.
fn file_list(
    client: &Client,
    opts: &Options,
    repo: &str,
    rev: &str,
) -> Result<(Vec<String>, String)> {
    let url = format!("{}/api/models/{repo}/revision/{rev}", opts.hf_endpoint);
    let ask = Ask {
        accept: Some("application/json"),
        ..Ask::default()
    };
    let bytes = client.get_small(
        &url,
        ask,
        MAX_API_BYTES,
        true,
        "no such repository or revision (a private repository also answers 404 without HF_TOKEN)",
    )?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::protocol(&url, format!("the file list is not JSON: {e}")))?;
    let files: Vec<String> = json
        .get("siblings")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.get("rfilename")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let sha = json
        .get("sha")
        .and_then(|s| s.as_str())
        .filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric()) && !s.is_empty())
        .unwrap_or(rev)
        .to_string();
    Ok((files, sha))
}

/// The file of a repository to read: by tag for GGUF, else its SafeTensors index or file.
fn choose(files: &[String], tag: Option<&str>) -> std::result::Result<String, String> {
    let ggufs = candidates(files);
    if let Some(f) = pick_gguf(files, tag) {
        return Ok(f);
    }
    if let Some(t) = tag {
        let have: Vec<&str> = ggufs.iter().map(|s| s.as_str()).collect();
        return Err(if have.is_empty() {
            format!("no GGUF file to pick by the tag {t:?}")
        } else {
            format!(
                "no GGUF file with the tag {t:?} (there are {})",
                have.join(", ")
            )
        });
    }
    if files.iter().any(|f| f == INDEX_NAME) {
        return Ok(INDEX_NAME.to_string());
    }
    if let Some(f) = files.iter().find(|f| f.as_str() == "model.safetensors") {
        return Ok(f.clone());
    }
    Err("no GGUF file, model.safetensors.index.json or model.safetensors in it".to_string())
}

fn pick_from_list(
    client: &Client,
    opts: &Options,
    repo: &str,
    rev: &str,
    tag: Option<&str>,
) -> Result<(String, String)> {
    let (files, sha) = file_list(client, opts, repo, rev)?;
    let file = choose(&files, tag).map_err(|what| Error::NotFound {
        url: format!("{}/{repo} at {rev}", opts.hf_endpoint),
        what,
    })?;
    Ok((file, sha))
}

/// The plan for `file` of `repo` at `rev`: a GGUF as it is, a SafeTensors file or index
/// with the config.json beside it (and the index's text) fetched now.
fn plan_for(
    client: &Client,
    opts: &Options,
    repo: &str,
    rev: &str,
    file: &str,
    whole_repo: bool,
) -> Result<Resolution> {
    let url = resolve_url(opts, repo, rev, file);
    let lower = file.to_ascii_lowercase();
    let small = |u: &str, max: u64, what: &str| -> Result<String> {
        let bytes = client.get_small(u, Ask::default(), max, true, what)?;
        String::from_utf8(bytes).map_err(|_| Error::protocol(u, "not UTF-8 text"))
    };
    let config_for = |f: &str| {
        let cu = resolve_url(opts, repo, rev, &in_dir(repo_dir(f), "config.json"));
        let text = small(
            &cu,
            MAX_CONFIG_BYTES,
            "no config.json beside the weights: SafeTensors headers do not hold the model's shape",
        )?;
        Ok::<_, Error>((cu, text))
    };
    let mut r = if lower.ends_with(".safetensors") {
        let (config_url, config) = config_for(file)?;
        Resolution::new(Plan::SafeTensorsFile {
            url,
            config_url,
            config,
        })
    } else if lower.ends_with(".index.json") {
        let (config_url, config) = config_for(file)?;
        let index = small(&url, MAX_INDEX_BYTES, "no such index")?;
        Resolution::new(Plan::SafeTensorsIndex {
            base: dir_of(&url),
            url,
            index,
            config_url,
            config,
        })
    } else {
        Resolution::new(Plan::Gguf { url })
    };
    if whole_repo && !matches!(r.plan, Plan::Gguf { .. }) {
        r.name = Some(repo_name(repo));
    }
    Ok(r)
}

/// `models--OWNER--NAME` in the cache.
fn cache_repo_dir(opts: &Options, repo: &str) -> Option<PathBuf> {
    let root = opts.hf_cache.as_ref()?;
    Some(root.join(format!("models--{}", repo.replace('/', "--"))))
}

/// The snapshot directory of `rev` in the local cache, when present.
fn snapshot(opts: &Options, repo: &str, rev: &str) -> Option<PathBuf> {
    let dir = cache_repo_dir(opts, repo)?;
    let commit = std::fs::read_to_string(dir.join("refs").join(rev))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| rev.to_string());
    if commit.contains(['/', '\\']) || commit == ".." {
        return None;
    }
    let snap = dir.join("snapshots").join(commit);
    snap.is_dir().then_some(snap)
}

/// The files of a snapshot, relative (two levels: quantization folders).
fn snapshot_files(snap: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(snap) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if path.is_dir() {
            if let Ok(sub) = std::fs::read_dir(&path) {
                for s in sub.flatten() {
                    if s.path().is_file() {
                        out.push(format!("{name}/{}", s.file_name().to_string_lossy()));
                    }
                }
            }
        } else if path.is_file() {
            out.push(name);
        }
    }
    out.sort();
    out
}

/// Resolves from the local Hugging Face cache, when everything needed is there.
pub(crate) fn resolve_local(
    opts: &Options,
    repo: &str,
    revision: Option<&str>,
    want: Want<'_>,
) -> Option<Resolution> {
    let snap = snapshot(opts, repo, revision.unwrap_or("main"))?;
    let files = snapshot_files(&snap);
    let (file, whole) = match want {
        Want::File(f) => (f.to_string(), false),
        Want::Repo(tag) => (choose(&files, tag).ok()?, true),
    };
    let path = snap.join(&file);
    if !path.is_file() {
        return None;
    }
    let lower = file.to_ascii_lowercase();
    let dir = path.parent()?.to_path_buf();
    if lower.ends_with(".safetensors") || lower.ends_with(".index.json") {
        if !dir.join("config.json").is_file() {
            return None;
        }
        if lower.ends_with(".index.json") {
            let text = std::fs::read(&path).ok()?;
            let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
            let all_there = json
                .get("weight_map")?
                .as_object()?
                .values()
                .filter_map(|v| v.as_str())
                .all(|s| dir.join(s).is_file());
            if !all_there {
                return None;
            }
        }
    } else if let Some((prefix, count)) = split_of(&file) {
        let all_there = (1..=count).all(|k| {
            dir.join(format!("{prefix}-{k:05}-of-{count:05}.gguf"))
                .is_file()
        });
        if !all_there {
            return None;
        }
    }
    let mut r = Resolution::new(Plan::Local { path });
    if whole && !lower.ends_with(".gguf") {
        r.name = Some(repo_name(repo));
    }
    r.notes.push(format!(
        "read from the local Hugging Face cache ({})",
        snap.display()
    ));
    Some(r)
}

/// A split GGUF's file-name prefix and part count (`x-00001-of-00003.gguf`).
fn split_of(file: &str) -> Option<(String, u64)> {
    let name = file.rsplit('/').next()?;
    let stem = name.strip_suffix(".gguf")?;
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (prefix, _) = rest.rsplit_once('-')?;
    Some((prefix.to_string(), count.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_pick_files_as_llama_cpp_does() {
        let files: Vec<String> = [
            "README.md",
            "m-IQ4_XS.gguf",
            "m-Q4_K_M.gguf",
            "m-Q4_K_S.gguf",
            "m-Q8_0.gguf",
            "mmproj-m-f16.gguf",
            "Q6_K/m-Q6_K-00001-of-00002.gguf",
            "Q6_K/m-Q6_K-00002-of-00002.gguf",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let p = |t| pick_gguf(&files, t);
        assert_eq!(p(None).as_deref(), Some("m-Q4_K_M.gguf"));
        assert_eq!(p(Some("latest")).as_deref(), Some("m-Q4_K_M.gguf"));
        assert_eq!(p(Some("q8_0")).as_deref(), Some("m-Q8_0.gguf"));
        assert_eq!(p(Some("Q4_K_S")).as_deref(), Some("m-Q4_K_S.gguf"));
        assert_eq!(p(Some("q4")).as_deref(), Some("m-Q4_K_M.gguf"));
        assert_eq!(
            p(Some("Q6_K")).as_deref(),
            Some("Q6_K/m-Q6_K-00001-of-00002.gguf")
        );
        assert_eq!(p(Some("Q2_K")), None);
        assert_eq!(p(Some("F16")), None, "a projector is never the model");
    }
}
