//! Rewards: score a batch of executed programs against their references.
//!
//! A reward never sees tensors or tokens: it gets [`Rollout`]s (the program text, its
//! [`Outcome`] and the reference solid) and returns one [`Score`] per rollout. A
//! program that fails to parse or run is a score with a reason, never an error.
//! Rewards are built by name from [`REGISTRY`] ([`build`], or a [`RewardSpec`]);
//! adding one is a file in this folder plus one line in `registry.rs`.

pub(crate) mod chamfer;
pub(crate) mod composite;
pub(crate) mod iou;
pub(crate) mod registry;
pub(crate) mod valid;

use rayon::prelude::*;

use crate::exec::Outcome;
use crate::geom::Solid;

pub use registry::{REGISTRY, RewardSpec, build};

/// One executed program to score.
#[derive(Clone, Copy, Debug)]
pub struct Rollout<'a> {
    /// Identifier of the sample, for the caller's logs (the built-in rewards do not read it).
    pub id: &'a str,
    /// The program text.
    pub code: &'a str,
    /// What executing the program gave.
    pub outcome: &'a Outcome,
    /// The reference solid (ground truth), when the task has one.
    pub reference: Option<&'a Solid>,
}

/// A reward value with named parts for logging (`reward/<name>/<part>`).
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// The reward (its range depends on the reward; see each reward's docs).
    pub value: f64,
    /// Named components logged beside the value, e.g. `("iou", 0.8)`.
    pub parts: Vec<(&'static str, f64)>,
    /// Why the score is a penalty (invalid program, missing reference, ...).
    pub reason: Option<String>,
}

impl Score {
    /// A score with no parts and no penalty reason.
    pub fn new(value: f64) -> Score {
        Score { value, parts: Vec::new(), reason: None }
    }
    /// A penalty score (`value`, usually the reward's `invalid`) and why.
    pub fn penalty(value: f64, reason: impl Into<String>) -> Score {
        Score { value, parts: Vec::new(), reason: Some(reason.into()) }
    }
    /// Add the part `part` = `v`.
    pub fn with(mut self, part: &'static str, v: f64) -> Score {
        self.parts.push((part, v));
        self
    }
}

/// A batched reward.
pub trait Reward: Send + Sync {
    /// Name used in recipes and TensorBoard tags (`reward/<name>/mean`).
    fn name(&self) -> &str;
    /// One score per rollout, in order.
    fn score(&self, batch: &[Rollout]) -> Vec<Score>;
}

/// Score rollouts independently and in parallel.
pub(crate) fn score_each(batch: &[Rollout], f: impl Fn(&Rollout) -> Score + Sync + Send) -> Vec<Score> {
    batch.par_iter().map(f).collect()
}

/// The valid solid and reference of a rollout, or the penalty score saying why not.
pub(crate) fn solids<'a>(r: &Rollout<'a>, invalid: f64) -> Result<(&'a Solid, &'a Solid), Score> {
    let Some(reference) = r.reference else {
        return Err(Score::penalty(invalid, "no reference solid"));
    };
    match r.outcome {
        Outcome::Valid(s) => Ok((s, reference)),
        other => Err(Score::penalty(invalid, other.reason().unwrap_or_default())),
    }
}
