//! Where GenCAD-Code's parquet shards are: a local directory, the Hugging Face cache,
//! or a download through `hf-hub`.
//!
//! The Hub layout of a dataset repo is `data/{split}-XXXXX-of-YYYYY.parquet`; the
//! cache keeps it under `$HF_HUB_CACHE` (or `$HF_HOME/hub`, default
//! `~/.cache/huggingface/hub`) as `datasets--{Org}--{Name}/snapshots/{commit}/...`,
//! with `refs/{revision}` holding the commit (the same rules as the model lookup in
//! `cadrl_backend::hub::resolve_model_dir`). A split's shards are the
//! `.parquet` files under a root whose name starts with `{split}-` / `{split}_` or is
//! `{split}.parquet`, or that lie in a folder named `{split}`; a root whose files
//! name no split at all (`train`, `validation`, `test`, ...) gives all its files.
//!
//! With `HF_HUB_OFFLINE=1`, or when the download fails (no network), the error names
//! the repo, the files, the cache directory to put them in and the
//! `huggingface-cli download` command that fetches them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The Hub id of GenCAD-Code.
pub const GENCAD_REPO: &str = "CADCODER/GenCAD-Code";

/// Split names recognised in file and folder names.
const SPLITS: [&str; 6] = ["train", "validation", "valid", "val", "test", "dev"];

/// The hub cache directory (`HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`).
pub(crate) fn hf_cache_dir() -> PathBuf {
    cadrl_backend::hub::hf_cache_dir()
}

/// True when `HF_HUB_OFFLINE` asks for no network.
pub(crate) fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// `datasets--Org--Name` inside `cache`.
pub(crate) fn dataset_cache_dir(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("datasets--{}", repo.replace('/', "--")))
}

/// The snapshot directory of `repo` at `revision` (a branch or tag through `refs/`, or
/// a 40-hex commit), if it is in the cache. A repo with no matching ref but a single
/// snapshot uses it.
pub(crate) fn cached_snapshot(cache: &Path, repo: &str, revision: &str) -> Option<PathBuf> {
    let dir = dataset_cache_dir(cache, repo);
    if revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit()) {
        let s = dir.join("snapshots").join(revision);
        return s.is_dir().then_some(s);
    }
    if let Ok(h) = std::fs::read_to_string(dir.join("refs").join(revision)) {
        let s = dir.join("snapshots").join(h.trim());
        return s.is_dir().then_some(s);
    }
    let snaps: Vec<PathBuf> = std::fs::read_dir(dir.join("snapshots"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    (snaps.len() == 1).then(|| snaps[0].clone())
}

/// Does the relative path `rel` (of a parquet file) belong to `split`?
fn names_split(rel: &Path, split: &str) -> bool {
    let comps: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    let Some((file, dirs)) = comps.split_last() else { return false };
    let stem = file.strip_suffix(".parquet").unwrap_or(file);
    dirs.iter().any(|d| d == split)
        || stem == split
        || stem.strip_prefix(split).is_some_and(|r| r.starts_with('-') || r.starts_with('_'))
}

/// All `.parquet` files under `root` (hidden folders skipped, 4 levels deep), sorted.
pub(crate) fn parquet_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                if depth < 4 {
                    walk(&p, depth + 1, out);
                }
            } else if name.ends_with(".parquet") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, 0, &mut out);
    out.sort();
    out
}

/// The shards of `split` under `root` (see the module doc), sorted by path.
pub(crate) fn split_shards(root: &Path, split: &str) -> Vec<PathBuf> {
    let all = parquet_files(root);
    let rel = |p: &PathBuf| p.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| p.clone());
    let mine: Vec<PathBuf> = all.iter().filter(|p| names_split(&rel(p), split)).cloned().collect();
    if mine.is_empty() && !all.iter().any(|p| SPLITS.iter().any(|s| names_split(&rel(p), s))) {
        return all;
    }
    mine
}

/// Shards of `split` in a local directory (or the one file `path`).
pub(crate) fn local_shards(path: &Path, split: &str) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        bail!("{}: no such file or directory", path.display());
    }
    let shards = split_shards(path, split);
    if shards.is_empty() {
        let all = parquet_files(path);
        bail!(
            "{}: no parquet shard of split `{split}` (expected data/{split}-XXXXX-of-YYYYY.parquet or {split}/*.parquet; found {})",
            path.display(),
            if all.is_empty() {
                "no .parquet file".to_string()
            } else {
                format!("{} other .parquet files", all.len())
            }
        );
    }
    Ok(shards)
}

