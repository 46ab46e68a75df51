//! Streaming reader for GenCAD-Code parquet shards (the Hugging Face layout).
//!
//! A shard is a parquet file with the columns of CADCODER/GenCAD-Code: `image`
//! (struct `{bytes: binary, path: string}`, the PNG render), `deepcad_id`, `cadquery`,
//! `token_count`, `prompt` and `hundred_subset`. Only `image.bytes` (or a binary
//! `image`), `deepcad_id` (or `id`) and `cadquery` (or `code`) are required; `prompt`
//! defaults to [`GENCAD_PROMPT`], `hundred_subset` is read only for the `hundred`
//! subset, `token_count` and `image.path` are ignored.
//!
//! Streaming: the unit of reading is one (shard, row group); its columns are decoded
//! [`CHUNK`] rows at a time with the low-level column readers, so memory holds one
//! chunk (plus the shuffle buffer), never a whole row group or split.
//!
//! Order: without a seed, shards in path order, row groups and rows in file order.
//! With seed `s`, the list of (shard, row group) units is permuted by ChaCha8 seeded
//! with `s`, and rows then pass through a shuffle buffer of [`SHUFFLE_BUFFER`] rows
//! (raw PNG bytes, not decoded images): once it is full, each read row replaces one
//! drawn uniformly (same RNG) from the buffer, which is yielded; at the end the buffer
//! drains in random order. Same files and seed, same order.
//!
//! Subsets are chosen before ordering: `hundred` keeps rows whose `hundred_subset` is
//! true (found by a first pass over that boolean column only, which also skips row
//! groups without any); `random:N` draws N row indices uniformly without replacement
//! over the whole split (sizes from the footers) by its own seed; `first:N` stops after
//! N rows have been yielded (in the final order, corrupt rows not counted).
//!
//! Errors are [`RowError`]s whose `line` is the 0-based row index in the shard (the
//! numbering of `pyarrow.parquet.read_table(f).slice(row)`). A bad row (null or
//! undecodable image, null or non-UTF-8 id/code/prompt) costs that row only; a column
//! that cannot be decoded costs the rest of its row group; an unreadable shard or one
//! without a required column costs that shard. With [`OnError::Skip`] they are printed
//! and kept in [`GencadIter::errors`]; with [`OnError::Fail`] the first one is yielded
//! as an `Err` (or returned by [`open`]) and the pass stops.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::basic::Type as PhysicalType;
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use rand::seq::{SliceRandom, index};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::jsonl::{OnError, RowError, RowGate};
use super::subset::Subset;
use super::{GENCAD_PROMPT, Sample};

/// Rows held by the shuffle buffer when a seed is given.
pub(crate) const SHUFFLE_BUFFER: usize = 1024;
/// Rows decoded per column read.
pub(crate) const CHUNK: usize = 64;

/// Leaf column indices (and names, for messages) of one shard.
#[derive(Clone, Debug)]
struct Columns {
    image: (usize, String),
    id: (usize, String),
    code: (usize, String),
    prompt: Option<(usize, String)>,
    hundred: Option<usize>,
}

struct Shard {
    path: PathBuf,
    reader: SerializedFileReader<File>,
    cols: Columns,
}

/// One row group of one shard, with the in-group rows to keep (sorted; `None`: all).
#[derive(Clone, Debug)]
struct Unit {
    shard: usize,
    group: usize,
    first_row: usize,
    rows: usize,
    select: Option<Vec<usize>>,
}

/// The unit being read: its column readers and position.
struct Active {
    unit: Unit,
    readers: Vec<(ColumnReader, i16)>,
    next: usize,
    sel_pos: usize,
}

/// A row read but not yet decoded.
struct Raw {
    shard: usize,
    row: usize,
    data: Result<RawOk, String>,
}

struct RawOk {
    id: String,
    png: Vec<u8>,
    code: String,
    prompt: Option<String>,
}

