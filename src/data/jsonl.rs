//! Streaming loader for JSONL data sets in the GenCAD-Code fixture layout.
//!
//! One JSON object a line: `id` (string or number), `image` (PNG path relative to the
//! JSONL file), `code` or `cadquery`, optional `prompt` (default
//! [`GENCAD_PROMPT`]); other fields are ignored. Blank lines are
//! skipped silently.
//!
//! Rows are read one at a time; nothing holds the whole file. A corrupt row (bad JSON,
//! missing column, non-UTF-8 bytes, missing or undecodable image) is a [`RowError`]
//! naming the file and 1-based line: with [`OnError::Skip`] it is reported on stderr,
//! kept in [`SampleIter::errors`] and skipped; with [`OnError::Fail`] the iterator
//! yields it as an `Err` and stops.
//!
//! Ordering: in file order by default. [`Loader::shuffle`] gives a deterministic
//! permutation by seed: a first pass records the byte offset of every line (8 bytes a
//! row), the offsets are permuted with ChaCha8, and rows are read by seeking.
//! [`Loader::first`] keeps the first N rows that load; [`Loader::random`] keeps N
//! rows drawn uniformly without replacement by seed (in file order unless shuffled).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::{SliceRandom, index};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::subset::Subset;
use super::{GENCAD_PROMPT, Sample};

/// What to do with a corrupt row (`"skip"` or `"fail"` in a recipe).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Report it (stderr and [`SampleIter::errors`]) and go on.
    #[default]
    Skip,
    /// Yield it as an error and stop.
    Fail,
}

impl OnError {
    /// Every policy, in the order messages list them.
    pub const ALL: [OnError; 2] = [OnError::Skip, OnError::Fail];

    /// The name recipes use (also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            OnError::Skip => "skip",
            OnError::Fail => "fail",
        }
    }
}

/// A corrupt row, by file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct RowError {
    /// The data file (JSONL file or parquet shard).
    pub file: PathBuf,
    /// 1-based line of a JSONL file; for a parquet shard, the row's 0-based index in the
    /// shard (the first row's for an error about a whole shard or row group).
    pub line: usize,
    /// What is wrong with the row.
    pub message: String,
}

/// The corrupt-row policy and bookkeeping of one pass, shared by the loaders: yields up
/// to `limit` good rows, records every bad one, and in `Fail` mode ends the pass at the
/// first.
#[derive(Debug)]
pub(crate) struct RowGate {
    on_error: OnError,
    quiet: bool,
    limit: Option<usize>,
    yielded: usize,
    done: bool,
    errors: Vec<RowError>,
}

impl RowGate {
    /// `errors`: rows already found corrupt before the pass (e.g. a shard's metadata).
    pub(crate) fn new(on_error: OnError, quiet: bool, limit: Option<usize>, errors: Vec<RowError>) -> Self {
        RowGate { on_error, quiet, limit, yielded: 0, done: false, errors }
    }

    /// The pass is over: ended, or `limit` rows yielded.
    pub(crate) fn finished(&self) -> bool {
        self.done || self.limit.is_some_and(|l| self.yielded >= l)
    }

    pub(crate) fn end(&mut self) {
        self.done = true;
    }

    pub(crate) fn errors(&self) -> &[RowError] {
        &self.errors
    }

    /// One decoded row: `Some` to yield it (a sample, or in `Fail` mode the error that
    /// ends the pass), `None` to skip it (reported on stderr unless quiet) and read on.
    pub(crate) fn admit(&mut self, row: Result<Sample, RowError>) -> Option<Result<Sample, RowError>> {
        match row {
            Ok(s) => {
                self.yielded += 1;
                Some(Ok(s))
            }
            Err(e) => {
                self.errors.push(e.clone());
                if self.on_error == OnError::Fail {
                    self.done = true;
                    return Some(Err(e));
                }
                if !self.quiet {
                    eprintln!("skipping {e}");
                }
                None
            }
        }
    }
}

/// A configured JSONL data set; [`Loader::iter`] opens a fresh pass over it.
#[derive(Clone, Debug)]
pub struct Loader {
    path: PathBuf,
    on_error: OnError,
    shuffle: Option<u64>,
    subset: Subset,
    quiet: bool,
}

