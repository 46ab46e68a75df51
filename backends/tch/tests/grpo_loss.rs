//! The GRPO-family losses against TRL's (`GRPOTrainer._compute_loss` of the installed trl,
//! `tests/python/trl_grpo_loss.py`) on identical per-token inputs: the loss, its gradient
//! with respect to the per-token log-probs, and the metrics (`kl`, `clip_ratio/*`), for
//! every normalisation, with clipping (asymmetric) and KL on and off, one and several
//! iterations (old log-probs given or not), with and without gradient accumulation, and a
//! truncated completion masked out.
#![allow(clippy::unwrap_used)]
mod common;

use cadrl_backend_tch::loss::grpo::{LossSums, StepScale, TokenBatch, loss_tensor};
use cadrl_backend_tch::{GrpoLoss, GrpoLossType};
use serde_json::{Value, json};
use std::process::Command;
use tch::{Kind, Tensor};

/// A small deterministic generator (no test depends on a crate's RNG stream).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

struct Case {
    loss: GrpoLoss,
    grad_accum: usize,
    step_tokens: usize,
    lens: Vec<usize>,
    /// Per row: [T] values (padded with 0 past `lens`).
    logps: Vec<Vec<f32>>,
    old: Option<Vec<Vec<f32>>>,
    refs: Vec<Vec<f32>>,
    adv: Vec<f32>,
    in_loss: Vec<bool>,
}

fn make(rng: &mut Lcg, loss: GrpoLoss, with_old: bool, grad_accum: usize) -> Case {
    let b = 5;
    let t = 8;
    let lens: Vec<usize> = (0..b).map(|_| 1 + (rng.next() * t as f64) as usize % t).collect();
    let row = |rng: &mut Lcg, f: &dyn Fn(&mut Lcg, f32) -> f32, base: &[Vec<f32>]| -> Vec<Vec<f32>> {
        (0..b).map(|i| (0..t).map(|j| if j < lens[i] { f(rng, base[i][j]) } else { 0.0 }).collect()).collect()
    };
    let zero = vec![vec![0.0f32; t]; b];
    let logps = row(rng, &|r, _| -(3.0 * r.next()) as f32, &zero);
    let old = with_old.then(|| row(rng, &|r, x| x + (0.3 * r.normal()) as f32, &logps));
    let refs = row(rng, &|r, x| x + (0.2 * r.normal()) as f32, &logps);
    let adv: Vec<f32> = (0..b).map(|_| rng.normal() as f32).collect();
    let mut in_loss = vec![true; b];
    in_loss[3] = false; // a truncated completion under mask_truncated_completions
    let tokens: usize = (0..b).filter(|&i| in_loss[i]).map(|i| lens[i]).sum();
    // with accumulation, this micro-batch is one of `grad_accum` of the step
    let step_tokens = tokens * grad_accum + 3 * (grad_accum - 1);
    Case { loss, grad_accum, step_tokens, lens, logps, old, refs, adv, in_loss }
}

/// Ours: the loss, d loss / d logps per row (valid positions), and the metric sums.
fn ours(c: &Case) -> (f64, Vec<Vec<f64>>, LossSums) {
    let flat =
        |v: &[Vec<f32>]| -> Vec<f32> { v.iter().zip(&c.lens).flat_map(|(r, &n)| r[..n].to_vec()).collect() };
    let lp = Tensor::from_slice(&flat(&c.logps)).set_requires_grad(true);
    let (mut seq, mut adv, mut mask) = (vec![], vec![], vec![]);
    for (i, &n) in c.lens.iter().enumerate() {
        seq.extend(std::iter::repeat_n(i as i64, n));
        adv.extend(std::iter::repeat_n(c.adv[i], n));
        mask.extend(std::iter::repeat_n(if c.in_loss[i] { 1f32 } else { 0.0 }, n));
    }
    let b = TokenBatch {
        old: c.old.as_ref().map(|o| Tensor::from_slice(&flat(o))),
        reference: Some(Tensor::from_slice(&flat(&c.refs))),
        advantage: Tensor::from_slice(&adv),
        mask: Tensor::from_slice(&mask),
        seq: Tensor::from_slice(&seq),
        n_seqs: c.lens.len() as i64,
    };
    let scale = StepScale { micro_batches: c.grad_accum, step_tokens: c.step_tokens as f64 };
    let (loss, sums) = loss_tensor(&c.loss, &lp, &b, scale);
    loss.backward();
    let g = Vec::<f64>::try_from(lp.grad().to_kind(Kind::Double)).unwrap();
    let mut rows = vec![];
    let mut o = 0;
    for &n in &c.lens {
        rows.push(g[o..o + n].to_vec());
        o += n;
    }
    (f64::try_from(loss).unwrap(), rows, sums)
}

