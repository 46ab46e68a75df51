//! The `vision` stage: trains the vision tower and patch merger (LoRA: the tower's
//! adapters) before SFT, on targets that cost nothing to label because the native
//! engine computes them exactly from each training program:
//!
//! - `proportions`: the bounding box's sides over its longest side (3 values: what a
//!   render framed to the bounding box shows);
//! - `fill`: the solid's volume over its bounding box's (1);
//! - `occupancy`: the fraction of each cell of a `grid`^3 lattice over the bounding box
//!   that lies inside the solid, from 2x2x2 points per cell (`grid`^3 values);
//! - `counts`: log(1 + n) of the program's lines, arcs, circles, extrusions, unions, cuts
//!   and sketches (7 values).
//!
//! A linear probe on each image's mean merged feature regresses the standardised targets
//! (mean and spread from the training parts); the decoder then reads features that carry
//! the part's geometry. Held-out R^2 per target group is logged (`vision/r2/<target>`).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use cadrl_backend::ImageInput;
use cadrl_rewards::exec::execute_native;
use cadrl_rewards::geom::integrate::mass_props;
use cadrl_rewards::geom::vec::v3;
use rayon::prelude::*;
use serde::Serialize;

use super::data::{Dataset, Stream};
use super::policy::Policy;
use super::policy::rgb;
use super::train::{cosine_lr, resume_training, save_step_checkpoint, train_config, want_checkpoint};
use super::{Cx, Metrics, mix};
use crate::data::{Sample, program_stats};
use crate::recipe::VisionStage;

/// One group of targets (a closed set; recipe key `targets`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The bounding box's sides over its longest side (3 values, in (0, 1]).
    Proportions,
    /// The solid's volume over its bounding box's (1 value, in [0, 1]).
    Fill,
    /// The inside fraction of each cell of a `grid`^3 lattice over the bounding box
    /// (`grid`^3 values in [0, 1], cell (x, y, z) at `(x * grid + y) * grid + z`).
    Occupancy,
    /// ln(1 + n) of the program's `lineTo`, `threePointArc`, `circle`, `extrude`,
    /// `union` and `cut` calls and of its sketches (7 values).
    Counts,
}

impl Target {
    /// Every target group, in the order of the module docs.
    pub const ALL: [Target; 4] = [Target::Proportions, Target::Fill, Target::Occupancy, Target::Counts];

    /// The recipe name (`proportions`, `fill`, `occupancy`, `counts`; also the serde
    /// name and the `<target>` of `vision/r2/<target>`).
    pub fn name(self) -> &'static str {
        match self {
            Target::Proportions => "proportions",
            Target::Fill => "fill",
            Target::Occupancy => "occupancy",
            Target::Counts => "counts",
        }
    }

    /// The target named `s` (see [`Target::name`]), if any.
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }

    fn len(self, grid: usize) -> usize {
        match self {
            Target::Proportions => 3,
            Target::Fill => 1,
            Target::Occupancy => grid * grid * grid,
            Target::Counts => COUNTED.len() + 1,
        }
    }
}

/// The program calls counted by the `counts` target (plus sketches).
const COUNTED: [&str; 6] = ["lineTo", "threePointArc", "circle", "extrude", "union", "cut"];

/// The targets of one program, in the order of `targets`; `Err` names why a program has
/// none (it does not run to a solid, or the solid is degenerate).
pub fn targets_for(code: &str, var: &str, targets: &[Target], grid: usize) -> Result<Vec<f32>, String> {
    let out = execute_native(code, var);
    let solid = out.solid().ok_or_else(|| out.reason().unwrap_or_else(|| out.kind().to_string()))?;
    let mp = mass_props(solid);
    let (lo, hi) = (mp.bbox.min, mp.bbox.max);
    let side = [hi.x - lo.x, hi.y - lo.y, hi.z - lo.z];
    let longest = side.iter().copied().fold(0.0, f64::max);
    if !(longest > 0.0 && mp.volume > 0.0) {
        return Err("degenerate solid (no volume)".into());
    }
    let mut v: Vec<f32> = vec![];
    for t in targets {
        match t {
            Target::Proportions => v.extend(side.iter().map(|s| (s / longest) as f32)),
            Target::Fill => {
                let boxv: f64 = side.iter().map(|s| s.max(1e-12)).product();
                v.push((mp.volume / boxv).min(1.0) as f32);
            }
            Target::Occupancy => {
                let m = 2 * grid; // 2 points per cell and axis
                let at = |i: usize, k: usize, a: f64, b: f64| a + (b - a) * (i as f64 + 0.5) / k as f64;
                let mut cells = vec![0f32; grid * grid * grid];
                for ix in 0..m {
                    for iy in 0..m {
                        for iz in 0..m {
                            let p = v3(at(ix, m, lo.x, hi.x), at(iy, m, lo.y, hi.y), at(iz, m, lo.z, hi.z));
                            if solid.contains(p) {
                                cells[(ix / 2 * grid + iy / 2) * grid + iz / 2] += 0.125;
                            }
                        }
                    }
                }
                v.extend(cells);
            }
            Target::Counts => {
                let st = program_stats(code);
                for name in COUNTED {
                    let i = crate::data::METHODS.iter().position(|m| *m == name).unwrap_or(0);
                    v.push((st.calls[i] as f32).ln_1p());
                }
                v.push((st.sketches as f32).ln_1p());
            }
        }
    }
    Ok(v)
}

