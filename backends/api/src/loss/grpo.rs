//! The GRPO family of online RL losses as the pipeline asks for them; the backend
//! computes them with TRL's definitions (`GRPOTrainer._compute_loss`, token-level
//! importance sampling). Per completion token, with `r = exp(logp - old)` and the
//! completion's advantage `A`:
//!
//! `loss_t = -min(r A, clip(r, 1 - ε_low, 1 + ε_high) A) + β kl_t`, with
//! `kl_t = exp(ref - logp) - (ref - logp) - 1` (the k3 estimator; only when β > 0).
//!
//! Normalisations ([`GrpoLossType`]) over the completion-token mask `m` of a micro-batch,
//! then averaged over the step's micro-batches as TRL's gradient accumulation does:
//! - `grpo`: mean over completions of `Σ_t m loss_t / Σ_t m`;
//! - `bnpo`: `Σ m loss / Σ m` over the micro-batch;
//! - `dr_grpo`: `Σ m loss / (completions × max_completion_length)`;
//! - `dapo`: `Σ m loss / (completion tokens of the whole step)`.
//!
//! Log-probs are those of the temperature-scaled distribution the completions were
//! sampled from (`logits / temperature`), as TRL computes them.
use crate::ImageInput;
use anyhow::{Result, bail};
use std::str::FromStr;

/// How the per-token losses of a step are normalised (TRL's `loss_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrpoLossType {
    /// Per-completion token mean, then the mean over completions (DeepSeekMath's GRPO).
    Grpo,
    /// Token mean over the micro-batch.
    Bnpo,
    /// Token sum over completions x the largest completion length (Dr. GRPO).
    DrGrpo,
    /// Token sum over the completion tokens of the whole step (DAPO).
    Dapo,
}

impl GrpoLossType {
    /// Every type, in the order messages list them.
    pub const ALL: [GrpoLossType; 4] = [Self::Grpo, Self::Bnpo, Self::DrGrpo, Self::Dapo];

    /// The name recipes (and TRL) use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Grpo => "grpo",
            Self::Bnpo => "bnpo",
            Self::DrGrpo => "dr_grpo",
            Self::Dapo => "dapo",
        }
    }
}

impl FromStr for GrpoLossType {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match Self::ALL.into_iter().find(|k| k.name() == s) {
            Some(k) => Ok(k),
            None => bail!("unknown loss_type `{s}` (grpo, bnpo, dr_grpo, dapo)"),
        }
    }
}

/// A GRPO-family loss with its settings (TRL's names).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GrpoLoss {
    /// The normalisation.
    pub loss_type: GrpoLossType,
    /// Lower clipping range ε (`epsilon`).
    pub epsilon_low: f64,
    /// Upper clipping range (`epsilon_high`; DAPO's clip-higher when above `epsilon_low`).
    pub epsilon_high: f64,
    /// KL coefficient β (0: no reference needed).
    pub beta: f64,
    /// The sampling temperature: log-probs are taken of `logits / temperature`.
    pub temperature: f64,
    /// `max_completion_length` (the `dr_grpo` denominator).
    pub max_completion_length: usize,
}

impl GrpoLoss {
    /// Checks the settings (0 <= ε < 1, ε_high >= 0, β >= 0, temperature > 0).
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.epsilon_low) {
            bail!("epsilon must be in [0, 1), got {}", self.epsilon_low);
        }
        if !(self.epsilon_high >= 0.0 && self.epsilon_high.is_finite()) {
            bail!("epsilon_high must be >= 0, got {}", self.epsilon_high);
        }
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            bail!("beta must be >= 0, got {}", self.beta);
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            bail!("temperature must be > 0, got {}", self.temperature);
        }
        if self.max_completion_length == 0 {
            bail!("max_completion_length must be > 0");
        }
        Ok(())
    }
}

/// One sampled completion of an RL step, with what its loss needs.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// The image it was sampled for.
    pub image: ImageInput,
    /// The instruction (`None`: the default prompt).
    pub prompt: Option<String>,
    /// The sampled token ids, as sampled (`<|im_end|>` last when it stopped there).
    pub completion_ids: Vec<u32>,
    /// Its advantage.
    pub advantage: f64,
    /// Whether its tokens count in the loss (false: a truncated completion under
    /// `mask_truncated_completions`).
    pub in_loss: bool,
    /// Per-token log-probs when it was sampled (`None`: the current ones, detached — the
    /// ratio is then one, as with a single iteration per batch).
    pub old_logprobs: Option<Vec<f32>>,
    /// Per-token log-probs of the reference (needed when β > 0).
    pub ref_logprobs: Option<Vec<f32>>,
}

/// Which weights score a rollout in [`crate::Policy::rollout_logprobs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// The policy as it is now.
    Current,
    /// LoRA adapters switched off (the base model).
    AdaptersOff,
    /// The weights saved by [`crate::Policy::snapshot`].
    Snapshot,
}

/// Metrics of a GRPO step (TRL's names in the comments), token means over the step.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct GrpoStats {
    /// `loss`.
    pub loss: f64,
    /// `grad_norm` before clipping.
    pub grad_norm: f64,
    /// `learning_rate`.
    pub lr: f64,
    /// Completion tokens in the loss.
    pub tokens: usize,
    /// `kl` (0 when β = 0).
    pub kl: f64,
    /// `entropy`: of the temperature-scaled distribution.
    pub entropy: f64,
    /// `clip_ratio/low_mean`: tokens with `r < 1 - ε_low` and a negative advantage.
    pub clip_low: f64,
    /// `clip_ratio/high_mean`: tokens with `r > 1 + ε_high` and a positive advantage.
    pub clip_high: f64,
    /// `clip_ratio/region_mean`: either.
    pub clip_region: f64,
}
