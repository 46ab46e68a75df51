//! DPO losses with TRL's definitions, on sequence log-probs summed over the completion
//! tokens (plus `<|im_end|>`).
//!
//! With `h = (logp_c - ref_c) - (logp_r - ref_r)` (policy minus reference, chosen minus
//! rejected):
//! - `sigmoid`: `-(1-ε) log σ(βh) - ε log σ(-βh)` (ε = label smoothing, usually 0);
//! - `robust`: `(-(1-ε) log σ(βh) + ε log σ(-βh)) / (1-2ε)` (noise-robust DPO, ε < 0.5);
//! - `hinge`: `max(0, 1 - βh)` (SLiC);
//! - `ipo`: `(h - 1/(2β))²` with log-probs averaged per token, as TRL does for IPO.
//!
//! Plus an optional NLL term on the chosen completions (`nll_weight`, TRL's `rpo_alpha`):
//! `nll_weight * mean NLL over chosen tokens`. Implicit rewards `β (logp - ref)` give the
//! metrics `rewards/chosen`, `rewards/rejected`, `rewards/margins`, `rewards/accuracies`.
use tch::{Kind, Tensor};

pub use cadrl_backend::{DpoLoss, DpoLossKind, DpoStats};

/// Per-pair loss from the log-ratio difference `h` (tensor of `[P]`).
fn pair_losses(loss: &DpoLoss, h: &Tensor) -> Tensor {
    let (b, e) = (loss.beta, loss.label_smoothing);
    let z = h * b;
    match loss.kind {
        DpoLossKind::Sigmoid => z.log_sigmoid().neg() * (1.0 - e) - (-&z).log_sigmoid() * e,
        DpoLossKind::Robust => {
            (z.log_sigmoid().neg() * (1.0 - e) + (-&z).log_sigmoid() * e) / (1.0 - 2.0 * e)
        }
        DpoLossKind::Hinge => (-z + 1.0).relu(),
        DpoLossKind::Ipo => (h - 1.0 / (2.0 * b)).pow_tensor_scalar(2),
    }
}

/// The layout of one DPO (micro-)batch: sequences `0..P` are the chosen completions and
/// `P..2P` the rejected ones; `seq[i]` is the sequence of flat token `i`.
pub(crate) struct PairLayout {
    /// `[N]` int64: the sequence (`0..2P`) of each flat token.
    pub(crate) seq: Tensor,
    /// `[2P]` f32: tokens per sequence (for the per-token averages of `ipo`).
    pub(crate) counts: Tensor,
    /// `P`, the pairs in the micro-batch.
    pub(crate) pairs: i64,
    /// Tokens of the chosen sequences: the first `chosen_tokens` flat tokens.
    pub(crate) chosen_tokens: i64,
}

/// The loss of a micro-batch (scaled by `scale`, its share of the whole batch) from the
/// per-token policy log-probs `lp` and the reference sequence log-prob sums `ref_sums`.
pub(crate) fn loss_tensor(
    loss: &DpoLoss,
    lp: &Tensor,
    layout: &PairLayout,
    ref_sums: &Tensor,
    scale: f64,
) -> Tensor {
    let n = 2 * layout.pairs;
    let sums = Tensor::zeros([n], (Kind::Float, lp.device())).index_add(0, &layout.seq, lp);
    let (pol, refs) = if loss.averages_tokens() {
        (&sums / &layout.counts, ref_sums / &layout.counts)
    } else {
        (sums, ref_sums.shallow_clone())
    };
    let d = pol - refs;
    let p = layout.pairs;
    let h = d.narrow(0, 0, p) - d.narrow(0, p, p);
    let mut total = pair_losses(loss, &h).mean(Kind::Float);
    if loss.nll_weight > 0.0 {
        let chosen = lp.narrow(0, 0, layout.chosen_tokens);
        total += chosen.mean(Kind::Float).neg() * loss.nll_weight;
    }
    total * scale
}

/// Implicit-reward metrics from summed policy and reference log-probs per pair.
pub(crate) fn pair_metrics(
    loss: &DpoLoss,
    pol: &[(f64, f64)],
    refs: &[(f64, f64)],
    counts: &[(usize, usize)],
) -> DpoStats {
    let n = pol.len().max(1) as f64;
    let mut s = DpoStats::default();
    for ((&(pc, pr), &(rc, rr)), &(nc, nr)) in pol.iter().zip(refs).zip(counts) {
        let (fc, fr) = if loss.averages_tokens() {
            (1.0 / nc.max(1) as f64, 1.0 / nr.max(1) as f64)
        } else {
            (1.0, 1.0)
        };
        let c = loss.beta * (pc - rc) * fc;
        let r = loss.beta * (pr - rr) * fr;
        s.rewards_chosen += c / n;
        s.rewards_rejected += r / n;
        s.rewards_margins += (c - r) / n;
        s.rewards_accuracies += f64::from(u8::from(c > r)) / n;
        s.logps_chosen += pc / n;
        s.logps_rejected += pr / n;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(loss: DpoLoss, pol: (f64, f64), refs: (f64, f64)) -> f64 {
        let lp = Tensor::from_slice(&[pol.0 as f32, pol.1 as f32]);
        let layout = PairLayout {
            seq: Tensor::from_slice(&[0i64, 1]),
            counts: Tensor::from_slice(&[1f32, 1.0]),
            pairs: 1,
            chosen_tokens: 1,
        };
        let r = Tensor::from_slice(&[refs.0 as f32, refs.1 as f32]);
        f64::try_from(loss_tensor(&loss, &lp, &layout, &r, 1.0)).unwrap_or(f64::NAN)
    }

    #[test]
    fn losses_match_their_formulas() {
        let (pol, refs) = ((-2.0, -5.0), (-3.0, -3.0));
        let h: f64 = (-2.0 - -3.0) - (-5.0 - -3.0); // 3
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let beta = 0.1;
        let mut l = DpoLoss::sigmoid(beta);
        assert!((one(l, pol, refs) + sig(beta * h).ln()).abs() < 1e-5);
        l.kind = DpoLossKind::Hinge;
        assert!((one(l, pol, refs) - (1.0 - beta * h).max(0.0)).abs() < 1e-5);
        l.kind = DpoLossKind::Ipo;
        assert!((one(l, pol, refs) - (h - 1.0 / (2.0 * beta)).powi(2)).abs() < 1e-3);
        l.kind = DpoLossKind::Robust;
        l.label_smoothing = 0.1;
        let want = (-(0.9) * sig(beta * h).ln() + 0.1 * sig(-beta * h).ln()) / 0.8;
        assert!((one(l, pol, refs) - want).abs() < 1e-5);
        l.kind = DpoLossKind::Sigmoid;
        let want = -(0.9) * sig(beta * h).ln() - 0.1 * sig(-beta * h).ln();
        assert!((one(l, pol, refs) - want).abs() < 1e-5);
        l.nll_weight = 0.5;
        assert!((one(l, pol, refs) - (want + 0.5 * 2.0)).abs() < 1e-5);
    }

    #[test]
    fn validation_names_the_setting() {
        let mut l = DpoLoss::sigmoid(0.0);
        assert!(l.validate().is_err());
        l.beta = 0.1;
        l.label_smoothing = 0.5;
        assert!(
            format!("{:#}", l.validate().err().map(|e| e.to_string()).unwrap_or_default())
                .contains("label_smoothing")
        );
    }
}
