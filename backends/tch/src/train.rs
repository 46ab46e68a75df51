//! Training machinery: AdamW over a list of tensors (LoRA adapters or, for full fine-tuning,
//! the base weights) with per-tensor learning-rate multipliers and global-norm gradient
//! clipping; where the loss tokens sit in a batch ([`Targets`]); and the forward + backward
//! of a loss on per-token log-probs, optionally with gradient checkpointing of decoder
//! blocks by recomputation: a no-grad forward keeps only block inputs, then blocks are re-run
//! one at a time with grad in reverse order, back-propagating `sum(out * grad_out)`. The
//! losses themselves are the callers' (`policy`: SFT's mean NLL; [`crate::loss`]).
use crate::model::{Batch, QwenVl};
use crate::nn::Ctx;
use crate::text::causal_mask;
use anyhow::{Result, bail};
use tch::{Device, Kind, Tensor};

pub use cadrl_backend::TrainConfig;

/// AdamW (decoupled weight decay, bias-corrected moments), states in f32.
#[derive(Debug)]
pub(crate) struct AdamW {
    /// The trained tensors.
    params: Vec<Tensor>,
    /// First moments (f32), one per parameter.
    m: Vec<Tensor>,
    /// Second moments (f32), one per parameter.
    v: Vec<Tensor>,
    /// Per-parameter learning-rate multipliers (1 unless set by [`AdamW::with_lr_scales`]).
    lr_scales: Vec<f64>,
    /// Updates applied so far (for bias correction).
    step: i64,
}

impl AdamW {
    /// AdamW over `params` with zero moments and every learning-rate multiplier 1.
    fn new(params: Vec<Tensor>) -> Self {
        let m = params.iter().map(|p| Tensor::zeros_like(p).to_kind(Kind::Float)).collect();
        let v = params.iter().map(|p| Tensor::zeros_like(p).to_kind(Kind::Float)).collect();
        let lr_scales = vec![1.0; params.len()];
        Self { params, m, v, lr_scales, step: 0 }
    }

    /// Like [`AdamW::new`], with a learning-rate multiplier per parameter (0 = frozen).
    pub(crate) fn with_lr_scales(params: Vec<Tensor>, lr_scales: Vec<f64>) -> Result<Self> {
        if lr_scales.len() != params.len() {
            bail!("{} learning-rate scales for {} parameters", lr_scales.len(), params.len());
        }
        let mut o = Self::new(params);
        o.lr_scales = lr_scales;
        Ok(o)
    }

    /// Moments and step count, for checkpoints (`m.<i>`, `v.<i>`, `step`).
    pub(crate) fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("step".to_string(), Tensor::from_slice(&[self.step]))];
        for (i, (m, s)) in self.m.iter().zip(&self.v).enumerate() {
            v.push((format!("m.{i}"), m.shallow_clone()));
            v.push((format!("v.{i}"), s.shallow_clone()));
        }
        v
    }

    /// Restores [`AdamW::state_tensors`]; the parameter list must be the same.
    pub(crate) fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        let get = |k: &str| named.iter().find(|(n, _)| n == k).map(|(_, t)| t);
        let step = get("step").ok_or_else(|| anyhow::anyhow!("optimizer state has no `step`"))?;
        let step = i64::try_from(step.view([-1]).get(0))?;
        for i in 0..self.m.len() {
            let (Some(m), Some(v)) = (get(&format!("m.{i}")), get(&format!("v.{i}"))) else {
                bail!("optimizer state lacks moments of parameter {i} (different model or adapter?)");
            };
            if m.size() != self.m[i].size() || v.size() != self.v[i].size() {
                bail!(
                    "optimizer state of parameter {i} has shape {:?}, the model {:?}",
                    m.size(),
                    self.m[i].size()
                );
            }
            tch::no_grad(|| {
                self.m[i].copy_(m);
                self.v[i].copy_(v);
            });
        }
        if get(&format!("m.{}", self.m.len())).is_some() {
            bail!("optimizer state has more parameters than the model");
        }
        self.step = step;
        Ok(())
    }

    /// Zero every parameter's gradient.
    pub(crate) fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// Global L2 norm of the gradients; scales them down to `max_norm` when above it.
    pub(crate) fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        tch::no_grad(|| {
            let mut sq = 0f64;
            for p in &self.params {
                let g = p.grad();
                if g.defined() {
                    sq += f64::try_from(g.to_kind(Kind::Float).pow_tensor_scalar(2).sum(Kind::Float))
                        .unwrap_or(0.0);
                }
            }
            let norm = sq.sqrt();
            if max_norm > 0.0 && norm > max_norm {
                let c = max_norm / (norm + 1e-6);
                for p in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(c);
                    }
                }
            }
            norm
        })
    }

    /// One update at `lr` times each parameter's multiplier, with `cfg`'s betas, eps and
    /// weight decay; parameters without a gradient or at multiplier 0 are left as they are.
    pub(crate) fn apply(&mut self, cfg: &TrainConfig, lr: f64) {
        self.step += 1;
        let t = self.step as f64;
        let (b1, b2) = (cfg.beta1, cfg.beta2);
        let bc1 = 1.0 - b1.powf(t);
        let bc2 = 1.0 - b2.powf(t);
        tch::no_grad(|| {
            for (((p, m), v), &scale) in
                self.params.iter().zip(self.m.iter_mut()).zip(self.v.iter_mut()).zip(&self.lr_scales)
            {
                let g = p.grad();
                if !g.defined() || scale == 0.0 {
                    continue;
                }
                let lr = lr * scale;
                let g = g.to_kind(Kind::Float);
                let nm = &*m * b1 + &g * (1.0 - b1);
                let nv = &*v * b2 + g.pow_tensor_scalar(2) * (1.0 - b2);
                m.copy_(&nm);
                v.copy_(&nv);
                let upd = (nm / bc1) / ((nv / bc2).sqrt() + cfg.eps);
                let pf = p.to_kind(Kind::Float);
                let newp = pf * (1.0 - lr * cfg.weight_decay) - upd * lr;
                let mut pm = p.shallow_clone();
                pm.copy_(&newp.to_kind(p.kind()));
            }
        });
    }
}

