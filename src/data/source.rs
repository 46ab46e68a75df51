//! One entry point for every data set the pipeline reads: [`DataSpec`] (as written in
//! a recipe's TOML) and [`open`], which gives a streaming iterator of [`Sample`]s.
//!
//! Sources: `jsonl` (the fixture layout, [`super::jsonl`]) and `gencad` (GenCAD-Code's
//! parquet shards, `super::gencad`, from a local `path` or the Hugging Face cache /
//! a download, [`super::hub`]). Subsets, shuffling and corrupt-row handling follow the
//! same rules for both; see those modules for the exact semantics.
//!
//! ```toml
//! [data]
//! source = "gencad"          # or "jsonl"
//! # path = "data/gencad"     # local shards (else the HF cache / download of `repo`)
//! repo = "CADCODER/GenCAD-Code"
//! split = "train"
//! subset = "random:1000:7"   # "all" | "hundred" | "first:N" | "random:N[:SEED]"
//! shuffle_seed = 0
//! on_error = "skip"          # or "fail"
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::Sample;
use super::gencad::{self, GencadIter, GencadOptions};
use super::hub::{self, GENCAD_REPO};
use super::jsonl::{Loader, SampleIter};
pub use super::jsonl::{OnError, RowError};
pub use super::subset::Subset;

/// Where a data set comes from (a recipe's `source`), and so which loader reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Made by the synthetic generator ([`crate::data::synth`]) into the run directory,
    /// then read from `path` as JSONL.
    Synthetic,
    /// JSONL + image files (`id`, `image`, `code` or `cadquery`, optional `prompt`).
    Jsonl,
    /// GenCAD-Code parquet shards (Hugging Face layout).
    #[default]
    Gencad,
}

impl SourceKind {
    /// Every source, in the order recipe errors list them.
    pub const ALL: [SourceKind; 3] = [SourceKind::Synthetic, SourceKind::Jsonl, SourceKind::Gencad];

    /// The recipe's (and serde's) name.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Synthetic => "synthetic",
            SourceKind::Jsonl => "jsonl",
            SourceKind::Gencad => "gencad",
        }
    }
}

fn default_repo() -> String {
    GENCAD_REPO.to_string()
}
fn default_split() -> String {
    "train".to_string()
}

/// A data set to read: what a recipe's `[data]` / `[eval_data]` names (with the
/// synthetic generator's settings beside it in `DataCfg`) and what `--data PATH` means
/// on the command line. The one description of a data set; [`open`] reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Where the data comes from.
    #[serde(default)]
    pub source: SourceKind,
    /// A JSONL file (or a directory with `data.jsonl` / `cases.jsonl`), or a local
    /// directory (or file) of parquet shards; `None` for `gencad` uses the hub cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Hugging Face data set id (`gencad` without `path`).
    #[serde(default = "default_repo")]
    pub repo: String,
    /// Hub revision (branch, tag or commit); `None` is `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The parquet split (`gencad`): any name the shards use (`train`, `test`, ...).
    #[serde(default = "default_split")]
    pub split: String,
    /// Which rows: `all`, `hundred`, `first:N`, `random:N[:SEED]`.
    #[serde(default)]
    pub subset: Subset,
    /// Deterministic shuffle by this seed; `None` keeps file order (set per pass by the
    /// pipeline, never by a recipe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle_seed: Option<u64>,
    /// `skip` corrupt rows (reported) or `fail` at the first one.
    #[serde(default)]
    pub on_error: OnError,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            source: SourceKind::Gencad,
            path: None,
            repo: default_repo(),
            revision: None,
            split: default_split(),
            subset: Subset::All,
            shuffle_seed: None,
            on_error: OnError::Skip,
        }
    }
}

