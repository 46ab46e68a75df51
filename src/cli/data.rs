//! `cadrl data synth` and `cadrl data stats`.
//!
//! - `cadrl data synth --n N --seed S --out DIR [--format jsonl|parquet] [--config CFG.json]`
//!   writes, for `jsonl`, `DIR/data.jsonl` (`id`, `image`, `prompt`, `code`) and
//!   `DIR/images/<id>.png`, the fixture layout; for `parquet`,
//!   `DIR/data/{split}-XXXXX-of-YYYYY.parquet` shards of `--shard-rows` rows in
//!   GenCAD-Code's Hugging Face schema (see `data::gencad_write`; `token_count` is the
//!   chars / 3.5 estimate, `hundred_subset` marks the first 100 samples). Both are read
//!   by `data::source::open`. Same seed and config, same bytes.
//! - `cadrl data stats PATH...` prints a markdown table (one column per PATH: a JSONL
//!   file, a directory holding `data.jsonl` / `cases.jsonl`, or a parquet file or
//!   directory of shards), or JSON with `--json`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::gencad_write::{HfRow, ShardWriter, shard_name};
use crate::data::jsonl::OnError;
use crate::data::source::{DataSpec, open};
use crate::data::synth::{self, SynthConfig};
use crate::data::{CHARS_PER_TOKEN, GENCAD_PROMPT, dataset_stats, stats_markdown};

/// The arguments of `cadrl data` (`synth` or `stats`).
#[derive(clap::Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    cmd: DataCmd,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum DataCmd {
    /// Generate synthetic GenCAD-style programs with their renders.
    Synth(SynthArgs),
    /// Statistics of one or more data sets (markdown table).
    Stats(StatsArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct SynthArgs {
    /// Number of samples.
    #[arg(long)]
    n: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
    /// Output format: `jsonl` (fixture layout) or `parquet` (GenCAD-Code's HF schema).
    #[arg(long, default_value = "jsonl")]
    format: String,
    /// Split name in the parquet shard names.
    #[arg(long, default_value = "train")]
    split: String,
    /// Rows per parquet shard.
    #[arg(long, default_value_t = 10_000)]
    shard_rows: u64,
    /// Generator knobs as JSON (a `SynthConfig`; missing fields take the defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the effective config and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct StatsArgs {
    /// JSONL files, directories holding `data.jsonl` / `cases.jsonl`, parquet files or
    /// directories of parquet shards (split `train`, or all files when none names a split).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print JSON (one object per path) instead of markdown.
    #[arg(long)]
    json: bool,
    /// Stop at the first corrupt row instead of skipping it.
    #[arg(long)]
    strict: bool,
}

/// A written row, fields in the fixture order.
#[derive(serde::Serialize)]
struct Row<'a> {
    id: &'a str,
    image: &'a str,
    prompt: &'a str,
    code: &'a str,
}

/// Where `synth` writes.
// One value per run, so the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Out {
    Jsonl(BufWriter<std::fs::File>),
    Parquet { dir: PathBuf, shards: usize, next: usize, cur: Option<ShardWriter> },
}

/// Runs `cadrl data synth` or `cadrl data stats`.
pub fn run(a: &DataArgs) -> anyhow::Result<()> {
    match &a.cmd {
        DataCmd::Synth(s) => run_synth(s),
        DataCmd::Stats(s) => run_stats(s),
    }
}

