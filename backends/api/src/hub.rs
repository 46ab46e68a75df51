//! Checkpoint resolution: a local directory, or a model id in the Hugging Face hub cache
//! (`models--Org--Name/snapshots/<rev>/`, `refs/<branch>`); offline, no network.
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// The hub cache directory: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hf_cache_dir() -> PathBuf {
    if let Ok(p) = std::env::var("HF_HUB_CACHE") {
        return PathBuf::from(p);
    }
    if let Ok(p) = std::env::var("HF_HOME") {
        return PathBuf::from(p).join("hub");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".cache/huggingface/hub")
}

/// Resolve `path_or_id` to a checkpoint directory. A local directory wins; otherwise the
/// string is read as `Org/Name[@revision]` and looked up in the hub cache (no network).
pub fn resolve_model_dir(path_or_id: &str) -> Result<PathBuf> {
    resolve_model_dir_in(path_or_id, &hf_cache_dir())
}

/// [`resolve_model_dir`] against an explicit hub cache directory.
pub fn resolve_model_dir_in(path_or_id: &str, cache: &Path) -> Result<PathBuf> {
    let p = Path::new(path_or_id);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    let (id, rev) = match path_or_id.split_once('@') {
        Some((a, b)) => (a, b),
        None => (path_or_id, "main"),
    };
    if id.split('/').count() != 2 || id.starts_with('.') || id.starts_with('/') {
        bail!("model `{path_or_id}` is neither a local directory nor a hub id of the form Org/Name");
    }
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let snapshot = if rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
        repo.join("snapshots").join(rev)
    } else {
        let r = repo.join("refs").join(rev);
        match std::fs::read_to_string(&r) {
            Ok(h) => repo.join("snapshots").join(h.trim()),
            Err(_) => {
                // A single snapshot without refs is still usable.
                let snaps: Vec<PathBuf> = std::fs::read_dir(repo.join("snapshots"))
                    .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                    .unwrap_or_default();
                if snaps.len() == 1 {
                    snaps[0].clone()
                } else {
                    bail!(
                        "model `{id}` (revision `{rev}`) is not in the Hugging Face cache at {} and we are offline.\n\
                         Download it on a machine with network access, e.g.\n  \
                         huggingface-cli download {id} --revision {rev}\n\
                         and copy {} here (or set HF_HUB_CACHE / HF_HOME), or pass a local directory with \
                         config.json, model.safetensors[.index.json], tokenizer.json, tokenizer_config.json, \
                         preprocessor_config.json.",
                        cache.display(),
                        repo.display()
                    )
                }
            }
        }
    };
    if !snapshot.join("config.json").exists() {
        bail!(
            "hub cache snapshot {} has no config.json; download `{id}` again (huggingface-cli download {id})",
            snapshot.display()
        );
    }
    Ok(snapshot)
}
