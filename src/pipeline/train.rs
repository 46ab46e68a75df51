//! The two training stages, `sft` and `dpo`, as plain loops: schedule, batch, step,
//! log, checkpoint. Both resume from their newest in-stage checkpoint with the same
//! batches, learning rates and dropout masks as an uninterrupted run (the data stream
//! and libtorch's RNG are positioned by step, never by wall clock).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cadrl_backend::{DpoLoss, Example, ImageInput, PreferencePair, TrainConfig};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::data::{Dataset, Stream};
use super::eval::{EvalOptions, build_executor, evaluate_report, log_predictions, report_scalars};
use super::policy::{Policy, rgb};
use super::rundir::{Progress, latest_step_checkpoint, write_atomic};
use super::{Cx, Metrics, mix};
use crate::data::Sample;
use crate::recipe::{DpoReference, DpoStage, MonitorMetric, Optim, SftStage};

/// The backend's training configuration for a stage's optimiser settings.
pub(crate) fn train_config(o: &Optim) -> TrainConfig {
    TrainConfig {
        lr: o.lr,
        weight_decay: o.weight_decay,
        max_grad_norm: o.max_grad_norm,
        micro_batch: o.micro_batch,
        ..TrainConfig::default()
    }
}

/// Linear warm-up, then cosine decay from `lr` to `lr * min_ratio` at `total`.
pub(crate) fn cosine_lr(step: usize, total: usize, warmup: usize, lr: f64, min_ratio: f64) -> f64 {
    if step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let t = ((step - warmup) as f64 / span).min(1.0);
    let min = lr * min_ratio;
    min + (lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

/// The SFT example of a sample: its image, `prompt` and its program as the completion.
pub(crate) fn example(s: &Sample, prompt: &str) -> Example {
    Example { image: rgb(&s.image), prompt: Some(prompt.to_string()), completion: s.code.clone() }
}

/// Resume point of a training stage: restores policy + optimizer, returns steps done.
pub(crate) fn resume_training(cx: &mut Cx, pol: &mut Policy, ck: &Path, cfg: &TrainConfig) -> Result<usize> {
    let Some((_, dir)) = latest_step_checkpoint(ck) else {
        pol.start_training(cfg.clone());
        return Ok(0);
    };
    let text = std::fs::read_to_string(dir.join("progress.json"))?;
    let pr: Progress =
        serde_json::from_str(&text).with_context(|| format!("parsing {}/progress.json", dir.display()))?;
    *pol = Policy::restore(cx.recipe, &pol.base.clone(), &dir, Some(cfg))?;
    cx.state.global_step = pr.global_step;
    cx.log.say(&format!("resuming from {} (step {})", dir.display(), pr.step));
    Ok(pr.step)
}

/// Save an in-stage checkpoint and drop older ones.
pub(crate) fn save_step_checkpoint(cx: &mut Cx, pol: &mut Policy, ck: &Path, step: usize) -> Result<()> {
    let pr = Progress { plan_index: cx.index, step, global_step: cx.state.global_step };
    let dir = ck.join(format!("step-{step}"));
    pol.save(&dir, Some(&pr))?;
    for e in std::fs::read_dir(ck)?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("step-") && e.path() != dir {
            std::fs::remove_dir_all(e.path()).ok();
        }
    }
    Ok(())
}

/// Whether to write an in-stage checkpoint after `done` of `total` steps: every `every`
/// steps (0: never), and not after the last step (the stage's `final/` follows).
pub(crate) fn want_checkpoint(every: usize, done: usize, total: usize) -> bool {
    every > 0 && done.is_multiple_of(every) && done < total
}

/// Mean NLL per completion token on held-out samples.
fn val_loss(pol: &Policy, val: &[Sample], prompt: &str, per: usize) -> Result<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for chunk in val.chunks(per.max(1)) {
        let ex: Vec<Example> = chunk.iter().map(|s| example(s, prompt)).collect();
        for lp in pol.p.logprobs(&ex, true)? {
            sum -= lp.iter().map(|&x| f64::from(x)).sum::<f64>();
            n += lp.len();
        }
    }
    Ok(sum / n.max(1) as f64)
}

