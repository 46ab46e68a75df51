//! The GRPO family of online RL losses (`grpo`, `bnpo`, `dr_grpo`, `dapo`) with TRL's
//! definitions (see [`cadrl_backend::GrpoLoss`] for the formulas), on flat per-token
//! tensors, and the policy's RL entry points: log-probs of sampled token ids under the
//! current, adapters-off or snapshot weights, and one update on a step's rollouts.
use anyhow::{Context, Result, bail};
use std::path::Path;
use tch::{Device, Kind, Tensor};

use crate::nn::Ctx;
use crate::policy::{QwenVlPolicy, Scored};
use crate::train::{Head, Targets};
pub use cadrl_backend::{GrpoLoss, GrpoLossType, GrpoStats, Rollout, Weights};

/// One micro-batch of completion tokens, flattened: token `i` belongs to completion
/// `seq[i]` (of `n_seqs`).
pub struct TokenBatch {
    /// Sampling-time log-probs (`None`: the current ones, detached).
    pub old: Option<Tensor>,
    /// Reference log-probs (needed when β > 0).
    pub reference: Option<Tensor>,
    /// The completion's advantage at each token.
    pub advantage: Tensor,
    /// 1 for tokens in the loss, 0 for masked ones (truncated completions).
    pub mask: Tensor,
    /// Completion index of each token.
    pub seq: Tensor,
    /// Completions in the micro-batch.
    pub n_seqs: i64,
}

/// How the micro-batch's loss is scaled into the step's (TRL's gradient accumulation).
#[derive(Debug, Clone, Copy)]
pub struct StepScale {
    /// Micro-batches in the step.
    pub micro_batches: usize,
    /// Loss tokens of the whole step (the `dapo` denominator).
    pub step_tokens: f64,
}

/// Sums over the micro-batch's loss tokens, for the step's token means.
#[derive(Debug, Default, Clone, Copy)]
pub struct LossSums {
    /// Loss tokens (those with mask 1).
    pub tokens: f64,
    /// Per-token KL to the reference, `exp(ref - lp) - (ref - lp) - 1` (0 when β = 0).
    pub kl: f64,
    /// Tokens with ratio below `1 - epsilon_low` and a negative advantage.
    pub clip_low: f64,
    /// Tokens with ratio above `1 + epsilon_high` and a positive advantage.
    pub clip_high: f64,
    /// Tokens in either clipped region.
    pub clip_region: f64,
}

/// The micro-batch's share of the step loss from per-token log-probs `lp` (with grad),
/// and its metric sums (detached).
pub fn loss_tensor(loss: &GrpoLoss, lp: &Tensor, b: &TokenBatch, scale: StepScale) -> (Tensor, LossSums) {
    let old = b.old.as_ref().map_or_else(|| lp.detach(), |o| o.shallow_clone());
    let coef_1 = (lp - &old).exp();
    let coef_2 = coef_1.clamp(1.0 - loss.epsilon_low, 1.0 + loss.epsilon_high);
    let a = &b.advantage;
    let mut per_token = (&coef_1 * a).minimum(&(&coef_2 * a)).neg();
    let kl = if loss.beta != 0.0 {
        let r = b.reference.as_ref().expect("reference log-probs when beta > 0");
        let d = r - lp;
        let kl = d.exp() - &d - 1.0;
        per_token += &kl * loss.beta;
        Some(kl)
    } else {
        None
    };
    let m = &b.mask;
    let masked = &per_token * m;
    let n_micro = scale.micro_batches as f64;
    let total = match loss.loss_type {
        GrpoLossType::Grpo => {
            let z = || Tensor::zeros([b.n_seqs], (Kind::Float, lp.device()));
            let sums = z().index_add(0, &b.seq, &masked);
            let counts = z().index_add(0, &b.seq, m).clamp_min(1.0);
            (sums / counts).mean(Kind::Float) / n_micro
        }
        GrpoLossType::Bnpo => masked.sum(Kind::Float) / m.sum(Kind::Float).clamp_min(1.0) / n_micro,
        GrpoLossType::DrGrpo => {
            masked.sum(Kind::Float) / (b.n_seqs as f64 * loss.max_completion_length as f64) / n_micro
        }
        GrpoLossType::Dapo => masked.sum(Kind::Float) / scale.step_tokens.max(1.0),
    };
    let sums = tch::no_grad(|| {
        let s = |t: &Tensor| f64::try_from((t * m).sum(Kind::Float)).unwrap_or(f64::NAN);
        let low = (coef_1.lt(1.0 - loss.epsilon_low)).logical_and(&a.lt(0.0)).to_kind(Kind::Float);
        let high = (coef_1.gt(1.0 + loss.epsilon_high)).logical_and(&a.gt(0.0)).to_kind(Kind::Float);
        let region = low.logical_or(&high).to_kind(Kind::Float);
        LossSums {
            tokens: s(&Tensor::ones_like(m)),
            kl: kl.as_ref().map_or(0.0, s),
            clip_low: s(&low),
            clip_high: s(&high),
            clip_region: s(&region),
        }
    });
    (total, sums)
}

