//! The pipeline: a recipe's stages run in order in one run directory.
//!
//! `run` reads top to bottom: prepare the run directory and data, expand the stages
//! into a flat plan (iterative DPO rounds become sample/dpo pairs), then for each planned
//! stage that is not done yet: load or restore the policy, run the stage, save the policy
//! after training stages, record the stage as done. A killed run resumes (`--resume DIR`)
//! at the first stage not done, from that stage's newest in-stage checkpoint.
//!
//! Invariants: the pipeline sees no tensors (the backend's API is plain Rust types);
//! generated programs are executed by the recipe's `[executor]` (the native interpreter,
//! or real CadQuery in sandboxed worker processes), never as Python in this process; a
//! run directory is never overwritten.

pub(crate) mod data;
pub(crate) mod eval;
pub(crate) mod log;
pub(crate) mod pairs;
pub(crate) mod policy;
pub use policy::rgb;
pub(crate) mod rl;
pub(crate) mod rundir;
pub(crate) mod sample;
pub mod score;
pub mod train;
pub mod vision;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::recipe::{Recipe, Stage};
use data::Dataset;
use log::Logger;
use policy::{Policy, base_model};
use rundir::{RunDir, RunState, write_atomic};

/// Stage metrics for the summary.
pub(crate) type Metrics = Vec<(String, f64)>;

/// A deterministic seed mix (splitmix64 of both).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One stage of the expanded plan.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    /// Position in the plan; names the stage and checkpoint directories (`<index>-<kind>`).
    pub(crate) index: usize,
    /// The stage (a copy of the recipe's; iterative DPO repeats its sample/dpo pair).
    pub(crate) stage: Stage,
    /// Round of an iterative sample/dpo pair (0 otherwise).
    pub(crate) round: usize,
}

impl Planned {
    /// `<index>-<kind>`, with `-r<round>` for sample and dpo stages: the stage's name in
    /// logs, `state.json` and the summary.
    pub(crate) fn label(&self) -> String {
        match self.stage {
            Stage::Sample(_) | Stage::Dpo(_) => {
                format!("{:02}-{}-r{}", self.index, self.stage.kind(), self.round)
            }
            _ => format!("{:02}-{}", self.index, self.stage.kind()),
        }
    }
}

/// Expand `rounds` into a flat list of stages.
pub(crate) fn plan(r: &Recipe) -> Vec<Planned> {
    let mut out: Vec<Planned> = vec![];
    for (i, s) in r.stage.iter().enumerate() {
        let push = |out: &mut Vec<Planned>, stage: Stage, round| {
            let index = out.len();
            out.push(Planned { index, stage, round });
        };
        push(&mut out, s.clone(), 0);
        if let Stage::Dpo(d) = s
            && let Some(Stage::Sample(prev)) = i.checked_sub(1).and_then(|j| r.stage.get(j))
        {
            for round in 1..d.rounds {
                push(&mut out, Stage::Sample(prev.clone()), round);
                push(&mut out, s.clone(), round);
            }
        }
    }
    out
}

/// What a stage needs from the run.
pub(crate) struct Cx<'a> {
    pub(crate) recipe: &'a Recipe,
    pub(crate) dir: &'a RunDir,
    pub(crate) log: &'a mut Logger,
    pub(crate) state: &'a mut RunState,
    /// Plan index of the running stage.
    pub(crate) index: usize,
    /// Simulated crash: stop right after this global step (see [`RunOptions`]).
    pub(crate) stop_after: Option<u64>,
}

impl Cx<'_> {
    /// After each optimizer step: stop as if killed when asked to (nothing more saved).
    pub(crate) fn maybe_stop(&self) -> Result<()> {
        if let Some(n) = self.stop_after
            && self.state.global_step >= n
        {
            bail!(
                "stopped after global step {} as asked (--stop-after-steps), as if killed",
                self.state.global_step
            );
        }
        Ok(())
    }
}