/// The `sft` stage: supervised fine-tuning on (image, program) samples, with optional
/// held-out loss and greedy-evaluation monitoring (best weights, early stopping).
pub(crate) fn sft(
    cx: &mut Cx,
    pol: &mut Policy,
    st: &SftStage,
    train: &Dataset,
    eval: &Dataset,
) -> Result<Metrics> {
    let r = cx.recipe;
    let o = &st.optim;
    let cfg = TrainConfig {
        grad_checkpointing: st.grad_checkpointing,
        vision_lr_scale: st.vision_lr_scale,
        merger_lr_scale: Some(st.merger_lr_scale),
        ..train_config(o)
    };
    let ck = cx.dir.checkpoint_dir(cx.index, "sft");
    let start = resume_training(cx, pol, &ck, &cfg)?;
    let seed = mix(r.run.seed, cx.index as u64);
    let mut stream = Stream::new(train, seed, (start * o.batch_size) as u64)?;
    let val = if st.val_samples > 0 { eval.head(st.val_samples)? } else { vec![] };
    let mut mon = Monitor::open(cx, st, eval, &ck, start)?;
    let bar = cx.log.bar(st.steps as u64, "sft");
    bar.set_position(start as u64);
    let mut last = vec![];
    let mut stopped_early = false;
    let mut last_step = start;
    for step in start..st.steps {
        let lr = cosine_lr(step, st.steps, o.warmup_steps, o.lr, o.min_lr_ratio);
        pol.p.set_lr(lr);
        pol.backend.manual_seed(mix(seed, step as u64));
        let batch: Vec<Example> =
            stream.take(o.batch_size)?.iter().map(|s| example(s, &r.model.prompt)).collect();
        let t0 = Instant::now();
        let s = pol.p.sft_step(&batch)?;
        if !s.loss.is_finite() {
            bail!("sft step {step}: loss is {} (lower the learning rate?)", s.loss);
        }
        cx.state.global_step += 1;
        let g = cx.state.global_step;
        let tps = s.tokens as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        last = vec![
            ("train/loss", s.loss),
            ("train/lr", lr),
            ("train/grad_norm", s.grad_norm),
            ("train/tokens_per_s", tps),
        ];
        cx.log.scalars(g, &last)?;
        let done = step + 1;
        let logged =
            !val.is_empty() && (done == st.steps || (st.eval_every > 0 && done % st.eval_every == 0));
        let monitored = mon.due(done);
        // one validation loss per step, for the log and for monitoring on it alike
        let v = if logged || (monitored && st.monitor_metric == MonitorMetric::ValLoss) {
            Some(val_loss(pol, &val, &r.model.prompt, o.micro_batch)?)
        } else {
            None
        };
        if let (true, Some(v)) = (logged, v) {
            cx.log.scalars(g, &[("eval/val_loss", v)])?;
            last.push(("eval/val_loss", v));
        }
        bar.set_message(format!("loss {:.4}", s.loss));
        bar.inc(1);
        if monitored {
            stopped_early = mon.evaluate(cx, pol, done, v)?;
        }
        if want_checkpoint(r.run.checkpoint_every, done, st.steps) {
            save_step_checkpoint(cx, pol, &ck, done)?;
        }
        cx.log.flush()?;
        cx.maybe_stop()?;
        last_step = done;
        if stopped_early {
            break;
        }
    }
    bar.finish_and_clear();
    let mut out: Metrics = last.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    if let Some(best) = mon.best.clone() {
        out.push(("sft/best_step".into(), best.step as f64));
        out.push((format!("sft/best_{}", st.monitor_metric.name()), best.value));
        out.push(("sft/stopped_early".into(), f64::from(u8::from(stopped_early))));
        if st.keep_best && best.step != last_step {
            cx.log.say(&format!(
                "sft: ending with the best weights (step {}, {} {:.4})",
                best.step,
                st.monitor_metric.name(),
                best.value
            ));
            *pol = Policy::restore(r, &pol.base.clone(), &ck.join("best"), Some(&cfg))?;
        }
    }
    Ok(out)
}

