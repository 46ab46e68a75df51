//! The `rl` stage: online RL of the GRPO family with the recipe's rewards.
//!
//! Each step, top to bottom: take `images` training images; sample `num_generations`
//! programs for each (one encoded prompt per image, the G continuations decoded as one
//! batch with a KV cache); execute and score them (the recipe's `[executor]`, in parallel);
//! turn rewards into advantages relative to each image's group (TRL's `scale_rewards`);
//! keep the `top_n` completions with the largest |advantage| per image (CPPO); score the
//! kept completions under the current weights (the old log-probs, when there are several
//! iterations) and the reference (when β is not zero); then `num_iterations` updates with
//! the loss ([`cadrl_backend::GrpoLoss`], TRL's definitions). Logs TRL's metric names
//! plus `sample/valid_rate` and the seconds of each phase (`time/*`).
//!
//! A killed stage resumes from its newest in-stage checkpoint with the same images,
//! samples, dropout masks and learning rates as an uninterrupted run: every random choice
//! is seeded by step. With β > 0 and `reference = "start"` the stage's starting weights
//! are kept in `reference.safetensors` of the stage directory for the resumed run.

use std::time::Instant;

use anyhow::{Result, bail};
use cadrl_backend::{GenerateOptions, GrpoLoss, Rollout, TrainConfig, Weights};

use super::data::{Dataset, Stream};
use super::policy::Policy;
use super::policy::rgb;
use super::rundir::latest_step_checkpoint;
use super::score::{Scorer, execute_all};
use super::train::{cosine_lr, resume_training, save_step_checkpoint, want_checkpoint};
use super::{Cx, Metrics, mix};
use crate::recipe::{DpoReference, RlStage, ScaleRewards};
use cadrl_rewards::exec::execute_native;

/// Advantages of `rewards[image][completion]` relative to each image's group, as TRL
/// computes them: minus the group mean, then divided by the group's (or the batch's)
/// standard deviation (Bessel-corrected) plus 1e-4, unless `none`. Also the share of
/// completions whose scaling std is zero (`frac_reward_zero_std`).
pub(crate) fn advantages(rewards: &[Vec<f64>], scale: ScaleRewards) -> (Vec<Vec<f64>>, f64) {
    let std = |v: &[f64]| {
        let n = v.len() as f64;
        if v.len() < 2 {
            return 0.0;
        }
        let m = v.iter().sum::<f64>() / n;
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    let all: Vec<f64> = rewards.iter().flatten().copied().collect();
    let batch_std = std(&all);
    let (mut zero, mut n) = (0usize, 0usize);
    let adv = rewards
        .iter()
        .map(|g| {
            let mean = g.iter().sum::<f64>() / g.len().max(1) as f64;
            let s = if scale == ScaleRewards::Batch { batch_std } else { std(g) };
            n += g.len();
            if s.abs() <= 1e-8 {
                zero += g.len();
            }
            g.iter()
                .map(|r| if scale == ScaleRewards::None { r - mean } else { (r - mean) / (s + 1e-4) })
                .collect()
        })
        .collect();
    (adv, zero as f64 / n.max(1) as f64)
}

/// Indices of the `top_n` entries with the largest |advantage| (all when 0), in order.
pub(crate) fn top_by_magnitude(adv: &[f64], top_n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..adv.len()).collect();
    if top_n == 0 || top_n >= adv.len() {
        return idx;
    }
    idx.sort_by(|&a, &b| adv[b].abs().total_cmp(&adv[a].abs()).then(a.cmp(&b)));
    idx.truncate(top_n);
    idx.sort_unstable();
    idx
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (m, var.sqrt())
}