/// How to run.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunOptions {
    /// Continue this run directory instead of starting a new one.
    pub(crate) resume: Option<PathBuf>,
    /// No progress bars or console lines.
    pub(crate) quiet: bool,
    /// Stop (as if killed) after this many optimizer steps in total; for tests of resume.
    pub(crate) stop_after_steps: Option<u64>,
}

/// Run a recipe; returns the run directory.
pub(crate) fn run(recipe: &Recipe, recipe_text: &str, opts: &RunOptions) -> Result<PathBuf> {
    let dir = match &opts.resume {
        Some(d) => RunDir::open(d)?,
        None => {
            let d = RunDir::create(&recipe.run.log_dir, &recipe.run.name)?;
            write_atomic(&d.root.join("recipe.toml"), recipe_text.as_bytes())?;
            write_atomic(&d.root.join("recipe.resolved.toml"), recipe.to_toml().as_bytes())?;
            d
        }
    };
    if opts.resume.is_some() {
        let saved = std::fs::read_to_string(dir.root.join("recipe.resolved.toml"))?;
        // compared as typed recipes: the same recipe whatever the spelling it was saved in
        let same = saved == recipe.to_toml()
            || crate::recipe::resolve(&saved, &mut Default::default()).is_ok_and(|r| &r == recipe);
        if !same {
            bail!(
                "{}: the recipe differs from the one this run started with (recipe.resolved.toml); resume with the same recipe and overrides",
                dir.root.display()
            );
        }
    }
    let backend = crate::backend::backend(recipe.model.backend)?;
    if recipe.run.threads > 0 {
        backend.set_num_threads(recipe.run.threads);
    }
    let mut log = Logger::open(&dir.root, opts.quiet)?;
    let mut state = dir.state()?;
    log.say(&format!("run directory: {}", dir.root.display()));
    if state.completed.is_empty() && opts.resume.is_none() {
        log.text("recipe", 0, &format!("```toml\n{}\n```", recipe.to_toml()))?;
    }
    let train_ds = Dataset::prepare(&recipe.data, &dir.root, "train").context("[data]")?;
    let eval_ds = Dataset::prepare(&recipe.eval_data, &dir.root, "eval").context("[eval_data]")?;

    let plan = plan(recipe);
    let init_dir = plan
        .iter()
        .find(|p| matches!(p.stage, Stage::Init(_)))
        .map(|p| dir.stage_dir(p.index, "init").join("model"));
    let base = base_model(recipe, init_dir);
    let mut policy: Option<Policy> = None;
    for p in &plan {
        if state.completed.contains(&p.index) {
            continue;
        }
        let t0 = Instant::now();
        log.say(&format!("== stage {} ==", p.label()));
        if policy.is_none() && !matches!(p.stage, Stage::Init(_)) {
            policy = Some(restore_latest(recipe, &dir, &plan, &state, &base)?);
        }
        let mut cx = Cx {
            recipe,
            dir: &dir,
            log: &mut log,
            state: &mut state,
            index: p.index,
            stop_after: opts.stop_after_steps,
        };
        let metrics = match (&p.stage, policy.as_mut()) {
            (Stage::Init(st), _) => init_stage(&mut cx, st, &train_ds)?,
            (Stage::Vision(st), Some(pol)) => vision::vision(&mut cx, pol, st, &train_ds, &eval_ds)?,
            (Stage::Sft(st), Some(pol)) => train::sft(&mut cx, pol, st, &train_ds, &eval_ds)?,
            (Stage::Sample(st), Some(pol)) => sample::sample(&mut cx, pol, st, &train_ds)?,
            (Stage::Dpo(st), Some(pol)) => {
                let s = plan[..p.index].iter().rev().find(|q| matches!(q.stage, Stage::Sample(_)));
                let s = s.context("dpo without a preceding sample stage")?;
                train::dpo(&mut cx, pol, st, &dir.stage_dir(s.index, "sample"))?
            }
            (Stage::Rl(st), Some(pol)) => rl::rl(&mut cx, pol, st, &train_ds)?,
            (Stage::Eval(st), Some(pol)) => eval::eval(&mut cx, pol.p.as_ref(), st, &eval_ds)?,
            (_, None) => bail!("internal: no policy for stage {}", p.label()),
        };
        if let (Stage::Vision(_) | Stage::Sft(_) | Stage::Dpo(_) | Stage::Rl(_), Some(pol)) =
            (&p.stage, policy.as_mut())
        {
            pol.save(&dir.checkpoint_dir(p.index, p.stage.kind()).join("final"), None)?;
            let ck = dir.checkpoint_dir(p.index, p.stage.kind());
            for e in std::fs::read_dir(&ck)?.flatten() {
                if e.file_name().to_string_lossy().starts_with("step-") {
                    std::fs::remove_dir_all(e.path()).ok();
                }
            }
        }
        let mut metrics = metrics;
        metrics.retain(|(_, v)| v.is_finite()); // JSON has no NaN (e.g. no valid prediction for a Chamfer median)
        metrics.push(("seconds".into(), t0.elapsed().as_secs_f64()));
        state.completed.push(p.index);
        state.results.push((p.index, p.label(), metrics));
        dir.save_state(&state)?;
        log.flush()?;
    }
    let summary = summary_markdown(&state);
    write_atomic(&dir.root.join("summary.md"), summary.as_bytes())?;
    log.text("summary", state.global_step, &summary)?;
    log.flush()?;
    log.say(&summary);
    Ok(dir.root.clone())
}