fn to_json(c: &Case) -> Value {
    let t = c.logps[0].len();
    let mask: Vec<Vec<i64>> = c
        .lens
        .iter()
        .zip(&c.in_loss)
        .map(|(&n, &keep)| (0..t).map(|j| i64::from(keep && j < n)).collect())
        .collect();
    json!({
        "loss_type": c.loss.loss_type.name(), "beta": c.loss.beta, "epsilon_low": c.loss.epsilon_low,
        "epsilon_high": c.loss.epsilon_high, "max_completion_length": c.loss.max_completion_length,
        "grad_accum": c.grad_accum, "num_items_in_batch": c.step_tokens,
        "logps": c.logps, "old": c.old, "ref": c.refs, "advantages": c.adv, "mask": mask,
    })
}

#[test]
fn losses_and_gradients_equal_trls_for_every_normalisation() {
    let mut rng = Lcg(7);
    let mut cases = vec![];
    for loss_type in GrpoLossType::ALL {
        for beta in [0.0, 0.04] {
            for with_old in [true, false] {
                for grad_accum in [1, 3] {
                    let loss = GrpoLoss {
                        loss_type,
                        epsilon_low: 0.2,
                        epsilon_high: 0.28,
                        beta,
                        temperature: 1.0,
                        max_completion_length: 10,
                    };
                    cases.push(make(&mut rng, loss, with_old, grad_accum));
                }
            }
        }
    }
    let path = std::env::temp_dir().join(format!("cadrl-grpo-cases-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_string(&cases.iter().map(to_json).collect::<Vec<_>>()).unwrap())
        .unwrap();
    let out =
        Command::new(common::python()).arg(common::script("trl_grpo_loss.py")).arg(&path).output().unwrap();
    std::fs::remove_file(&path).ok();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let trl: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut clipped = (0.0, 0.0);
    for (c, t) in cases.iter().zip(&trl) {
        let what = format!(
            "{} beta {} old {} accum {}",
            c.loss.loss_type.name(),
            c.loss.beta,
            c.old.is_some(),
            c.grad_accum
        );
        let (loss, grad, sums) = ours(c);
        let tl = t["loss"].as_f64().unwrap();
        assert!((loss - tl).abs() <= 1e-5, "{what}: loss {loss} vs TRL {tl}");
        for (i, row) in grad.iter().enumerate() {
            for (j, g) in row.iter().enumerate() {
                let tg = t["grad"][i][j].as_f64().unwrap();
                assert!((g - tg).abs() <= 1e-5, "{what}: grad [{i}][{j}] {g} vs TRL {tg}");
            }
            // padding carries no gradient in TRL either
            for j in row.len()..c.logps[0].len() {
                assert_eq!(t["grad"][i][j].as_f64().unwrap(), 0.0, "{what}");
            }
        }
        let m = &t["metrics"];
        let n = sums.tokens;
        for (key, v) in [
            ("clip_ratio/low_mean", sums.clip_low / n),
            ("clip_ratio/high_mean", sums.clip_high / n),
            ("clip_ratio/region_mean", sums.clip_region / n),
        ] {
            let tv = m[key].as_f64().unwrap();
            assert!((v - tv).abs() <= 1e-6, "{what}: {key} {v} vs TRL {tv}");
        }
        if c.loss.beta > 0.0 {
            let tv = m["kl"].as_f64().unwrap();
            assert!((sums.kl / n - tv).abs() <= 1e-5, "{what}: kl {} vs TRL {tv}", sums.kl / n);
        }
        clipped.0 += sums.clip_low;
        clipped.1 += sums.clip_high;
    }
    // the cases exercise both sides of the clipping
    assert!(clipped.0 > 0.0 && clipped.1 > 0.0, "{clipped:?}");
}

#[test]
fn a_truncated_completion_carries_no_gradient() {
    let mut rng = Lcg(11);
    let loss = GrpoLoss {
        loss_type: GrpoLossType::Grpo,
        epsilon_low: 0.2,
        epsilon_high: 0.2,
        beta: 0.04,
        temperature: 1.0,
        max_completion_length: 10,
    };
    let c = make(&mut rng, loss, true, 1);
    let (_, grad, _) = ours(&c);
    assert!(grad[3].iter().all(|&g| g == 0.0), "{:?}", grad[3]);
    assert!(grad[0].iter().any(|&g| g != 0.0));
}