pub(crate) fn rl(cx: &mut Cx, pol: &mut Policy, st: &RlStage, train: &Dataset) -> Result<Metrics> {
    let r = cx.recipe;
    let scorer = Scorer::new(&r.reward)?;
    let executor = super::eval::build_executor(r)?;
    let var = r.executor.var.as_str();
    let g = &r.generation;
    let loss = GrpoLoss {
        loss_type: st.loss_type,
        epsilon_low: st.epsilon,
        epsilon_high: st.epsilon_high,
        beta: st.beta,
        temperature: if g.temperature > 0.0 { g.temperature } else { 1.0 },
        max_completion_length: g.max_new_tokens,
    };
    loss.validate()?;
    let cfg = TrainConfig {
        lr: st.lr,
        weight_decay: st.weight_decay,
        max_grad_norm: st.max_grad_norm,
        micro_batch: st.micro_batch,
        ..TrainConfig::default()
    };
    let ck = cx.dir.checkpoint_dir(cx.index, "rl");
    let out = cx.dir.stage_dir(cx.index, "rl");
    std::fs::create_dir_all(&out)?;
    let start = resume_training(cx, pol, &ck, &cfg)?;
    let reference = match (st.beta > 0.0, st.reference) {
        (false, _) => None,
        (true, DpoReference::Base) => Some(Weights::AdaptersOff),
        (true, DpoReference::Start) => {
            let path = out.join("reference.safetensors");
            if path.is_file() {
                pol.p.load_snapshot(&path)?;
            } else if latest_step_checkpoint(&ck).is_some() {
                bail!("{} is missing but the stage has checkpoints: the reference is lost", path.display());
            } else {
                pol.p.snapshot()?;
                pol.p.save_snapshot(&path)?;
            }
            Some(Weights::Snapshot)
        }
    };
    let seed = mix(r.run.seed, cx.index as u64);
    let mut stream = Stream::new(train, seed, (start * st.images) as u64)?;
    let total_updates = st.steps * st.num_iterations;
    let bar = cx.log.bar(st.steps as u64, "rl");
    bar.set_position(start as u64);
    let mut last: Vec<(String, f64)> = vec![];
    for step in start..st.steps {
        let samples = stream.take(st.images)?;
        let imgs: Vec<_> = samples.iter().map(|s| rgb(&s.image)).collect();
        let opts = GenerateOptions {
            prompt: Some(r.model.prompt.clone()),
            n: st.num_generations,
            temperature: g.temperature,
            top_p: g.top_p,
            top_k: g.top_k,
            max_new_tokens: g.max_new_tokens,
            seed: mix(seed, 0x51 + step as u64),
        };
        // 1. sample
        let t = Instant::now();
        let gens = pol.p.generate(&imgs, &opts)?;
        let t_generate = t.elapsed().as_secs_f64();
        // 2. score (the references are executed too; a broken one drops its image)
        let t = Instant::now();
        let (mut rewards, mut kept, mut parts) = (vec![], vec![], vec![vec![]; scorer.names.len()]);
        let (mut valid, mut bad_refs, mut best_text) = (0usize, 0usize, None);
        for (i, (s, cands)) in samples.iter().zip(&gens).enumerate() {
            let reference = execute_native(&s.code, var);
            let Some(rsolid) = reference.solid() else {
                bad_refs += 1;
                continue;
            };
            let texts: Vec<String> = cands.iter().map(|c| c.text.clone()).collect();
            let outcomes = execute_all(executor.as_ref(), &texts, var)?;
            let scores = scorer.score(&texts, &outcomes, rsolid);
            valid += outcomes.iter().filter(|o| o.is_valid()).count();
            for sc in &scores {
                for (k, (_, v)) in sc.parts.iter().enumerate() {
                    if let Some(p) = parts.get_mut(k) {
                        p.push(*v);
                    }
                }
            }
            if best_text.is_none() {
                let b = scores.iter().enumerate().max_by(|a, b| a.1.value.total_cmp(&b.1.value));
                best_text = b.map(|(k, sc)| (s.id.clone(), sc.value, texts[k].clone()));
            }
            rewards.push(scores.iter().map(|sc| sc.value).collect::<Vec<f64>>());
            kept.push(i);
        }
        let t_score = t.elapsed().as_secs_f64();
        if kept.is_empty() {
            bail!("rl step {step}: no image of the batch has a reference program that executes");
        }
        // 3. advantages, CPPO selection, rollouts
        let (adv, frac_zero_std) = advantages(&rewards, st.scale_rewards);
        let mut rollouts = vec![];
        for (gi, &i) in kept.iter().enumerate() {
            for k in top_by_magnitude(&adv[gi], st.top_n) {
                let c = &gens[i][k];
                if c.token_ids.is_empty() {
                    continue;
                }
                rollouts.push(Rollout {
                    image: imgs[i].clone(),
                    prompt: Some(r.model.prompt.clone()),
                    completion_ids: c.token_ids.clone(),
                    advantage: adv[gi][k],
                    in_loss: !st.mask_truncated_completions || c.finished,
                    old_logprobs: None,
                    ref_logprobs: None,
                });
            }
        }
        // 4. old and reference log-probs
        let t = Instant::now();
        if st.num_iterations > 1 {
            let old = pol.p.rollout_logprobs(&rollouts, Weights::Current, loss.temperature)?;
            for (ro, lp) in rollouts.iter_mut().zip(old) {
                ro.old_logprobs = Some(lp);
            }
        }
        let t_old = t.elapsed().as_secs_f64();
        let t = Instant::now();
        if let Some(w) = reference {
            let refs = pol.p.rollout_logprobs(&rollouts, w, loss.temperature)?;
            for (ro, lp) in rollouts.iter_mut().zip(refs) {
                ro.ref_logprobs = Some(lp);
            }
        }
        let t_ref = t.elapsed().as_secs_f64();
        // 5. updates
        let t = Instant::now();
        let mut upd = vec![];
        for it in 0..st.num_iterations {
            let u = step * st.num_iterations + it;
            let lr = cosine_lr(u, total_updates, st.warmup_steps, st.lr, st.min_lr_ratio);
            pol.p.set_lr(lr);
            pol.backend.manual_seed(mix(seed, u as u64));
            let s = pol.p.grpo_step(&rollouts, &loss)?;
            if !s.loss.is_finite() {
                bail!("rl step {step} update {it}: loss is {}", s.loss);
            }
            cx.state.global_step += 1;
            upd = vec![
                ("train/loss", s.loss),
                ("train/grad_norm", s.grad_norm),
                ("train/lr", lr),
                ("entropy", s.entropy),
                ("clip_ratio/low_mean", s.clip_low),
                ("clip_ratio/high_mean", s.clip_high),
                ("clip_ratio/region_mean", s.clip_region),
            ];
            if st.beta > 0.0 {
                upd.push(("kl", s.kl));
            }
            cx.log.scalars(cx.state.global_step, &upd)?;
        }
        let t_update = t.elapsed().as_secs_f64();
        // 6. the step's metrics
        let all: Vec<f64> = rewards.iter().flatten().copied().collect();
        let (reward, reward_std) = mean_std(&all);
        let lens: Vec<f64> =
            kept.iter().flat_map(|&i| gens[i].iter().map(|c| c.token_ids.len() as f64)).collect();
        let truncated = kept.iter().flat_map(|&i| gens[i].iter()).filter(|c| !c.finished).count();
        let mut m: Vec<(String, f64)> = vec![
            ("reward".into(), reward),
            ("reward_std".into(), reward_std),
            ("frac_reward_zero_std".into(), frac_zero_std),
            ("completions/mean_length".into(), mean_std(&lens).0),
            ("completions/min_length".into(), lens.iter().copied().fold(f64::INFINITY, f64::min)),
            ("completions/max_length".into(), lens.iter().copied().fold(0.0, f64::max)),
            ("completions/clipped_ratio".into(), truncated as f64 / lens.len().max(1) as f64),
            ("sample/valid_rate".into(), valid as f64 / lens.len().max(1) as f64),
            ("sample/bad_references".into(), bad_refs as f64),
            ("rl/rollouts".into(), rollouts.len() as f64),
            ("time/generate_s".into(), t_generate),
            ("time/score_s".into(), t_score),
            ("time/old_logprobs_s".into(), t_old),
            ("time/ref_logprobs_s".into(), t_ref),
            ("time/update_s".into(), t_update),
        ];
        for (name, v) in scorer.names.iter().zip(&parts) {
            let (pm, ps) = mean_std(v);
            m.push((format!("rewards/{name}/mean"), pm));
            m.push((format!("rewards/{name}/std"), ps));
        }
        let gs = cx.state.global_step;
        let refs: Vec<(&str, f64)> = m.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        cx.log.scalars(gs, &refs)?;
        if st.log_every > 0
            && (step % st.log_every == 0 || step + 1 == st.steps)
            && let Some((id, value, text)) = &best_text
        {
            cx.log.text(
                "rl/programs",
                gs,
                &format!("**{id}** step {step}, best reward {value:.3}\n\n```python\n{text}\n```\n"),
            )?;
        }
        bar.set_message(format!("reward {reward:.3}"));
        bar.inc(1);
        if want_checkpoint(r.run.checkpoint_every, step + 1, st.steps) {
            save_step_checkpoint(cx, pol, &ck, step + 1)?;
        }
        cx.log.flush()?;
        last = m.into_iter().chain(upd.into_iter().map(|(k, v)| (k.to_string(), v))).collect();
        cx.maybe_stop()?;
    }
    bar.finish_and_clear();
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_advantages_are_standardised_within_each_image() {
        let (a, zero) = advantages(&[vec![1.0, 0.0, 0.5], vec![0.2, 0.2, 0.2]], ScaleRewards::Group);
        // group 1: mean 0.5, Bessel std 0.5
        assert!((a[0][0] - 0.5 / 0.5001).abs() < 1e-12 && (a[0][2]).abs() < 1e-12);
        // equal rewards: 0 up to rounding of the mean (0.2 * 3 / 3 is not 0.2 in f64)
        assert!(a[1].iter().all(|&x| x.abs() < 1e-9));
        assert!((zero - 0.5).abs() < 1e-12);
    }

    #[test]
    fn batch_and_none_scaling() {
        let r = [vec![1.0, 0.0], vec![3.0, 2.0]];
        let (n, _) = advantages(&r, ScaleRewards::None);
        assert_eq!(n, vec![vec![0.5, -0.5], vec![0.5, -0.5]]);
        let (b, _) = advantages(&r, ScaleRewards::Batch);
        let s =
            (((1.5f64 - 1.0).powi(2) * 2.0 + (1.5f64 - 0.0).powi(2) + (1.5f64 - 3.0).powi(2)) / 3.0).sqrt();
        assert!((b[0][0] - 0.5 / (s + 1e-4)).abs() < 1e-12);
    }

    #[test]
    fn top_n_keeps_the_largest_magnitudes_in_order() {
        assert_eq!(top_by_magnitude(&[0.1, -2.0, 0.5, 1.5], 2), vec![1, 3]);
        assert_eq!(top_by_magnitude(&[0.1, -2.0], 0), vec![0, 1]);
        assert_eq!(top_by_magnitude(&[0.1, -2.0], 5), vec![0, 1]);
    }
}