/// The decoded values of one column chunk, by row.
enum Values {
    Bytes(Vec<Option<ByteArray>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
}

/// How to read a set of shards.
#[derive(Clone, Debug)]
pub(crate) struct GencadOptions {
    pub(crate) on_error: OnError,
    pub(crate) shuffle: Option<u64>,
    pub(crate) subset: Subset,
    /// Do not print skipped rows on stderr (they are still in `errors()`).
    pub(crate) quiet: bool,
}

/// One pass over parquet shards; yields samples (and, in `Fail` mode, the first error).
pub(crate) struct GencadIter {
    shards: Vec<Shard>,
    /// Units still to read, last first.
    units: Vec<Unit>,
    active: Option<Active>,
    chunk: VecDeque<Raw>,
    rng: Option<ChaCha8Rng>,
    buf: Vec<Raw>,
    exhausted: bool,
    gate: RowGate,
    len_hint: usize,
}

impl std::fmt::Debug for GencadIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GencadIter")
            .field("shards", &self.shards.len())
            .field("units_left", &self.units.len())
            .finish()
    }
}

fn row_error(file: &Path, row: usize, message: String) -> RowError {
    RowError { file: file.to_path_buf(), line: row, message }
}

/// Find the columns the loader needs in a shard's schema.
fn find_columns(reader: &SerializedFileReader<File>, need_hundred: bool) -> Result<Columns, String> {
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<String> = schema.columns().iter().map(|c| c.path().string()).collect();
    let find = |alts: &[&str], types: &[PhysicalType]| -> Result<Option<(usize, String)>, String> {
        for a in alts {
            if let Some(i) = names.iter().position(|n| n == a) {
                let c = schema.column(i);
                if !types.contains(&c.physical_type()) {
                    return Err(format!("column `{a}` has type {} (expected {types:?})", c.physical_type()));
                }
                if c.max_rep_level() > 0 {
                    return Err(format!("column `{a}` is repeated (expected one value a row)"));
                }
                return Ok(Some((i, a.to_string())));
            }
        }
        Ok(None)
    };
    let missing =
        |alts: &[&str]| format!("missing column `{}` (columns: {})", alts.join("` or `"), names.join(", "));
    let bytes = [PhysicalType::BYTE_ARRAY];
    let image = find(&["image.bytes", "image"], &bytes)?.ok_or_else(|| missing(&["image.bytes", "image"]))?;
    let ints = [PhysicalType::BYTE_ARRAY, PhysicalType::INT64, PhysicalType::INT32];
    let id = find(&["deepcad_id", "id"], &ints)?.ok_or_else(|| missing(&["deepcad_id", "id"]))?;
    let code = find(&["cadquery", "code"], &bytes)?.ok_or_else(|| missing(&["cadquery", "code"]))?;
    let prompt = find(&["prompt"], &bytes)?;
    let hundred = find(&["hundred_subset"], &[PhysicalType::BOOLEAN])?.map(|(i, _)| i);
    if need_hundred && hundred.is_none() {
        return Err(missing(&["hundred_subset"]));
    }
    Ok(Columns { image, id, code, prompt, hundred })
}

fn read_typed<T: DataType>(
    r: &mut ColumnReaderImpl<T>,
    max_def: i16,
    n: usize,
) -> parquet::errors::Result<Vec<Option<T::T>>> {
    let (mut def, mut vals) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (recs, _, _) = r.read_records(n, Some(&mut def), None, &mut vals)?;
    if recs != n {
        return Err(parquet::errors::ParquetError::General(format!(
            "{recs} rows in the column chunk, expected {n}"
        )));
    }
    if max_def == 0 {
        return Ok(vals.into_iter().map(Some).collect());
    }
    let mut it = vals.into_iter();
    Ok(def[..n].iter().map(|&d| if d == max_def { it.next() } else { None }).collect())
}

