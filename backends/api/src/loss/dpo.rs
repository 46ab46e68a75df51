//! DPO losses as the pipeline asks for them; the backend computes them with TRL's
//! definitions, on sequence log-probs summed over the completion tokens (plus
//! `<|im_end|>`). With `h = (logp_c - ref_c) - (logp_r - ref_r)` (policy minus
//! reference, chosen minus rejected):
//! - `sigmoid`: `-(1-ε) log σ(βh) - ε log σ(-βh)` (ε = label smoothing, usually 0);
//! - `robust`: `(-(1-ε) log σ(βh) + ε log σ(-βh)) / (1-2ε)` (noise-robust DPO, ε < 0.5);
//! - `hinge`: `max(0, 1 - βh)` (SLiC);
//! - `ipo`: `(h - 1/(2β))²` with log-probs averaged per token, as TRL does for IPO.
//!
//! Plus an optional NLL term on the chosen completions (`nll_weight`, TRL's `rpo_alpha`).
use anyhow::{Result, bail};
use std::str::FromStr;

/// Which DPO loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpoLossKind {
    /// DPO's logistic loss (with label smoothing: conservative DPO).
    Sigmoid,
    /// IPO's squared loss on per-token averages.
    Ipo,
    /// SLiC's hinge loss.
    Hinge,
    /// Noise-robust DPO.
    Robust,
}

impl DpoLossKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [DpoLossKind; 4] = [Self::Sigmoid, Self::Ipo, Self::Hinge, Self::Robust];

    /// The name recipes use (also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sigmoid => "sigmoid",
            Self::Ipo => "ipo",
            Self::Hinge => "hinge",
            Self::Robust => "robust",
        }
    }
}

impl FromStr for DpoLossKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match Self::ALL.into_iter().find(|k| k.name() == s) {
            Some(k) => Ok(k),
            None => bail!("unknown DPO loss `{s}` (sigmoid, ipo, hinge, robust)"),
        }
    }
}

/// A DPO loss with its settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DpoLoss {
    /// Which loss.
    pub kind: DpoLossKind,
    /// β: the scale of the implicit reward (TRL's `beta`).
    pub beta: f64,
    /// ε for `sigmoid` (conservative DPO) and `robust`; ignored by the others.
    pub label_smoothing: f64,
    /// Weight of the mean NLL of the chosen completions (0 = off).
    pub nll_weight: f64,
}

impl DpoLoss {
    /// The standard DPO loss with `beta`.
    pub fn sigmoid(beta: f64) -> Self {
        Self { kind: DpoLossKind::Sigmoid, beta, label_smoothing: 0.0, nll_weight: 0.0 }
    }

    /// Checks the settings (β > 0, 0 <= ε < 0.5, nll_weight >= 0).
    pub fn validate(&self) -> Result<()> {
        if !(self.beta > 0.0 && self.beta.is_finite()) {
            bail!("beta must be > 0, got {}", self.beta);
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            bail!("label_smoothing must be in [0, 0.5), got {}", self.label_smoothing);
        }
        if !(self.nll_weight >= 0.0 && self.nll_weight.is_finite()) {
            bail!("nll_weight must be >= 0, got {}", self.nll_weight);
        }
        Ok(())
    }

    /// Whether log-probs are averaged per token (IPO) rather than summed.
    pub fn averages_tokens(&self) -> bool {
        self.kind == DpoLossKind::Ipo
    }
}

/// Metrics of a DPO step, averaged over pairs (TRL's names in the comments).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct DpoStats {
    /// `loss`.
    pub loss: f64,
    /// `grad_norm` before clipping.
    pub grad_norm: f64,
    /// `learning_rate`.
    pub lr: f64,
    /// Completion tokens in the batch.
    pub tokens: usize,
    /// `rewards/chosen`: mean β (logp_c - ref_c).
    pub rewards_chosen: f64,
    /// `rewards/rejected`.
    pub rewards_rejected: f64,
    /// `rewards/margins`: mean of chosen minus rejected rewards.
    pub rewards_margins: f64,
    /// `rewards/accuracies`: share of pairs whose chosen reward beats the rejected one.
    pub rewards_accuracies: f64,
    /// `logps/chosen`: mean summed log-prob of the chosen completions.
    pub logps_chosen: f64,
    /// `logps/rejected`.
    pub logps_rejected: f64,
}