/// Where the loss tokens are: flat (row, position-that-predicts) slots and their targets.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Batch row of each target token.
    pub rows: Vec<i64>,
    /// Position in its row of the hidden state that predicts it (the token's own position
    /// minus one).
    pub cols: Vec<i64>,
    /// The target token ids.
    pub ids: Vec<i64>,
    /// Per example: number of target tokens (for splitting).
    pub(crate) counts: Vec<usize>,
}

impl Targets {
    /// Completions sit at the end of each right-padded row: `prompt_len[r]..prompt_len[r]+n`.
    pub fn for_completions(prompt_lens: &[usize], completions: &[Vec<i64>]) -> Self {
        let mut t = Self::default();
        for (r, (pl, c)) in prompt_lens.iter().zip(completions).enumerate() {
            for (i, &tok) in c.iter().enumerate() {
                t.rows.push(r as i64);
                t.cols.push((pl + i - 1) as i64);
                t.ids.push(tok);
            }
            t.counts.push(c.len());
        }
        t
    }
}

/// How the LM head scores the targets in training: log-probs of `logits / temperature`
/// (1 but in RL), and whether to return the per-token entropy too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    /// Divides the logits before the log-softmax.
    pub(crate) temperature: f64,
    /// Also return each target slot's entropy (detached).
    pub(crate) entropy: bool,
}

impl Head {
    /// Plain log-probs, no entropy (SFT, DPO).
    pub(crate) const PLAIN: Head = Head { temperature: 1.0, entropy: false };
}

/// Per-token log-probs `[N]` (with grad when enabled), optionally checkpointed, and the
/// per-token entropy when `head.entropy`. Runs the backward of `loss_fn(logprobs)` and
/// returns the loss and log-probs detached.
#[allow(clippy::too_many_arguments)]
pub(crate) fn logprobs_for_training(
    model: &QwenVl,
    batch: &Batch,
    feats: Option<&Tensor>,
    targets: &Targets,
    ctx: &Ctx,
    checkpoint: bool,
    head: Head,
    loss_fn: &dyn Fn(&Tensor) -> Tensor,
) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let score = |h: &Tensor| {
        model.score_tokens(h, &targets.rows, &targets.cols, &targets.ids, head.temperature, head.entropy)
    };
    if !checkpoint {
        let h = model.hidden(batch, feats, ctx)?;
        let (lp, ent) = score(&h);
        let loss = loss_fn(&lp);
        loss.backward();
        return Ok((loss.detach(), lp.detach(), ent));
    }
    let e = model.embed_batch(batch, feats)?;
    let mask = if batch.left_pad.iter().any(|&p| p > 0) {
        Some(causal_mask(&batch.valid, 0, batch.len))
    } else {
        None
    };
    let mask = mask.as_ref();
    let (cos, sin) = model.text.rope(&batch.positions, e.kind());
    let n = model.text.layers.len();
    let mut inputs = Vec::with_capacity(n + 1);
    tch::no_grad(|| {
        let mut x = e.detach();
        for i in 0..n {
            inputs.push(x.shallow_clone());
            x = model.text.layer_forward(i, &x, &cos, &sin, mask, None, ctx);
        }
        inputs.push(x);
    });
    let top = inputs[n].detach().set_requires_grad(true);
    let h = model.text.final_norm(&top);
    let (lp, ent) = score(&h);
    let loss = loss_fn(&lp);
    loss.backward();
    let mut g = top.grad();
    if !g.defined() {
        bail!("checkpointed backward produced no gradient");
    }
    for i in (0..n).rev() {
        let xi = inputs[i].detach().set_requires_grad(true);
        let out = model.text.layer_forward(i, &xi, &cos, &sin, mask, None, ctx);
        (out * &g).sum(Kind::Float).backward();
        g = xi.grad();
    }
    if e.requires_grad() {
        (e * &g).sum(Kind::Float).backward();
    }
    Ok((loss.detach(), lp.detach(), ent))
}

/// The vision stage's linear probe ([`crate::probe`] trains it):
/// `y = W layer_norm(mean(tokens)) + b`, f32.
#[derive(Debug)]
pub(crate) struct Probe {
    /// `[outputs, hidden]`
    pub(crate) w: Tensor,
    /// `[outputs]`
    pub(crate) b: Tensor,
}

impl Probe {
    pub(crate) fn new(hidden: i64, outputs: i64, device: Device) -> Self {
        let w = (Tensor::randn([outputs, hidden], (Kind::Float, device)) * (1.0 / (hidden as f64).sqrt()))
            .set_requires_grad(true);
        let b = Tensor::zeros([outputs], (Kind::Float, device)).set_requires_grad(true);
        Self { w, b }
    }

    pub(crate) fn outputs(&self) -> usize {
        self.w.size()[0] as usize
    }

    /// `pooled`: `[n, hidden]` -> `[n, outputs]`.
    pub(crate) fn forward(&self, pooled: &Tensor) -> Tensor {
        let h = pooled.size()[1];
        let x = pooled.to_kind(Kind::Float).layer_norm([h], None::<Tensor>, None::<Tensor>, 1e-5, false);
        x.matmul(&self.w.tr()) + &self.b
    }
}