fn read_values(r: &mut ColumnReader, max_def: i16, n: usize) -> parquet::errors::Result<Values> {
    Ok(match r {
        ColumnReader::ByteArrayColumnReader(r) => Values::Bytes(read_typed(r, max_def, n)?),
        ColumnReader::Int64ColumnReader(r) => Values::Int(read_typed(r, max_def, n)?),
        ColumnReader::Int32ColumnReader(r) => {
            Values::Int(read_typed(r, max_def, n)?.into_iter().map(|v| v.map(i64::from)).collect())
        }
        ColumnReader::BoolColumnReader(r) => Values::Bool(read_typed(r, max_def, n)?),
        _ => return Err(parquet::errors::ParquetError::General("unsupported column type".into())),
    })
}

/// Column readers for `cols` (in that order) of row group `group`.
fn column_readers(
    shard: &Shard,
    group: usize,
    cols: &[usize],
) -> parquet::errors::Result<Vec<(ColumnReader, i16)>> {
    let rg = shard.reader.get_row_group(group)?;
    let schema = shard.reader.metadata().file_metadata().schema_descr();
    cols.iter().map(|&i| Ok((rg.get_column_reader(i)?, schema.column(i).max_def_level()))).collect()
}

/// A string cell: `Err` for null or non-UTF-8.
fn text(v: &Values, k: usize, name: &str) -> Result<Option<String>, String> {
    match v {
        Values::Bytes(b) => match &b[k] {
            None => Ok(None),
            Some(x) => std::str::from_utf8(x.data())
                .map(|s| Some(s.to_string()))
                .map_err(|e| format!("`{name}` is not UTF-8: {e}")),
        },
        Values::Int(i) => Ok(i[k].map(|x| x.to_string())),
        Values::Bool(b) => Ok(b[k].map(|x| x.to_string())),
    }
}

/// Open `paths` (parquet shards, read in this order) for one pass.
pub(crate) fn open(paths: &[PathBuf], o: &GencadOptions) -> Result<GencadIter, RowError> {
    let need_hundred = matches!(o.subset, Subset::Hundred);
    let mut errors = Vec::new();
    let fail = |e: RowError, errors: &mut Vec<RowError>| -> Result<(), RowError> {
        if o.on_error == OnError::Fail {
            return Err(e);
        }
        if !o.quiet {
            eprintln!("skipping {e}");
        }
        errors.push(e);
        Ok(())
    };
    let mut shards = Vec::new();
    for p in paths {
        let opened = File::open(p)
            .map_err(|e| format!("cannot open: {e}"))
            .and_then(|f| {
                SerializedFileReader::new(f).map_err(|e| format!("not a readable parquet file: {e}"))
            })
            .and_then(|r| find_columns(&r, need_hundred).map(|c| (r, c)));
        match opened {
            Ok((reader, cols)) => shards.push(Shard { path: p.clone(), reader, cols }),
            Err(m) => fail(row_error(p, 0, format!("{m}; all rows of this shard are skipped")), &mut errors)?,
        }
    }
    let mut units = Vec::new();
    for (s, shard) in shards.iter().enumerate() {
        let mut first_row = 0;
        for (g, rg) in shard.reader.metadata().row_groups().iter().enumerate() {
            let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
            units.push(Unit { shard: s, group: g, first_row, rows, select: None });
            first_row += rows;
        }
    }
    match o.subset {
        Subset::Hundred => {
            let mut kept = Vec::new();
            for mut u in units {
                let shard = &shards[u.shard];
                let col = shard.cols.hundred.unwrap_or_default();
                match scan_hundred(shard, &u, col) {
                    Ok(sel) if sel.is_empty() => {}
                    Ok(sel) => {
                        u.select = Some(sel);
                        kept.push(u);
                    }
                    Err(m) => fail(
                        row_error(
                            &shard.path,
                            u.first_row,
                            format!("row group {}: {m}; its rows are skipped", u.group),
                        ),
                        &mut errors,
                    )?,
                }
            }
            units = kept;
        }
        Subset::Random { n, seed } => {
            let total: usize = units.iter().map(|u| u.rows).sum();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut pick = index::sample(&mut rng, total, n.min(total)).into_vec();
            pick.sort_unstable();
            let (mut base, mut p) = (0, 0);
            for u in &mut units {
                let mut sel = Vec::new();
                while p < pick.len() && pick[p] < base + u.rows {
                    sel.push(pick[p] - base);
                    p += 1;
                }
                base += u.rows;
                u.select = Some(sel);
            }
            units.retain(|u| u.select.as_ref().is_some_and(|s| !s.is_empty()));
        }
        Subset::All | Subset::First(_) => {}
    }
    let selected: usize = units.iter().map(|u| u.select.as_ref().map_or(u.rows, Vec::len)).sum();
    let limit = if let Subset::First(n) = o.subset { Some(n) } else { None };
    let rng = o.shuffle.map(|seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        units.shuffle(&mut rng);
        rng
    });
    units.reverse();
    Ok(GencadIter {
        shards,
        units,
        active: None,
        chunk: VecDeque::new(),
        rng,
        buf: Vec::new(),
        exhausted: false,
        gate: RowGate::new(o.on_error, o.quiet, limit, errors),
        len_hint: limit.map_or(selected, |l| l.min(selected)),
    })
}