impl DataSpec {
    /// The spec for a path given on the command line: a `.parquet` file or a directory
    /// holding `.parquet` files is `gencad`; anything else (a `.jsonl` file, a directory
    /// with `data.jsonl` / `cases.jsonl`) is `jsonl`.
    pub fn from_path(path: impl AsRef<Path>) -> DataSpec {
        let p = path.as_ref();
        let is_parquet = if p.is_dir() {
            !p.join("data.jsonl").is_file()
                && !p.join("cases.jsonl").is_file()
                && !hub::parquet_files(p).is_empty()
        } else {
            p.extension().is_some_and(|e| e == "parquet")
        };
        let source = if is_parquet { SourceKind::Gencad } else { SourceKind::Jsonl };
        DataSpec { source, path: Some(p.to_path_buf()), ..DataSpec::default() }
    }

    /// A short name for messages: the path, or `repo:split`.
    pub fn describe(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => format!("{}:{}", self.repo, self.split),
        }
    }
}

enum Inner {
    Jsonl(SampleIter),
    Gencad(Box<GencadIter>),
}

/// A streaming pass over a data set: `Ok` samples, and an `Err` only in `fail` mode
/// (the first corrupt row, after which the pass ends). Skipped rows are in
/// [`Samples::errors`].
pub struct Samples {
    inner: Inner,
    len_hint: Option<usize>,
}

impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Samples")
            .field("len_hint", &self.len_hint)
            .field("errors", &self.errors().len())
            .finish()
    }
}

impl Samples {
    /// Corrupt rows met so far (skipped in `skip` mode), with file and row: a JSONL
    /// row is its 1-based line, a parquet row its 0-based index in the shard.
    pub fn errors(&self) -> &[RowError] {
        match &self.inner {
            Inner::Jsonl(it) => it.errors(),
            Inner::Gencad(it) => it.errors(),
        }
    }

    /// Rows this pass yields if none is corrupt (`None` when unknown without a read).
    pub fn len_hint(&self) -> Option<usize> {
        self.len_hint
    }
}

impl Iterator for Samples {
    type Item = anyhow::Result<Sample>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = match &mut self.inner {
            Inner::Jsonl(it) => it.next(),
            Inner::Gencad(it) => it.next(),
        };
        r.map(|r| r.map_err(anyhow::Error::from))
    }
}

/// Open one pass over `spec`.
pub fn open(spec: &DataSpec) -> anyhow::Result<Samples> {
    match spec.source {
        SourceKind::Jsonl | SourceKind::Synthetic => {
            let Some(path) = &spec.path else { bail!("data source `{}` needs a `path`", spec.source.name()) };
            let mut l = Loader::new(path).on_error(spec.on_error);
            l = match spec.subset {
                Subset::All => l,
                Subset::First(n) => l.first(n),
                Subset::Random { n, seed } => l.random(n, seed),
                Subset::Hundred => bail!(
                    "subset `hundred` needs the `hundred_subset` column of GenCAD-Code's parquet shards; {} is JSONL",
                    l.path().display()
                ),
            };
            if let Some(seed) = spec.shuffle_seed {
                l = l.shuffle(seed);
            }
            let it = l.iter().with_context(|| format!("opening {}", l.path().display()))?;
            let rows = count_rows(l.path());
            let len_hint = rows.map(|r| match spec.subset {
                Subset::First(n) | Subset::Random { n, .. } => n.min(r),
                _ => r,
            });
            Ok(Samples { inner: Inner::Jsonl(it), len_hint })
        }
        SourceKind::Gencad => {
            let shards = match &spec.path {
                Some(p) => hub::local_shards(p, &spec.split)?,
                None => {
                    hub::hub_shards(&hub::hf_cache_dir(), &spec.repo, spec.revision.as_deref(), &spec.split)?
                }
            };
            let opts = GencadOptions {
                on_error: spec.on_error,
                shuffle: spec.shuffle_seed,
                subset: spec.subset,
                quiet: false,
            };
            let it = gencad::open(&shards, &opts).map_err(anyhow::Error::from)?;
            let len_hint = Some(it.len_hint());
            Ok(Samples { inner: Inner::Gencad(Box::new(it)), len_hint })
        }
    }
}

/// Non-blank lines of a JSONL file (one cheap pass; `None` if unreadable).
fn count_rows(path: &Path) -> Option<usize> {
    use std::io::BufRead;
    let f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    let mut r = std::io::BufReader::new(f);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf).ok()? == 0 {
            return Some(n);
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            n += 1;
        }
    }
}