impl QwenVlPolicy {
    /// The tensors a snapshot keeps: the adapters (LoRA) or every base weight (full).
    fn trained_tensors(&mut self) -> Vec<Tensor> {
        if self.is_full_finetune() {
            let mut v = self.model.text.base_tensors();
            v.extend(self.model.vision.base_tensors());
            v
        } else {
            crate::lora::params(&mut self.model)
        }
    }

    /// Keep a copy of the trained weights as they are now ([`Weights::Snapshot`]).
    pub(crate) fn snapshot(&mut self) -> Result<()> {
        let w = self.trained_tensors();
        if w.is_empty() {
            bail!("snapshot: nothing trained to copy (no adapters and no full fine-tuning)");
        }
        self.snapshot = Some(tch::no_grad(|| w.iter().map(|t| t.detach().copy()).collect()));
        Ok(())
    }

    /// Write the snapshot (safetensors), so that a resumed stage has the same reference.
    pub(crate) fn save_snapshot(&self, path: &Path) -> Result<()> {
        let s = self.snapshot.as_ref().context("save_snapshot: no snapshot taken")?;
        let named: Vec<(String, &Tensor)> = s.iter().enumerate().map(|(i, t)| (format!("w{i}"), t)).collect();
        let tmp = path.with_extension("tmp");
        Tensor::write_safetensors(&named, &tmp).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
    }

    /// Read what [`Self::save_snapshot`] wrote.
    pub(crate) fn load_snapshot(&mut self, path: &Path) -> Result<()> {
        let w = self.trained_tensors();
        let loaded = Tensor::read_safetensors(path).with_context(|| format!("reading {}", path.display()))?;
        let by: std::collections::HashMap<String, Tensor> = loaded.into_iter().collect();
        let mut out = Vec::with_capacity(w.len());
        for (i, t) in w.iter().enumerate() {
            let s =
                by.get(&format!("w{i}")).with_context(|| format!("{}: no tensor w{i}", path.display()))?;
            if s.size() != t.size() {
                bail!("{}: w{i} has shape {:?}, the model {:?}", path.display(), s.size(), t.size());
            }
            out.push(s.to_device(t.device()).to_kind(t.kind()));
        }
        if by.len() != w.len() {
            bail!("{}: {} tensors for {} trained ones", path.display(), by.len(), w.len());
        }
        self.snapshot = Some(out);
        Ok(())
    }

    /// Swap the trained weights with the snapshot (twice restores them).
    fn swap_snapshot(&mut self) -> Result<()> {
        let w = self.trained_tensors();
        let snap = self.snapshot.take().context("no snapshot taken (the reference `start`)")?;
        let back = tch::no_grad(|| {
            w.iter()
                .zip(&snap)
                .map(|(t, s)| {
                    let old = t.detach().copy();
                    t.detach().copy_(s);
                    old
                })
                .collect::<Vec<_>>()
        });
        self.snapshot = Some(back);
        Ok(())
    }