/// In-group indices of the rows of `u` whose `hundred_subset` is true.
fn scan_hundred(shard: &Shard, u: &Unit, col: usize) -> Result<Vec<usize>, String> {
    let mut readers = column_readers(shard, u.group, &[col]).map_err(|e| e.to_string())?;
    let (r, max_def) = &mut readers[0];
    let mut sel = Vec::new();
    let mut at = 0;
    while at < u.rows {
        let n = CHUNK.min(u.rows - at);
        match read_values(r, *max_def, n).map_err(|e| format!("column `hundred_subset`: {e}"))? {
            Values::Bool(b) => {
                sel.extend(b.iter().enumerate().filter(|(_, v)| **v == Some(true)).map(|(k, _)| at + k))
            }
            _ => return Err("column `hundred_subset` is not boolean".into()),
        }
        at += n;
    }
    Ok(sel)
}

impl GencadIter {
    /// The rows (or shards, row groups) skipped so far.
    pub(crate) fn errors(&self) -> &[RowError] {
        self.gate.errors()
    }

    /// Rows this pass will yield if none is corrupt.
    pub(crate) fn len_hint(&self) -> usize {
        self.len_hint
    }

    fn start(&self, unit: Unit) -> Result<Active, RowError> {
        let shard = &self.shards[unit.shard];
        let c = &shard.cols;
        let mut idx = vec![c.image.0, c.id.0, c.code.0];
        idx.extend(c.prompt.as_ref().map(|p| p.0));
        let readers = column_readers(shard, unit.group, &idx).map_err(|e| {
            row_error(
                &shard.path,
                unit.first_row,
                format!("row group {}: {e}; its rows are skipped", unit.group),
            )
        })?;
        Ok(Active { unit, readers, next: 0, sel_pos: 0 })
    }