#[derive(Deserialize)]
struct Row {
    id: IdField,
    image: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    cadquery: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdField {
    S(String),
    N(serde_json::Number),
}

impl Loader {
    /// A loader for `path` (a `.jsonl` file, or a directory holding `data.jsonl` or
    /// `cases.jsonl`).
    pub fn new(path: impl AsRef<Path>) -> Loader {
        Loader {
            path: resolve(path.as_ref()),
            on_error: OnError::Skip,
            shuffle: None,
            subset: Subset::All,
            quiet: false,
        }
    }
    /// What to do with corrupt rows (default [`OnError::Skip`]).
    pub fn on_error(mut self, e: OnError) -> Self {
        self.on_error = e;
        self
    }
    /// Deterministic shuffle by `seed` (an index permutation of line offsets).
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.shuffle = Some(seed);
        self
    }
    /// The first `n` rows that load.
    pub fn first(mut self, n: usize) -> Self {
        self.subset = Subset::First(n);
        self
    }
    /// `n` rows drawn uniformly at random by `seed` (corrupt draws are not replaced).
    pub fn random(mut self, n: usize, seed: u64) -> Self {
        self.subset = Subset::Random { n, seed };
        self
    }
    /// Do not print skipped rows on stderr (they are still in [`SampleIter::errors`]).
    pub fn quiet(mut self, q: bool) -> Self {
        self.quiet = q;
        self
    }
    /// The JSONL file read (a directory given to [`Loader::new`] resolved to its file).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open a pass over the data.
    pub fn iter(&self) -> std::io::Result<SampleIter> {
        let file = File::open(&self.path)?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let base = self.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let (order, limit) = match (self.shuffle, self.subset) {
            (None, Subset::All) => (None, None),
            (None, Subset::First(n)) => (None, Some(n)),
            (shuffle, subset) => {
                let mut offs = line_offsets(&mut reader)?;
                if let Subset::Random { n, seed } = subset {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let mut pick = index::sample(&mut rng, offs.len(), n.min(offs.len())).into_vec();
                    pick.sort_unstable();
                    offs = pick.into_iter().map(|i| offs[i]).collect();
                }
                if let Some(seed) = shuffle {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_5A1E_0000_0001);
                    offs.shuffle(&mut rng);
                }
                let limit = if let Subset::First(n) = subset { Some(n) } else { None };
                offs.reverse(); // popped from the back
                (Some(offs), limit)
            }
        };
        Ok(SampleIter {
            reader,
            file: self.path.clone(),
            base,
            gate: RowGate::new(self.on_error, self.quiet, limit, Vec::new()),
            order,
            line: 0,
            buf: Vec::new(),
        })
    }
}

/// `path` itself, or `data.jsonl` / `cases.jsonl` inside it when it is a directory.
pub(crate) fn resolve(path: &Path) -> PathBuf {
    if path.is_dir() {
        for name in ["data.jsonl", "cases.jsonl"] {
            let p = path.join(name);
            if p.is_file() {
                return p;
            }
        }
        return path.join("data.jsonl");
    }
    path.to_path_buf()
}

/// (1-based line number, byte offset) of every non-blank line.
fn line_offsets(r: &mut BufReader<File>) -> std::io::Result<Vec<(usize, u64)>> {
    let mut out = Vec::new();
    let (mut off, mut line, mut buf) = (0u64, 0usize, Vec::new());
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line += 1;
        if !buf.iter().all(u8::is_ascii_whitespace) {
            out.push((line, off));
        }
        off += n as u64;
    }
    Ok(out)
}

/// One pass over a data set; yields samples (and, in `Fail` mode, the first error).
pub struct SampleIter {
    reader: BufReader<File>,
    file: PathBuf,
    base: PathBuf,
    gate: RowGate,
    /// Remaining (line, offset) to read, last first; `None` reads sequentially.
    order: Option<Vec<(usize, u64)>>,
    line: usize,
    buf: Vec<u8>,
}

impl std::fmt::Debug for SampleIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleIter").field("file", &self.file).field("line", &self.line).finish()
    }
}

impl SampleIter {
    /// The rows skipped so far.
    pub fn errors(&self) -> &[RowError] {
        self.gate.errors()
    }

    /// Next raw line: Ok(None) at the end; an I/O error ends the pass.
    fn next_line(&mut self) -> std::io::Result<Option<usize>> {
        loop {
            self.buf.clear();
            match &mut self.order {
                None => {
                    let n = self.reader.read_until(b'\n', &mut self.buf)?;
                    if n == 0 {
                        return Ok(None);
                    }
                    self.line += 1;
                }
                Some(order) => {
                    let Some((line, off)) = order.pop() else { return Ok(None) };
                    self.reader.seek(SeekFrom::Start(off))?;
                    self.reader.read_until(b'\n', &mut self.buf)?;
                    self.line = line;
                }
            }
            if !self.buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(self.line));
            }
        }
    }

    fn parse(&self, line: usize) -> Result<Sample, RowError> {
        let err = |message: String| RowError { file: self.file.clone(), line, message };
        let text = std::str::from_utf8(&self.buf).map_err(|e| err(format!("not UTF-8: {e}")))?;
        let row: Row = serde_json::from_str(text.trim_end()).map_err(|e| err(format!("bad row: {e}")))?;
        let id = match row.id {
            IdField::S(s) => s,
            IdField::N(n) => n.to_string(),
        };
        let code =
            row.code.or(row.cadquery).ok_or_else(|| err("missing field `code` (or `cadquery`)".into()))?;
        let img_path = self.base.join(&row.image);
        let mut bytes = Vec::new();
        File::open(&img_path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| err(format!("image {}: {e}", img_path.display())))?;
        let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
            .map_err(|e| err(format!("image {}: not a decodable PNG: {e}", img_path.display())))?
            .to_rgb8();
        Ok(Sample { id, image, prompt: row.prompt.unwrap_or_else(|| GENCAD_PROMPT.to_string()), code })
    }
}

impl Iterator for SampleIter {
    type Item = Result<Sample, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.gate.finished() {
                return None;
            }
            let line = match self.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => {
                    self.gate.end();
                    return None;
                }
                Err(e) => {
                    // an I/O error ends the pass in either mode
                    let e = RowError {
                        file: self.file.clone(),
                        line: self.line + 1,
                        message: format!("read error: {e}"),
                    };
                    let out = self.gate.admit(Err(e));
                    self.gate.end();
                    return out;
                }
            };
            let row = self.parse(line);
            if let Some(out) = self.gate.admit(row) {
                return Some(out);
            }
        }
    }
}
