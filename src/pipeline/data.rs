//! The pipeline's view of a data set: prepared once (synthetic data is generated into
//! the run directory), then read as passes in a seeded order, streaming.
//!
//! Training reads an endless [`Stream`]: epoch `e` is a pass shuffled with seed
//! `seed + e`; position `p` of the stream is always the same sample, so a resumed
//! stage skips to where it was and sees the same batches.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::data::source::{self, DataSpec, SourceKind};
use crate::data::{GENCAD_PROMPT, Sample, synth};
use crate::recipe::DataCfg;

use super::rundir::write_atomic;

/// A prepared data set.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The recipe's `[data]` / `[eval_data]`.
    pub cfg: DataCfg,
    /// The JSONL file (synthetic and jsonl sources) or parquet location (gencad; empty
    /// for the hub cache).
    pub path: PathBuf,
}

/// Write `n` synthetic samples (seed, knobs) as a JSONL data set in `dir` (atomic: the
/// `data.jsonl` appears only when every image is written). Returns the JSONL path.
pub fn materialise_synthetic(cfg: &DataCfg, dir: &Path) -> Result<PathBuf> {
    let jsonl = dir.join("data.jsonl");
    if jsonl.is_file() {
        return Ok(jsonl);
    }
    let img_dir = dir.join("images");
    std::fs::create_dir_all(&img_dir).with_context(|| format!("creating {}", img_dir.display()))?;
    let mut out = Vec::new();
    let mut start = 0u64;
    let mut index = 0u64;
    // Indices that give up after max_attempts are skipped; keep going until n are made.
    while (out.len() as u64) < cfg.n as u64 {
        let want = cfg.n as u64 - out.len() as u64;
        let batch = synth::generate(&cfg.synth, cfg.seed, start, want);
        start += want;
        if batch.is_empty() && start > 10 * cfg.n as u64 + 100 {
            bail!("synthetic generator produced nothing valid with these knobs ({})", dir.display());
        }
        for s in batch {
            let id = format!("synth-{}-{:08}", cfg.seed, s.index);
            let rel = format!("images/{id}.png");
            s.image
                .save_with_format(dir.join(&rel), image::ImageFormat::Png)
                .with_context(|| format!("writing {rel}"))?;
            let row = serde_json::json!({"id": id, "image": rel, "prompt": GENCAD_PROMPT, "code": s.code});
            writeln!(out, "{row}")?;
            index += 1;
        }
    }
    let _ = index;
    write_atomic(&jsonl, &out)?;
    Ok(jsonl)
}

impl Dataset {
    /// Prepare `cfg` for a run in `run_root` (`which` = `train` or `eval`).
    pub fn prepare(cfg: &DataCfg, run_root: &Path, which: &str) -> Result<Dataset> {
        let path = match (cfg.spec.source, &cfg.spec.path) {
            (SourceKind::Synthetic, _) => materialise_synthetic(cfg, &run_root.join("data").join(which))?,
            (SourceKind::Jsonl, Some(p)) => crate::data::jsonl::resolve(p),
            (SourceKind::Jsonl, None) => bail!("data source `jsonl` needs a `path`"),
            (SourceKind::Gencad, p) => p.clone().unwrap_or_default(),
        };
        let ds = Dataset { cfg: cfg.clone(), path };
        // fail early (missing files, offline hub cache) with the loader's message
        drop(source::open(&ds.spec(None)).with_context(|| format!("opening {}", ds.spec(None).describe()))?);
        Ok(ds)
    }

    /// The loader's view of this data set.
    /// The recipe's spec with the prepared path (a synthetic set is read as the JSONL
    /// it was written to) and this pass's shuffle seed.
    pub fn spec(&self, shuffle: Option<u64>) -> DataSpec {
        let spec = &self.cfg.spec;
        let path = match spec.source {
            SourceKind::Synthetic | SourceKind::Jsonl => Some(self.path.clone()),
            SourceKind::Gencad => spec.path.as_ref().map(|_| self.path.clone()),
        };
        DataSpec { path, shuffle_seed: shuffle, ..spec.clone() }
    }

    /// One pass, in file order or shuffled by `seed` (corrupt rows skipped with a report
    /// on stderr, or failing the run, as `on_error` says).
    pub fn pass(&self, shuffle: Option<u64>) -> Result<Box<dyn Iterator<Item = Result<Sample>>>> {
        let spec = self.spec(shuffle);
        let it = source::open(&spec).with_context(|| format!("opening {}", spec.describe()))?;
        Ok(Box::new(it))
    }

    /// The first `n` samples in file order.
    pub fn head(&self, n: usize) -> Result<Vec<Sample>> {
        self.pass(None)?.take(n).collect()
    }
}

/// An endless seeded stream over a data set (see the module docs).
pub struct Stream {
    ds: Dataset,
    seed: u64,
    epoch: u64,
    pos: u64,
    it: Box<dyn Iterator<Item = Result<Sample>>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("path", &self.ds.path).field("pos", &self.pos).finish()
    }
}

impl Stream {
    /// A stream positioned at `pos`.
    pub fn new(ds: &Dataset, seed: u64, pos: u64) -> Result<Stream> {
        let it = ds.pass(Some(seed))?;
        let mut s = Stream { ds: ds.clone(), seed, epoch: 0, pos: 0, it };
        while s.pos < pos {
            s.next_sample()?;
        }
        Ok(s)
    }

    /// The next sample; at the end of a pass the next pass starts, shuffled with the
    /// next epoch's seed (an error if a whole pass yields nothing).
    pub fn next_sample(&mut self) -> Result<Sample> {
        let mut empty_passes = 0;
        loop {
            match self.it.next() {
                Some(r) => {
                    self.pos += 1;
                    return r;
                }
                None => {
                    empty_passes += 1;
                    if empty_passes > 1 {
                        bail!("{}: no usable samples", self.ds.path.display());
                    }
                    self.epoch += 1;
                    self.it = self.ds.pass(Some(self.seed.wrapping_add(self.epoch)))?;
                }
            }
        }
    }

    /// The next `n` samples.
    pub fn take(&mut self, n: usize) -> Result<Vec<Sample>> {
        (0..n).map(|_| self.next_sample()).collect()
    }
}