fn run_synth(a: &SynthArgs) -> anyhow::Result<()> {
    let parquet = match a.format.as_str() {
        "jsonl" => false,
        "parquet" => true,
        f => bail!("unknown format `{f}` (jsonl or parquet)"),
    };
    if parquet && a.shard_rows == 0 {
        bail!("--shard-rows must be at least 1");
    }
    let cfg: SynthConfig = match &a.config {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => SynthConfig::default(),
    };
    let problems = cfg.problems();
    if !problems.is_empty() {
        let at = a.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        bail!("{at}: {}", problems.join("; "));
    }
    if a.print_config {
        println!("{}", serde_json::to_string_pretty(&cfg)?);
        return Ok(());
    }
    let mut out = if parquet {
        let dir = a.out.join("data");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Out::Parquet { dir, shards: a.n.div_ceil(a.shard_rows).max(1) as usize, next: 0, cur: None }
    } else {
        let img_dir = a.out.join("images");
        std::fs::create_dir_all(&img_dir).with_context(|| format!("creating {}", img_dir.display()))?;
        let jsonl = a.out.join("data.jsonl");
        Out::Jsonl(BufWriter::new(
            std::fs::File::create(&jsonl).with_context(|| format!("creating {}", jsonl.display()))?,
        ))
    };
    let pb = ProgressBar::new(a.n);
    pb.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    const CHUNK: u64 = 256;
    let (mut written, mut failed, mut rejected) = (0u64, 0u64, 0u64);
    let mut start = 0;
    while start < a.n {
        let n = CHUNK.min(a.n - start);
        let batch = synth::generate(&cfg, a.seed, start, n);
        failed += n - batch.len() as u64;
        // PNG encoding in parallel too; written in index order.
        let pngs: Vec<anyhow::Result<Vec<u8>>> = {
            use rayon::prelude::*;
            batch
                .par_iter()
                .map(|s| {
                    let mut buf = Vec::new();
                    s.image.write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)?;
                    Ok(buf)
                })
                .collect()
        };
        for (s, png) in batch.iter().zip(pngs) {
            let id = format!("synth-{}-{:08}", a.seed, s.index);
            match &mut out {
                Out::Jsonl(w) => {
                    let rel = format!("images/{id}.png");
                    std::fs::write(a.out.join(&rel), png?).with_context(|| format!("writing {rel}"))?;
                    let row = Row { id: &id, image: &rel, prompt: GENCAD_PROMPT, code: &s.code };
                    writeln!(w, "{}", serde_json::to_string(&row)?)?;
                }
                Out::Parquet { dir, shards, next, cur } => {
                    if cur.as_ref().is_some_and(|w| w.rows() as u64 >= a.shard_rows) {
                        cur.take().map(ShardWriter::finish).transpose()?;
                    }
                    if cur.is_none() {
                        *cur = Some(ShardWriter::create(&dir.join(shard_name(&a.split, *next, *shards)))?);
                        *next += 1;
                    }
                    let row = HfRow {
                        png: png?,
                        deepcad_id: id.clone(),
                        cadquery: s.code.clone(),
                        token_count: (s.code.chars().count() as f64 / CHARS_PER_TOKEN).round() as i64,
                        prompt: GENCAD_PROMPT.to_string(),
                        hundred_subset: written < 100,
                    };
                    if let Some(w) = cur.as_mut() {
                        w.push(row)?;
                    }
                }
            }
            written += 1;
            rejected += s.rejected as u64;
        }
        pb.inc(n);
        start += n;
    }
    let dest = match out {
        Out::Jsonl(mut w) => {
            w.flush()?;
            a.out.join("data.jsonl")
        }
        Out::Parquet { dir, shards, mut next, cur } => {
            cur.map(ShardWriter::finish).transpose()?;
            // Shards planned but left empty (indices that gave up) are still written,
            // so the `-of-N` names stay complete.
            while next < shards {
                ShardWriter::create(&dir.join(shard_name(&a.split, next, shards)))?.finish()?;
                next += 1;
            }
            dir
        }
    };
    pb.finish_and_clear();
    eprintln!(
        "wrote {written} samples to {} ({} programs rejected by validation{})",
        dest.display(),
        rejected,
        if failed > 0 { format!(", {failed} indices gave up after max_attempts") } else { String::new() }
    );
    Ok(())
}

fn run_stats(a: &StatsArgs) -> anyhow::Result<()> {
    let mut cols = Vec::new();
    for p in &a.paths {
        let spec = DataSpec {
            on_error: if a.strict { OnError::Fail } else { OnError::Skip },
            ..DataSpec::from_path(p)
        };
        let mut it = open(&spec).with_context(|| format!("opening {}", p.display()))?;
        let mut codes = Vec::new();
        for s in it.by_ref() {
            codes.push(s?.code);
        }
        if !it.errors().is_empty() {
            eprintln!("{}: {} rows skipped", p.display(), it.errors().len());
        }
        cols.push((p.display().to_string(), dataset_stats(&codes)));
    }
    if a.json {
        for (name, s) in &cols {
            println!("{}", serde_json::json!({"path": name, "stats": s}));
        }
    } else {
        print!("{}", stats_markdown(&cols));
    }
    Ok(())
}