/// The policy after the last completed training stage, or the starting model.
fn restore_latest(
    r: &Recipe,
    dir: &RunDir,
    plan: &[Planned],
    state: &RunState,
    base: &str,
) -> Result<Policy> {
    let last = plan.iter().rfind(|p| {
        state.completed.contains(&p.index)
            && matches!(p.stage, Stage::Vision(_) | Stage::Sft(_) | Stage::Dpo(_) | Stage::Rl(_))
    });
    match last {
        Some(p) => {
            let d = dir.checkpoint_dir(p.index, p.stage.kind()).join("final");
            Policy::restore(r, base, &d, None)
                .with_context(|| format!("restoring the policy after stage {}", p.label()))
        }
        None => Policy::load(r, base),
    }
}

fn init_stage(cx: &mut Cx, st: &crate::recipe::InitStage, train: &Dataset) -> Result<Metrics> {
    let out = cx.dir.stage_dir(cx.index, "init");
    let programs: Vec<String> =
        train.pass(None)?.take(st.tokenizer_programs).map(|s| s.map(|s| s.code)).collect::<Result<_>>()?;
    let cfg: cadrl_backend::InitConfig = serde_json::from_value(st.model.clone())?;
    let backend = crate::backend::backend(cx.recipe.model.backend)?;
    let rep = backend.init_checkpoint(&cfg, &programs, st.vocab_size, &out, cx.recipe.run.seed)?;
    cx.log.say(&format!(
        "init: tokenizer of {} tokens ({:.1} tokens per program), random model in {}",
        rep.vocab_size,
        rep.mean_tokens_per_program,
        out.join("model").display()
    ));
    Ok(vec![
        ("init/vocab_size".into(), rep.vocab_size as f64),
        ("init/tokens_per_program".into(), rep.mean_tokens_per_program),
    ])
}

/// The end-of-run table.
pub(crate) fn summary_markdown(s: &RunState) -> String {
    let mut out = String::from("| stage | seconds | metrics |\n| --- | ---: | --- |\n");
    for (_, label, m) in &s.results {
        let secs = m.iter().find(|(k, _)| k == "seconds").map_or(0.0, |x| x.1);
        let rest: Vec<String> = m
            .iter()
            .filter(|(k, _)| k != "seconds" && !k.ends_with("/std") && k != "train/lr")
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect();
        out.push_str(&format!("| {label} | {secs:.1} | {} |\n", rest.join(", ")));
    }
    out
}

/// Run directories of a log dir, newest last (for scripts and tests).
pub fn runs_in(log_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(log_dir)
        .map(|rd| {
            rd.flatten().map(|e| e.path()).filter(|p| p.join("recipe.resolved.toml").is_file()).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
