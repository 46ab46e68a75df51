//! `cadrl score --pairs PAIRS.jsonl [--out OUT.jsonl] [--iou-mode M] [--var V]
//! [--executor native|occt|auto [--cq-python PY] [--workers N] [--timeout S]]`.
//!
//! The executor runs every program of the file as one batch (`occt` and `auto`
//! through the sandboxed CadQuery worker pool, see `cadrl_rewards::occt`); the
//! metrics are the same Rust code for all executors.
//!
//! Input: one JSON object a line, `{"id", "a": candidate code, "b": reference code}`.
//! Output: one line per input line that parses, in order:
//! `{"id", "valid_a", "valid_b", "error_a", "error_b", "volume_a", "volume_b", "iou",
//! "chamfer"}` with `null` where a value cannot be computed. A malformed input line is
//! reported on stderr with its line number and skipped; the rest are still scored.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use cadrl_rewards::exec::Outcome;
use cadrl_rewards::executor::{ExecutorKind, ExecutorSpec, build};
use cadrl_rewards::geom::mass_props;
use cadrl_rewards::metrics::{IouMode, chamfer, iou};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The arguments of `cadrl score`.
#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// JSON lines with `id`, `a` (candidate code) and `b` (reference code).
    #[arg(long)]
    pairs: PathBuf,
    /// Output JSON lines (stdout when absent).
    #[arg(long)]
    out: Option<PathBuf>,
    /// How shapes are placed before the IoU: in-place, bbox or inertia.
    #[arg(long, default_value = "in-place")]
    iou_mode: IouMode,
    /// Variable holding the result in both programs.
    #[arg(long, default_value = "solid")]
    var: String,
    /// Skip the Chamfer distance (faster).
    #[arg(long)]
    no_chamfer: bool,
    /// Who runs the programs: native (in-process interpreter), occt (real CadQuery
    /// in sandboxed workers) or auto (native, occt for what native does not model).
    #[arg(long, default_value = "native")]
    executor: ExecutorKind,
    /// Python with cadquery 2.8 for occt/auto (default: $CADRL_CQ_PYTHON).
    #[arg(long)]
    cq_python: Option<PathBuf>,
    /// occt worker processes (default: the number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// occt wall-clock limit per program, seconds (default 10).
    #[arg(long)]
    timeout: Option<f64>,
}

#[derive(Deserialize)]
struct Pair {
    id: serde_json::Value,
    a: String,
    b: String,
}

/// One scored pair, as written to the output.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct Scored {
    id: serde_json::Value,
    valid_a: bool,
    valid_b: bool,
    error_a: Option<String>,
    error_b: Option<String>,
    volume_a: Option<f64>,
    volume_b: Option<f64>,
    iou: Option<f64>,
    chamfer: Option<f64>,
}

/// Score one pair of outcomes (from any executor).
pub(crate) fn score_outcomes(
    id: serde_json::Value,
    oa: &Outcome,
    ob: &Outcome,
    mode: IouMode,
    with_chamfer: bool,
) -> Scored {
    let vol = |o: &Outcome| o.solid().map(|s| mass_props(s).volume);
    let (sa, sb) = (oa.solid(), ob.solid());
    let (iou_v, cd) = match (sa, sb) {
        (Some(x), Some(y)) => (Some(iou(x, y, mode)), if with_chamfer { chamfer(x, y) } else { None }),
        _ => (None, None),
    };
    Scored {
        id,
        valid_a: oa.is_valid(),
        valid_b: ob.is_valid(),
        error_a: oa.reason(),
        error_b: ob.reason(),
        volume_a: vol(oa),
        volume_b: vol(ob),
        iou: iou_v,
        chamfer: cd,
    }
}

/// Scores every pair of the input file and writes one JSON line per pair.
pub fn run(a: &ScoreArgs) -> anyhow::Result<()> {
    let f = std::fs::File::open(&a.pairs).with_context(|| format!("opening {}", a.pairs.display()))?;
    let mut pairs = Vec::new();
    let mut bad = 0usize;
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{}:{}: unreadable line ({e}); skipped", a.pairs.display(), i + 1);
                bad += 1;
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Pair>(&line) {
            Ok(p) => pairs.push(p),
            Err(e) => {
                eprintln!("{}:{}: malformed pair ({e}); skipped", a.pairs.display(), i + 1);
                bad += 1;
            }
        }
    }
    let pb = ProgressBar::new(pairs.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} pairs  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if pairs.len() < 64 {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let spec = ExecutorSpec {
        kind: a.executor,
        python: a.cq_python.clone(),
        workers: a.workers,
        timeout_s: a.timeout,
        ..ExecutorSpec::default()
    };
    let executor = build(&spec).with_context(|| format!("starting the {:?} executor", a.executor))?;
    let programs: Vec<&str> = pairs.iter().flat_map(|p| [p.a.as_str(), p.b.as_str()]).collect();
    let outcomes = executor
        .execute(&programs, &a.var)
        .with_context(|| format!("running {} programs", programs.len()))?;
    drop(programs);
    let scored: Vec<Scored> = pairs
        .into_par_iter()
        .zip(outcomes.par_chunks(2))
        .map(|(p, o)| {
            let s = score_outcomes(p.id, &o[0], &o[1], a.iou_mode, !a.no_chamfer);
            pb.inc(1);
            s
        })
        .collect();
    pb.finish_and_clear();
    let sink: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = BufWriter::new(sink);
    for s in &scored {
        serde_json::to_writer(&mut w, s)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    if bad > 0 {
        eprintln!("{bad} malformed line(s) skipped");
    }
    Ok(())
}