/// What to fetch, and where, when `repo`'s split is not in `cache`.
pub(crate) fn fetch_instructions(cache: &Path, repo: &str, revision: &str, split: &str) -> String {
    format!(
        "Fetch the parquet shards data/{split}-*.parquet of the dataset repo `{repo}` (revision `{revision}`) \
         on a machine with network access:\n  \
         huggingface-cli download {repo} --repo-type dataset --revision {revision} --include 'data/{split}-*.parquet'\n\
         and copy {} (with its refs/ and snapshots/) to that path here (or set HF_HOME / HF_HUB_CACHE to the cache \
         that holds it), or put the files in a directory as data/{split}-XXXXX-of-YYYYY.parquet and pass that \
         directory as the data `path`.",
        dataset_cache_dir(cache, repo).display()
    )
}

/// Resolve the shards of `repo`/`split` through the hub cache `cache`, downloading
/// them with hf-hub unless [`offline`].
pub(crate) fn hub_shards(
    cache: &Path,
    repo: &str,
    revision: Option<&str>,
    split: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    hub_shards_with(cache, repo, revision, split, offline())
}

/// The shards of `repo`'s `split` at `revision` (default `main`) from the hub cache
/// `cache`, downloaded with hf-hub first unless `offline` (`true`: never touch the
/// network). When they cannot be had, the error says which files to fetch and where.
pub fn hub_shards_with(
    cache: &Path,
    repo: &str,
    revision: Option<&str>,
    split: &str,
    offline: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let rev = revision.unwrap_or("main");
    if repo.split('/').count() != 2 || repo.starts_with('/') || repo.starts_with('.') {
        bail!("data repo `{repo}` is not a hub id of the form Org/Name");
    }
    if let Some(snap) = cached_snapshot(cache, repo, rev) {
        let shards = split_shards(&snap, split);
        if !shards.is_empty() {
            return Ok(shards);
        }
    }
    let missing = format!(
        "split `{split}` of dataset `{repo}` (revision `{rev}`) is not in the Hugging Face cache at {}",
        cache.display()
    );
    if offline {
        bail!("{missing} and HF_HUB_OFFLINE is set.\n{}", fetch_instructions(cache, repo, rev, split));
    }
    download(cache, repo, rev, split).with_context(|| {
        format!("{missing}; downloading it failed.\n{}", fetch_instructions(cache, repo, rev, split))
    })?;
    match cached_snapshot(cache, repo, rev).map(|s| split_shards(&s, split)) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => bail!("{missing} even after a download.\n{}", fetch_instructions(cache, repo, rev, split)),
    }
}

/// Download the split's parquet files into the cache with hf-hub.
fn download(cache: &Path, repo: &str, rev: &str, split: &str) -> anyhow::Result<()> {
    use hf_hub::{Repo, RepoType, api::sync::ApiBuilder};
    let mut builder = ApiBuilder::from_env().with_cache_dir(cache.to_path_buf());
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        builder = builder.with_progress(false);
    }
    let api = builder.build().context("starting the hf-hub client")?;
    let r = api.repo(Repo::with_revision(repo.to_string(), RepoType::Dataset, rev.to_string()));
    let info = r.info().with_context(|| format!("listing the files of {repo}"))?;
    let files: Vec<String> = info
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .filter(|f| f.ends_with(".parquet") && names_split(Path::new(f), split))
        .collect();
    if files.is_empty() {
        bail!("{repo} has no parquet file for split `{split}`");
    }
    for f in &files {
        eprintln!("downloading {repo}/{f}");
        r.get(f).with_context(|| format!("downloading {f}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names() {
        assert!(names_split(Path::new("data/train-00000-of-00002.parquet"), "train"));
        assert!(names_split(Path::new("train/0000.parquet"), "train"));
        assert!(names_split(Path::new("test.parquet"), "test"));
        assert!(!names_split(Path::new("data/training-00000.parquet"), "train"));
        assert!(!names_split(Path::new("data/test-00000-of-00001.parquet"), "train"));
    }
}