    /// Decode the next chunk of the active unit into `self.chunk`.
    fn read_chunk(&mut self) -> Result<(), RowError> {
        let Some(a) = self.active.as_mut() else { return Ok(()) };
        let shard = &self.shards[a.unit.shard];
        let n = CHUNK.min(a.unit.rows - a.next);
        let start = a.next;
        let mut cols = Vec::with_capacity(a.readers.len());
        for (k, (r, max_def)) in a.readers.iter_mut().enumerate() {
            let name = [&shard.cols.image.1, &shard.cols.id.1, &shard.cols.code.1]
                .get(k)
                .map_or("prompt", |s| s.as_str());
            match read_values(r, *max_def, n) {
                Ok(v) => cols.push(v),
                Err(e) => {
                    let (row0, end) = (a.unit.first_row + start, a.unit.first_row + a.unit.rows);
                    let msg = format!(
                        "column `{name}` of row group {} cannot be decoded: {e}; rows {row0}..{end} are skipped",
                        a.unit.group
                    );
                    let e = row_error(&shard.path, row0, msg);
                    self.active = None;
                    return Err(e);
                }
            }
        }
        a.next += n;
        let c = &shard.cols;
        for k in 0..n {
            let in_group = start + k;
            if let Some(sel) = &a.unit.select {
                if a.sel_pos >= sel.len() || sel[a.sel_pos] != in_group {
                    continue;
                }
                a.sel_pos += 1;
            }
            let cell = |i: usize, name: &str| -> Result<String, String> {
                text(&cols[i], k, name)?.ok_or_else(|| format!("`{name}` is null"))
            };
            let data = (|| {
                let png = match &cols[0] {
                    Values::Bytes(b) => b[k]
                        .as_ref()
                        .map(|x| x.data().to_vec())
                        .ok_or_else(|| format!("`{}` is null", c.image.1))?,
                    _ => return Err("image column is not binary".to_string()),
                };
                let id = cell(1, &c.id.1)?;
                let code = cell(2, &c.code.1)?;
                let prompt = match cols.get(3) {
                    Some(v) => text(v, k, "prompt")?,
                    None => None,
                };
                Ok(RawOk { id, png, code, prompt })
            })();
            self.chunk.push_back(Raw { shard: a.unit.shard, row: a.unit.first_row + in_group, data });
        }
        if a.next >= a.unit.rows {
            self.active = None;
        }
        Ok(())
    }

    /// The next row in read order, or a unit-level error.
    fn pull(&mut self) -> Option<Result<Raw, RowError>> {
        loop {
            if let Some(r) = self.chunk.pop_front() {
                return Some(Ok(r));
            }
            if self.active.is_none() {
                let unit = self.units.pop()?;
                match self.start(unit) {
                    Ok(a) => self.active = Some(a),
                    Err(e) => return Some(Err(e)),
                }
            }
            if let Err(e) = self.read_chunk() {
                return Some(Err(e));
            }
        }
    }

    /// The next row in the final order (through the shuffle buffer when seeded).
    fn next_raw(&mut self) -> Option<Result<Raw, RowError>> {
        if self.rng.is_none() {
            return self.pull();
        }
        while self.buf.len() < SHUFFLE_BUFFER && !self.exhausted {
            match self.pull() {
                Some(Ok(r)) => self.buf.push(r),
                Some(Err(e)) => return Some(Err(e)),
                None => self.exhausted = true,
            }
        }
        let rng = self.rng.as_mut()?;
        if self.buf.is_empty() {
            return None;
        }
        let i = rng.random_range(0..self.buf.len());
        Some(Ok(self.buf.swap_remove(i)))
    }

    fn decode(&self, raw: Raw) -> Result<Sample, RowError> {
        let path = &self.shards[raw.shard].path;
        let ok = raw.data.map_err(|m| row_error(path, raw.row, m))?;
        let image = image::load_from_memory(&ok.png)
            .map_err(|e| row_error(path, raw.row, format!("image is not a decodable PNG: {e}")))?
            .to_rgb8();
        Ok(Sample {
            id: ok.id,
            image,
            prompt: ok.prompt.unwrap_or_else(|| GENCAD_PROMPT.to_string()),
            code: ok.code,
        })
    }
}

impl Iterator for GencadIter {
    type Item = Result<Sample, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.gate.finished() {
                return None;
            }
            let row = match self.next_raw() {
                None => {
                    self.gate.end();
                    return None;
                }
                Some(Ok(raw)) => self.decode(raw),
                Some(Err(e)) => Err(e),
            };
            if let Some(out) = self.gate.admit(row) {
                return Some(out);
            }
        }
    }
}