/// Per-dimension mean and spread of the training targets (spread floored, so constant
/// dimensions standardise to 0).
#[derive(Clone, Debug)]
struct Standardise {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Standardise {
    fn fit(rows: &[Vec<f32>]) -> Standardise {
        let d = rows[0].len();
        let n = rows.len() as f64;
        let mut mean = vec![0f64; d];
        for r in rows {
            for (m, x) in mean.iter_mut().zip(r) {
                *m += f64::from(*x) / n;
            }
        }
        let mut var = vec![0f64; d];
        for r in rows {
            for ((s, x), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (f64::from(*x) - m).powi(2) / n;
            }
        }
        Standardise {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var.iter().map(|&v| v.sqrt().max(1e-3) as f32).collect(),
        }
    }

    fn apply(&self, r: &[f32]) -> Vec<f32> {
        r.iter().zip(&self.mean).zip(&self.std).map(|((x, m), s)| (x - m) / s).collect()
    }
}

/// The samples whose program runs, each with its targets (the others are left out).
fn labelled(samples: Vec<Sample>, st: &VisionStage, var: &str) -> Vec<(Sample, Vec<f32>)> {
    let rows: Vec<Option<Vec<f32>>> =
        samples.par_iter().map(|s| targets_for(&s.code, var, &st.targets, st.grid).ok()).collect();
    samples.into_iter().zip(rows).filter_map(|(s, r)| r.map(|r| (s, r))).collect()
}

/// Held-out R^2 of each target group (1 - SSE / SST, in standardised units).
fn r2(
    pol: &Policy,
    val: &[(Sample, Vec<f32>)],
    z: &Standardise,
    st: &VisionStage,
) -> Result<Vec<(String, f64)>> {
    let mut pred: Vec<Vec<f32>> = vec![];
    for chunk in val.chunks(32) {
        let imgs: Vec<ImageInput> = chunk.iter().map(|(s, _)| rgb(&s.image)).collect();
        pred.extend(pol.p.probe_predict(&imgs)?);
    }
    let gold: Vec<Vec<f32>> = val.iter().map(|(_, t)| z.apply(t)).collect();
    let mut out = vec![];
    let mut off = 0;
    for t in &st.targets {
        let k = t.len(st.grid);
        let (mut sse, mut sst) = (0f64, 0f64);
        for d in off..off + k {
            let mean = gold.iter().map(|g| f64::from(g[d])).sum::<f64>() / gold.len() as f64;
            for (p, g) in pred.iter().zip(&gold) {
                sse += (f64::from(p[d]) - f64::from(g[d])).powi(2);
                sst += (f64::from(g[d]) - mean).powi(2);
            }
        }
        out.push((format!("vision/r2/{}", t.name()), if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN }));
        off += k;
    }
    Ok(out)
}