/// The best monitored weights so far (`checkpoints/<i>-sft/best/best.json`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Best {
    step: usize,
    value: f64,
}

/// Whether `value` beats the best so far (a NaN never does).
fn improves(m: MonitorMetric, best: Option<&Best>, value: f64) -> bool {
    match best {
        None => value.is_finite(),
        Some(b) if m.higher_is_better() => value > b.value,
        Some(b) => value < b.value,
    }
}

/// Early stopping: `worse` evaluations in a row without a better value (patience 0: never).
fn patience_ran_out(patience: usize, worse: usize) -> bool {
    patience > 0 && worse >= patience
}

/// SFT monitoring: greedy evaluation on a few held-out samples every `monitor_every`
/// steps, the best weights kept, early stopping after `patience` evaluations without a
/// better value. Resumes from `best/best.json`.
struct Monitor<'a> {
    st: &'a SftStage,
    samples: Vec<Sample>,
    opts: EvalOptions,
    /// Built once (an `occt` executor starts a worker pool); `None` when monitoring is off.
    ex: Option<Box<dyn cadrl_rewards::exec::Executor>>,
    dir: std::path::PathBuf,
    best: Option<Best>,
    /// Evaluations since the best one.
    worse: usize,
}

impl<'a> Monitor<'a> {
    fn open(cx: &Cx, st: &'a SftStage, eval: &Dataset, ck: &Path, start: usize) -> Result<Monitor<'a>> {
        let r = cx.recipe;
        let samples = if st.monitor_every > 0 { eval.head(st.monitor_samples)? } else { vec![] };
        let opts = EvalOptions::for_recipe(r, st.monitor_iou_mode);
        let ex = if samples.is_empty() { None } else { Some(build_executor(r)?) };
        let dir = ck.join("best");
        let best: Option<Best> = match std::fs::read_to_string(dir.join("best.json")) {
            Ok(t) => Some(
                serde_json::from_str(&t).with_context(|| format!("parsing {}/best.json", dir.display()))?,
            ),
            Err(_) => None,
        };
        let worse = match (&best, st.monitor_every) {
            (Some(b), every) if every > 0 => start.saturating_sub(b.step) / every,
            _ => 0,
        };
        Ok(Monitor { st, samples, opts, ex, dir, best, worse })
    }

    fn due(&self, done: usize) -> bool {
        let every = self.st.monitor_every;
        every > 0 && self.ex.is_some() && (done.is_multiple_of(every) || done == self.st.steps)
    }

    /// Evaluate, log, keep the best weights; true when patience has run out.
    fn evaluate(
        &mut self,
        cx: &mut Cx,
        pol: &mut Policy,
        done: usize,
        val_loss: Option<f64>,
    ) -> Result<bool> {
        let ex = self.ex.as_deref().context("monitoring is off")?;
        let (records, rep) = evaluate_report(pol.p.as_ref(), ex, &self.samples, &self.opts, |_| {})?;
        let scalars = report_scalars(&rep);
        let refs: Vec<(&str, f64)> = scalars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        cx.log.scalars(cx.state.global_step, &refs)?;
        log_predictions(cx, &self.samples, &records, &rep, 2, &self.opts.var)?;
        let m = self.st.monitor_metric;
        let value = match m {
            MonitorMetric::IouMean => rep.iou_mean,
            MonitorMetric::ImageGain => rep.image_gain.unwrap_or(f64::NAN),
            MonitorMetric::DistinctRate => rep.distinct_rate,
            MonitorMetric::Vsr => rep.vsr,
            MonitorMetric::ValLoss => val_loss.unwrap_or(f64::NAN),
        };
        let better = improves(m, self.best.as_ref(), value);
        cx.log.say(&format!(
            "sft step {done}: monitor {} {value:.4} (IoU {:.4}, distinct {:.3}, image gain {:.4}){}",
            m.name(),
            rep.iou_mean,
            rep.distinct_rate,
            rep.image_gain.unwrap_or(f64::NAN),
            if better { ", best so far" } else { "" }
        ));
        if better {
            let best = Best { step: done, value };
            let json = serde_json::to_string_pretty(&best)?;
            pol.save_with(&self.dir, None, &[("best.json", json.as_bytes())])?;
            self.best = Some(best);
            self.worse = 0;
        } else {
            self.worse += 1;
        }
        let stop = patience_ran_out(self.st.patience, self.worse);
        if stop {
            cx.log.say(&format!(
                "sft: early stop at step {done}: {} did not improve in {} evaluations",
                m.name(),
                self.worse
            ));
        }
        Ok(stop)
    }
}

/// One preference pair as the sample stage writes it (`pairs.jsonl`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct PairRecord {
    /// The training sample's id.
    pub(crate) id: String,
    /// PNG path relative to the sample stage directory.
    pub(crate) image: String,
    /// The prompt the candidates were sampled with.
    pub(crate) prompt: String,
    /// The preferred program (higher reward).
    pub(crate) chosen: String,
    /// The dispreferred program.
    pub(crate) rejected: String,
    /// The chosen program's total reward.
    pub(crate) r_chosen: f64,
    /// The rejected program's total reward.
    pub(crate) r_rejected: f64,
}

