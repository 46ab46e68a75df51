//! `cadrl difftest`: the native executor against real CadQuery on drawn and mutated
//! programs, for a time or a count (see `crate::difftest`).
//!
//! ```sh
//! cadrl difftest --minutes 60 --seed 1 --fixtures ../shared/fixtures/gencad-dev/cases.jsonl --out runs/difftest
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use cadrl_rewards::occt::{OcctExecutor, OcctOptions};

use crate::difftest::{DiffOptions, run as run_difftest};

/// The arguments of `cadrl difftest`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// Seed of the drawn cases (case i uses stream i).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this many minutes...
    #[arg(long)]
    minutes: Option<f64>,
    /// ...or after this many cases (pairs), whichever comes first.
    #[arg(long)]
    count: Option<u64>,
    /// Real programs to mutate: JSON lines with `id` and `code` (the fixtures' cases.jsonl).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Output directory: findings.jsonl, summary.json, summary.md.
    #[arg(long, default_value = "runs/difftest")]
    out: PathBuf,
    /// Cases per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Findings shrunk to a minimal program per class.
    #[arg(long, default_value_t = 4)]
    shrink: usize,
    /// OCCT worker processes (default: the number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// OCCT wall-clock limit per program, seconds.
    #[arg(long, default_value_t = 20.0)]
    timeout: f64,
    /// Python with cadquery 2.8 (default: $CADRL_CQ_PYTHON, else the set-up's cache).
    #[arg(long)]
    cq_python: Option<PathBuf>,
}

fn read_fixtures(path: &PathBuf) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        let id =
            v.get("id").map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)).unwrap_or_default();
        let code = v
            .get("code")
            .and_then(|c| c.as_str())
            .with_context(|| format!("{}:{}: no string field `code`", path.display(), i + 1))?;
        out.push((id, code.to_string()));
    }
    Ok(out)
}

/// Runs the differential test for the time or count asked; findings go to
/// `<out>/findings.jsonl` and `summary.md`.
pub fn run(a: &DiffArgs) -> Result<()> {
    anyhow::ensure!(a.minutes.is_some() || a.count.is_some(), "give --minutes or --count");
    let fixtures = a.fixtures.as_ref().map(read_fixtures).transpose()?.unwrap_or_default();
    let mut opts = OcctOptions::default();
    if let Some(p) = &a.cq_python {
        opts.python = p.clone();
    }
    if let Some(w) = a.workers {
        opts.workers = w;
    }
    opts.timeout = Duration::from_secs_f64(a.timeout);
    let occt = OcctExecutor::new(opts).map_err(|e| anyhow::anyhow!("starting the OCCT workers: {e}"))?;
    let o = DiffOptions {
        seed: a.seed,
        count: a.count,
        duration: a.minutes.map(|m| Duration::from_secs_f64(m * 60.0)),
        batch: a.batch,
        shrink_per_class: a.shrink,
        fixtures,
        out: a.out.clone(),
    };
    let s = run_difftest(&o, &occt, |s| {
        eprintln!(
            "difftest: {} cases, {} programs, {} disagree, pairs {} (mean |dIoU| {:.5}, max {:.4}), {:.0} s",
            s.cases,
            s.programs,
            s.disagreeing,
            s.pairs.n,
            s.pairs.mean_abs_diff,
            s.pairs.max_abs_diff,
            s.elapsed_s
        )
    })?;
    eprintln!("difftest: done; {} (summary.md beside it)", a.out.join("findings.jsonl").display());
    println!("{}", serde_json::to_string_pretty(&s)?);
    Ok(())
}