/// The `vision` stage: `steps` probe-regression steps on the training stream, with
/// held-out R^2 every `eval_every` steps (see the module docs).
pub(crate) fn vision(
    cx: &mut Cx,
    pol: &mut Policy,
    st: &VisionStage,
    train: &Dataset,
    eval: &Dataset,
) -> Result<Metrics> {
    let r = cx.recipe;
    let var = r.executor.var.as_str();
    let o = &st.optim;
    let dims: usize = st.targets.iter().map(|t| t.len(st.grid)).sum();
    let cfg = cadrl_backend::TrainConfig { probe_outputs: dims, ..train_config(o) };
    // Standardisation from (up to) `fit_samples` training parts, the same on resume.
    // Only the programs are kept (not the decoded images).
    let codes: Vec<String> =
        train.pass(None)?.take(st.fit_samples).map(|s| s.map(|s| s.code)).collect::<Result<_>>()?;
    let rows: Vec<Vec<f32>> =
        codes.par_iter().filter_map(|c| targets_for(c, var, &st.targets, st.grid).ok()).collect();
    let dropped = codes.len() - rows.len();
    if rows.is_empty() {
        bail!("vision: none of the first {} training programs runs to a solid ({var})", codes.len());
    }
    let z = Standardise::fit(&rows);
    if dropped > 0 {
        cx.log.say(&format!(
            "vision: {dropped} of the first {} training programs give no targets",
            st.fit_samples
        ));
    }
    let val = labelled(if st.val_samples > 0 { eval.head(st.val_samples)? } else { vec![] }, st, var);
    let ck = cx.dir.checkpoint_dir(cx.index, "vision");
    let start = resume_training(cx, pol, &ck, &cfg)?;
    let seed = mix(r.run.seed, cx.index as u64);
    let mut stream = Stream::new(train, seed, (start * o.batch_size) as u64)?;
    let bar = cx.log.bar(st.steps as u64, "vision");
    bar.set_position(start as u64);
    let mut last: Vec<(String, f64)> = vec![];
    for step in start..st.steps {
        let lr = cosine_lr(step, st.steps, o.warmup_steps, o.lr, o.min_lr_ratio);
        pol.p.set_lr(lr);
        pol.backend.manual_seed(mix(seed, step as u64));
        let batch = labelled(stream.take(o.batch_size)?, st, var);
        if batch.is_empty() {
            bail!("vision step {step}: no program of the batch runs to a solid");
        }
        let imgs: Vec<ImageInput> = batch.iter().map(|(s, _)| rgb(&s.image)).collect();
        let ys: Vec<Vec<f32>> = batch.iter().map(|(_, t)| z.apply(t)).collect();
        let t0 = Instant::now();
        let s = pol.p.vision_step(&imgs, &ys).context("vision step")?;
        if !s.loss.is_finite() {
            bail!("vision step {step}: loss is {} (lower the learning rate?)", s.loss);
        }
        cx.state.global_step += 1;
        let g = cx.state.global_step;
        let ips = imgs.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        last = vec![
            ("vision/loss".into(), s.loss),
            ("train/lr".into(), lr),
            ("train/grad_norm".into(), s.grad_norm),
            ("vision/images_per_s".into(), ips),
        ];
        let done = step + 1;
        if !val.is_empty() && (done == st.steps || (st.eval_every > 0 && done % st.eval_every == 0)) {
            last.extend(r2(pol, &val, &z, st)?);
        }
        let refs: Vec<(&str, f64)> = last.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        cx.log.scalars(g, &refs)?;
        bar.set_message(format!("loss {:.4}", s.loss));
        bar.inc(1);
        if want_checkpoint(r.run.checkpoint_every, done, st.steps) {
            save_step_checkpoint(cx, pol, &ck, done)?;
        }
        cx.log.flush()?;
        cx.maybe_stop()?;
    }
    bar.finish_and_clear();
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOX: &str = "import cadquery as cq\nsolid = cq.Workplane('XY').box(2, 1, 0.5)\n";

    #[test]
    fn a_box_has_its_proportions_full_fill_and_counts() {
        let t = targets_for(BOX, "solid", &Target::ALL, 2).expect("targets");
        assert_eq!(t.len(), 3 + 1 + 8 + 7);
        assert_eq!(&t[..3], &[1.0, 0.5, 0.25]);
        assert!((t[3] - 1.0).abs() < 1e-6, "fill {}", t[3]);
        assert!(t[4..12].iter().all(|&c| (c - 1.0).abs() < 1e-6), "a box fills every cell");
    }

    #[test]
    fn broken_programs_have_no_targets() {
        assert!(targets_for("solid = 1/0", "solid", &Target::ALL, 2).is_err());
        assert!(targets_for(BOX, "missing", &Target::ALL, 2).is_err());
    }

    #[test]
    fn standardised_targets_have_zero_mean_and_constant_dims_stay_finite() {
        let rows = vec![vec![1.0, 5.0], vec![3.0, 5.0]];
        let z = Standardise::fit(&rows);
        assert_eq!(z.apply(&rows[0]), vec![-1.0, 0.0]);
        assert_eq!(z.apply(&rows[1]), vec![1.0, 0.0]);
    }
}