/// The pairs of a sample stage directory (`pairs.jsonl`), each with the backend's
/// preference pair (image path resolved against `stage_dir`).
pub(crate) fn read_pairs(stage_dir: &Path) -> Result<Vec<(PairRecord, PreferencePair)>> {
    let p = stage_dir.join("pairs.jsonl");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let rec: PairRecord =
            serde_json::from_str(line).with_context(|| format!("{}:{}", p.display(), i + 1))?;
        let pp = PreferencePair {
            image: ImageInput::Path(stage_dir.join(&rec.image)),
            prompt: Some(rec.prompt.clone()),
            chosen: rec.chosen.clone(),
            rejected: rec.rejected.clone(),
        };
        out.push((rec, pp));
    }
    Ok(out)
}

/// The `dpo` stage: preference optimisation on the pairs of the sample stage in
/// `sample_dir`, against a reference policy (`reference`), for `epochs` passes.
pub(crate) fn dpo(cx: &mut Cx, pol: &mut Policy, st: &DpoStage, sample_dir: &Path) -> Result<Metrics> {
    let r = cx.recipe;
    let loss = DpoLoss {
        kind: st.loss,
        beta: st.beta,
        label_smoothing: st.label_smoothing,
        nll_weight: st.nll_weight,
    };
    let pairs: Vec<PreferencePair> = read_pairs(sample_dir)?.into_iter().map(|(_, p)| p).collect();
    if pairs.is_empty() {
        cx.log.say("dpo: the sample stage built no pairs; nothing to train");
        return Ok(vec![("dpo/pairs".into(), 0.0)]);
    }
    let o = &st.optim;
    let cfg = TrainConfig {
        vision_lr_scale: st.vision_lr_scale,
        merger_lr_scale: Some(st.merger_lr_scale),
        ..train_config(o)
    };
    let ck = cx.dir.checkpoint_dir(cx.index, "dpo");
    let out = cx.dir.stage_dir(cx.index, "dpo");
    // The reference (the policy as this stage starts, or the base with adapters off):
    // its log-probs, computed once and cached in the stage directory.
    let ref_path = out.join("ref_logps.json");
    let refs: Vec<(f64, f64)> = if ref_path.is_file() {
        serde_json::from_str(&std::fs::read_to_string(&ref_path)?)
            .with_context(|| format!("parsing {}", ref_path.display()))?
    } else {
        if latest_step_checkpoint(&ck).is_some() {
            bail!(
                "{} is missing but the stage has checkpoints: the cached reference is lost",
                ref_path.display()
            );
        }
        let bar = cx.log.bar(1, "reference");
        let v = pol.p.pair_logprobs(&pairs, st.reference == DpoReference::Start)?;
        bar.finish_and_clear();
        write_atomic(&ref_path, serde_json::to_string(&v)?.as_bytes())?;
        v
    };
    if refs.len() != pairs.len() {
        bail!("{}: {} reference log-probs for {} pairs", ref_path.display(), refs.len(), pairs.len());
    }
    let start = resume_training(cx, pol, &ck, &cfg)?;
    let per_epoch = pairs.len().div_ceil(o.batch_size);
    let total = per_epoch * st.epochs;
    let seed = mix(r.run.seed, cx.index as u64);
    let bar = cx.log.bar(total as u64, "dpo");
    bar.set_position(start as u64);
    let mut last = vec![];
    for step in start..total {
        let (epoch, b) = (step / per_epoch, step % per_epoch);
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(seed, epoch as u64)));
        let idx = &order[b * o.batch_size..((b + 1) * o.batch_size).min(pairs.len())];
        let batch: Vec<PreferencePair> = idx.iter().map(|&i| pairs[i].clone()).collect();
        let brefs: Vec<(f64, f64)> = idx.iter().map(|&i| refs[i]).collect();
        let lr = cosine_lr(step, total, o.warmup_steps, o.lr, o.min_lr_ratio);
        pol.p.set_lr(lr);
        pol.backend.manual_seed(mix(seed, step as u64));
        let s = pol.p.dpo_step(&batch, Some(&brefs), &loss)?;
        if !s.loss.is_finite() {
            bail!("dpo step {step}: loss is {}", s.loss);
        }
        cx.state.global_step += 1;
        last = vec![
            ("train/loss", s.loss),
            ("train/lr", lr),
            ("train/grad_norm", s.grad_norm),
            ("rewards/chosen", s.rewards_chosen),
            ("rewards/rejected", s.rewards_rejected),
            ("rewards/margins", s.rewards_margins),
            ("rewards/accuracies", s.rewards_accuracies),
            ("logps/chosen", s.logps_chosen),
            ("logps/rejected", s.logps_rejected),
        ];
        cx.log.scalars(cx.state.global_step, &last)?;
        bar.set_message(format!("loss {:.4} acc {:.2}", s.loss, s.rewards_accuracies));
        bar.inc(1);
        if want_checkpoint(r.run.checkpoint_every, step + 1, total) {
            save_step_checkpoint(cx, pol, &ck, step + 1)?;
        }
        cx.log.flush()?;
        cx.maybe_stop()?;
    }
    bar.finish_and_clear();
    Ok(last.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_value_depends_on_the_metric_direction() {
        let b = Best { step: 10, value: 0.5 };
        assert!(improves(MonitorMetric::IouMean, None, 0.0));
        assert!(!improves(MonitorMetric::IouMean, None, f64::NAN), "a NaN is never best");
        assert!(improves(MonitorMetric::IouMean, Some(&b), 0.6));
        assert!(!improves(MonitorMetric::IouMean, Some(&b), 0.5), "a tie is not better");
        assert!(!improves(MonitorMetric::ImageGain, Some(&b), f64::NAN));
        assert!(improves(MonitorMetric::ValLoss, Some(&b), 0.4));
        assert!(!improves(MonitorMetric::ValLoss, Some(&b), 0.6));
    }

    #[test]
    fn patience_counts_evaluations_without_improvement() {
        assert!(!patience_ran_out(0, 100), "patience 0 never stops");
        assert!(!patience_ran_out(3, 2));
        assert!(patience_ran_out(3, 3));
    }

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!((cosine_lr(0, 100, 10, 1.0, 0.0) - 0.1).abs() < 1e-12);
        assert!((cosine_lr(9, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!((cosine_lr(10, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!((cosine_lr(100, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
        assert!((cosine_lr(55, 100, 10, 1.0, 0.0) - 0.5).abs() < 1e-12);
    }
}