    fn scored<'a>(rollouts: &'a [Rollout]) -> Vec<Scored<'a>> {
        rollouts
            .iter()
            .map(|r| Scored {
                image: &r.image,
                prompt: r.prompt.as_deref(),
                completion: r.completion_ids.iter().map(|&x| i64::from(x)).collect(),
            })
            .collect()
    }

    /// Per-token log-probs of each rollout's sampled ids under `weights`, of
    /// `logits / temperature`, without gradients (micro-batches of `train_cfg.micro_batch`).
    pub(crate) fn rollout_logprobs(
        &mut self,
        rollouts: &[Rollout],
        weights: Weights,
        temperature: f64,
    ) -> Result<Vec<Vec<f32>>> {
        if weights == Weights::AdaptersOff && self.lora.is_none() {
            bail!("log-probs with the adapters off need LoRA (the reference `base`)");
        }
        if weights == Weights::Snapshot {
            self.swap_snapshot()?;
        }
        let ctx = Ctx { lora_on: weights != Weights::AdaptersOff, train: false };
        let per = self.chunks(rollouts.len()).max(1);
        let res = (|| {
            let mut out = Vec::with_capacity(rollouts.len());
            for chunk in rollouts.chunks(per) {
                let items = Self::scored(chunk);
                tch::no_grad(|| -> Result<()> {
                    let (batch, t, feats) = self.prepare_ids(&items, &ctx, false)?;
                    let h = self.model.hidden(&batch, Some(&feats), &ctx)?;
                    let (lp, _) = self.model.score_tokens(&h, &t.rows, &t.cols, &t.ids, temperature, false);
                    let flat = Vec::<f32>::try_from(lp.to_device(Device::Cpu))?;
                    split(&flat, &t.counts, &mut out);
                    Ok(())
                })?;
            }
            Ok(out)
        })();
        if weights == Weights::Snapshot {
            self.swap_snapshot()?;
        }
        res
    }

    /// One GRPO-family update on a step's rollouts: micro-batches of
    /// `train_cfg.micro_batch` accumulate gradients, then one clipped AdamW update.
    pub(crate) fn grpo_step(&mut self, rollouts: &[Rollout], loss: &GrpoLoss) -> Result<GrpoStats> {
        if rollouts.is_empty() {
            bail!("grpo_step: empty batch");
        }
        loss.validate()?;
        for (i, r) in rollouts.iter().enumerate() {
            let n = r.completion_ids.len();
            if n == 0 {
                bail!("grpo_step: rollout {i} has no tokens");
            }
            if r.old_logprobs.as_ref().is_some_and(|v| v.len() != n) {
                bail!(
                    "grpo_step: rollout {i}: old log-probs for {} of {n} tokens",
                    r.old_logprobs.as_ref().map_or(0, Vec::len)
                );
            }
            match &r.ref_logprobs {
                None if loss.beta != 0.0 => {
                    bail!("grpo_step: rollout {i} has no reference log-probs and beta > 0")
                }
                Some(v) if v.len() != n => {
                    bail!("grpo_step: rollout {i}: reference log-probs for {} of {n} tokens", v.len())
                }
                _ => {}
            }
        }
        let with_old = rollouts.iter().filter(|r| r.old_logprobs.is_some()).count();
        if with_old != 0 && with_old != rollouts.len() {
            bail!("grpo_step: old log-probs for {with_old} of {} rollouts (all or none)", rollouts.len());
        }
        self.ensure_optimizer()?;
        let device = self.model.device;
        let per = self.chunks(rollouts.len()).max(1);
        let step_tokens: usize = rollouts.iter().filter(|r| r.in_loss).map(|r| r.completion_ids.len()).sum();
        let scale =
            StepScale { micro_batches: rollouts.len().div_ceil(per), step_tokens: step_tokens as f64 };
        let head = Head { temperature: loss.temperature, entropy: true };
        let ctx = Ctx { lora_on: true, train: true };
        let (mut total, mut sums, mut ent_sum) = (0.0, LossSums::default(), 0.0);
        for chunk in rollouts.chunks(per) {
            let items = Self::scored(chunk);
            let (batch, targets, feats) = self.prepare_ids(&items, &ctx, self.vision_grad())?;
            let tb = token_batch(chunk, &targets, device);
            let part = std::cell::Cell::new(LossSums::default());
            let loss_fn = |lp: &Tensor, _: &Targets| {
                let (l, s) = loss_tensor(loss, lp, &tb, scale);
                part.set(s);
                l
            };
            let (l, _, ent) = self.backward_prepared(&batch, &targets, &feats, head, &loss_fn)?;
            total += l;
            let s = part.get();
            sums.tokens += s.tokens;
            sums.kl += s.kl;
            sums.clip_low += s.clip_low;
            sums.clip_high += s.clip_high;
            sums.clip_region += s.clip_region;
            if let Some(e) = ent {
                let mut o = 0;
                for (r, &c) in chunk.iter().zip(&targets.counts) {
                    if r.in_loss {
                        ent_sum += e[o..o + c].iter().map(|&x| f64::from(x)).sum::<f64>();
                    }
                    o += c;
                }
            }
        }
        let grad_norm = self.update()?;
        let n = sums.tokens.max(1.0);
        Ok(GrpoStats {
            loss: total,
            grad_norm,
            lr: self.train_cfg.lr,
            tokens: sums.tokens as usize,
            kl: sums.kl / n,
            entropy: ent_sum / n,
            clip_low: sums.clip_low / n,
            clip_high: sums.clip_high / n,
            clip_region: sums.clip_region / n,
        })
    }
}

/// The flat token tensors of a micro-batch of rollouts (in the order of `targets`).
fn token_batch(chunk: &[Rollout], targets: &Targets, device: Device) -> TokenBatch {
    let (mut seq, mut adv, mut mask, mut old, mut refs) = (vec![], vec![], vec![], vec![], vec![]);
    for (i, (r, &c)) in chunk.iter().zip(&targets.counts).enumerate() {
        seq.extend(std::iter::repeat_n(i as i64, c));
        adv.extend(std::iter::repeat_n(r.advantage as f32, c));
        mask.extend(std::iter::repeat_n(if r.in_loss { 1f32 } else { 0.0 }, c));
        if let Some(o) = &r.old_logprobs {
            old.extend_from_slice(o);
        }
        if let Some(x) = &r.ref_logprobs {
            refs.extend_from_slice(x);
        }
    }
    let t = |v: &[f32]| Tensor::from_slice(v).to_device(device);
    let all = |pick: fn(&Rollout) -> bool| chunk.iter().all(pick);
    TokenBatch {
        old: all(|r| r.old_logprobs.is_some()).then(|| t(&old)),
        reference: all(|r| r.ref_logprobs.is_some()).then(|| t(&refs)),
        advantage: t(&adv),
        mask: t(&mask),
        seq: Tensor::from_slice(&seq).to_device(device),
        n_seqs: chunk.len() as i64,
    }
}

fn split(flat: &[f32], counts: &[usize], out: &mut Vec<Vec<f32>>) {
    let mut off = 0;
    for &c in counts {
        out.push(flat[off..off + c].to_vec());
        off += c;
    }
}
