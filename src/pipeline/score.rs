//! Executing generated programs and scoring them: rewards for the `sample` stage and
//! the evaluation metrics of `eval` and `cadrl eval`.
//!
//! Generated text is untrusted: it is run by the recipe's executor, either the native
//! interpreter (parsed and interpreted in process) or `occt` / `auto` (real CadQuery in
//! sandboxed worker processes); it is never run as Python in this process. Code fences
//! are stripped first.
//!
//! Evaluation metrics (`report.json`): `vsr` = share of predictions that execute to a
//! solid; `iou_mean` / `iou_median` over **all** samples with an invalid prediction
//! counting as IoU 0 (so a model cannot gain by failing on hard parts); `chamfer_median`
//! over valid predictions only (`null` when none is valid), cadrille's definition.
//! A sample whose *reference* program does not execute (real GenCAD-Code has a few,
//! e.g. with crossing loops) says nothing about the model: it is recorded with outcome
//! `bad_reference`, counted in `bad_reference`, and left out of `n`, the VSR and every
//! mean and median, as the published evaluations leave such samples out.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use cadrl_rewards::exec::{Executor, Outcome};
use cadrl_rewards::geom::Solid;
use cadrl_rewards::metrics::chamfer::chamfer;
use cadrl_rewards::metrics::iou::{IouMode, iou};
use cadrl_rewards::reward::{Reward, RewardSpec, Rollout, Score};

/// The program in a completion: the body of the first ```python fence if there is one.
pub(crate) fn extract_code(text: &str) -> String {
    if let Some(start) = text.find("```") {
        let after = &text[start + 3..];
        let body = after.split_once('\n').map_or("", |(first, rest)| {
            if first.trim().chars().all(|c| c.is_ascii_alphanumeric()) { rest } else { after }
        });
        return body.split("```").next().unwrap_or("").to_string();
    }
    text.to_string()
}

/// Run programs with an executor (code fences stripped first).
pub fn execute_all(ex: &dyn Executor, codes: &[String], var: &str) -> anyhow::Result<Vec<Outcome>> {
    let progs: Vec<String> = codes.iter().map(|c| extract_code(c)).collect();
    let refs: Vec<&str> = progs.iter().map(String::as_str).collect();
    ex.execute(&refs, var).map_err(|e| anyhow::anyhow!("executor: {e}"))
}

/// The recipe's rewards as one weighted reward with named parts.
pub struct Scorer {
    reward: Box<dyn Reward>,
    /// The reward kinds, in recipe order: the names of [`Score::parts`] (logged as
    /// `reward/<name>/mean|std`).
    pub names: Vec<String>,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer").field("names", &self.names).finish()
    }
}

impl Scorer {
    /// The weighted sum of `rewards` (the recipe's `[[reward]]` tables, built by
    /// `cadrl_rewards`' `composite` reward); errors on an unknown kind or bad parameters.
    pub fn new(rewards: &[RewardSpec]) -> anyhow::Result<Scorer> {
        let reward = cadrl_rewards::reward::build("composite", serde_json::json!({ "parts": rewards }))
            .map_err(|e| anyhow::anyhow!("building rewards: {e}"))?;
        Ok(Scorer { reward, names: rewards.iter().map(|r| r.kind.clone()).collect() })
    }

    /// Scores of `codes` (with their outcomes) against one reference solid.
    pub fn score(&self, codes: &[String], outcomes: &[Outcome], reference: &Arc<Solid>) -> Vec<Score> {
        let ids: Vec<String> = (0..codes.len()).map(|i| i.to_string()).collect();
        let batch: Vec<Rollout> = codes
            .iter()
            .zip(outcomes)
            .zip(&ids)
            .map(|((c, o), id)| Rollout { id, code: c, outcome: o, reference: Some(reference) })
            .collect();
        self.reward.score(&batch)
    }
}

/// One evaluated prediction (a line of `eval.jsonl`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct EvalRecord {
    /// The sample's id.
    pub(crate) id: String,
    /// Whether the prediction executed to a solid.
    pub(crate) valid: bool,
    /// `valid`, `syntax_error`, `exec_error`, `unsupported`.
    pub(crate) outcome: String,
    /// Why the prediction (or, for `bad_reference`, the reference) is invalid.
    pub(crate) reason: Option<String>,
    /// IoU with the reference (0 when invalid).
    pub(crate) iou: f64,
    /// Chamfer distance (valid predictions only).
    pub(crate) chamfer: Option<f64>,
    /// The model's completion as generated (code fences included).
    pub(crate) prediction: String,
}

/// The outcome of a record whose reference program does not execute.
pub(crate) const BAD_REFERENCE: &str = "bad_reference";

impl EvalRecord {
    /// The record of a sample whose reference does not execute (`reason` says why).
    pub(crate) fn bad_reference(id: &str, prediction: &str, reason: String) -> EvalRecord {
        EvalRecord {
            id: id.to_string(),
            valid: false,
            outcome: BAD_REFERENCE.into(),
            reason: Some(reason),
            iou: 0.0,
            chamfer: None,
            prediction: prediction.to_string(),
        }
    }

    /// Whether the sample's reference failed to execute (the record says nothing
    /// about the model).
    pub(crate) fn is_bad_reference(&self) -> bool {
        self.outcome == BAD_REFERENCE
    }
}

/// Mean IoU over the records whose reference executes (`None` when there are none).
pub(crate) fn iou_mean(records: &[EvalRecord]) -> Option<f64> {
    let v: Vec<f64> = records.iter().filter(|r| !r.is_bad_reference()).map(|r| r.iou).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Score one executed prediction against its executed reference. `Err` if the reference
/// itself is not valid (a data problem: the caller records it with
/// [`EvalRecord::bad_reference`]).
pub(crate) fn evaluate(
    id: &str,
    prediction: &str,
    pred: &Outcome,
    reference: &Outcome,
    mode: IouMode,
) -> Result<EvalRecord, String> {
    let Some(rs) = reference.solid() else {
        return Err(format!(
            "reference of `{id}` does not execute: {}",
            reference.reason().unwrap_or_default()
        ));
    };
    let (iou_v, ch) = match pred.solid() {
        Some(s) => (iou(s, rs, mode), chamfer(s, rs)),
        None => (0.0, None),
    };
    Ok(EvalRecord {
        id: id.to_string(),
        valid: pred.is_valid(),
        outcome: pred.kind().to_string(),
        reason: pred.reason(),
        iou: iou_v,
        chamfer: ch,
        prediction: prediction.to_string(),
    })
}

/// The report of an evaluation (`report.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct EvalReport {
    /// Samples scored: those whose reference executes.
    pub(crate) n: usize,
    /// Samples left out because their reference program does not execute.
    #[serde(default)]
    pub(crate) bad_reference: usize,
    /// Valid syntax rate: the share of the `n` predictions that execute to a solid.
    pub(crate) vsr: f64,
    /// Mean IoU over the `n` samples (invalid predictions count 0).
    pub(crate) iou_mean: f64,
    /// Median IoU over the `n` samples (invalid predictions count 0).
    pub(crate) iou_median: f64,
    /// Median Chamfer distance over valid predictions; `None` when none is valid.
    pub(crate) chamfer_median: Option<f64>,
    /// How prediction and reference were aligned for IoU.
    pub(crate) iou_mode: IouMode,
    /// Outcome kinds of invalid predictions, counted.
    pub(crate) invalid: std::collections::BTreeMap<String, usize>,
    /// Distinct predicted programs (code compared with whitespace collapsed) per
    /// sample: 1/n when the model writes one program whatever the image, i.e. it
    /// does not read the image; near 1 when every part gets its own program.
    #[serde(default)]
    pub(crate) distinct_rate: f64,
    /// IoU mean when each sample is shown another sample's image (sample i gets image
    /// i + n/2 mod n) and scored against its own reference.
    #[serde(default)]
    pub(crate) iou_mean_shuffled: Option<f64>,
    /// `iou_mean - iou_mean_shuffled`: what the model's own image is worth. ~0 when the
    /// model ignores its image, whatever its IoU.
    #[serde(default)]
    pub(crate) image_gain: Option<f64>,
}

impl EvalReport {
    /// Add the shuffled-image ablation's IoU mean (and so the image gain).
    pub(crate) fn with_shuffled(mut self, iou_mean_shuffled: f64) -> Self {
        self.iou_mean_shuffled = Some(iou_mean_shuffled);
        self.image_gain = Some(self.iou_mean - iou_mean_shuffled);
        self
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Aggregate records into a report.
pub(crate) fn report(all: &[EvalRecord], mode: IouMode) -> EvalReport {
    let records: Vec<&EvalRecord> = all.iter().filter(|r| !r.is_bad_reference()).collect();
    let n = records.len();
    let valid = records.iter().filter(|r| r.valid).count();
    let mut ious: Vec<f64> = records.iter().map(|r| r.iou).collect();
    let mut ch: Vec<f64> = records.iter().filter_map(|r| r.chamfer).collect();
    let programs: std::collections::HashSet<String> = records
        .iter()
        .map(|r| extract_code(&r.prediction).split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let mut invalid = std::collections::BTreeMap::new();
    for r in records.iter().filter(|r| !r.valid) {
        *invalid.entry(r.outcome.clone()).or_insert(0) += 1;
    }
    EvalReport {
        n,
        bad_reference: all.len() - n,
        vsr: if n == 0 { 0.0 } else { valid as f64 / n as f64 },
        iou_mean: if n == 0 { 0.0 } else { ious.iter().sum::<f64>() / n as f64 },
        iou_median: median(&mut ious).unwrap_or(0.0),
        chamfer_median: median(&mut ch),
        iou_mode: mode,
        invalid,
        distinct_rate: if n == 0 { 0.0 } else { programs.len() as f64 / n as f64 },
        iou_mean_shuffled: None,
        image_gain: None,
    }
}

/// The report as a markdown table.
pub(crate) fn report_markdown(r: &EvalReport) -> String {
    let ch = r.chamfer_median.map_or("n/a".to_string(), |c| format!("{c:.6}"));
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.4}"));
    format!(
        "| n | VSR | IoU mean ({m}) | IoU median | Chamfer median | distinct | IoU shuffled images | image gain | invalid | bad references |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n| {} | {:.3} | {:.4} | {:.4} | {ch} | {:.3} | {} | {} | {} | {} |\n",
        r.n,
        r.vsr,
        r.iou_mean,
        r.iou_median,
        r.distinct_rate,
        opt(r.iou_mean_shuffled),
        opt(r.image_gain),
        r.invalid.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "),
        r.bad_reference,
        m = r.iou_mode.name(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_are_stripped() {
        assert_eq!(extract_code("```python\nx = 1\n```\nthanks"), "x = 1\n");
        assert_eq!(extract_code("x = 1"), "x = 1");
        assert_eq!(extract_code("```\ny = 2\n```"), "y = 2\n");
    }

    #[test]
    fn report_counts_invalid_as_zero_iou() {
        let rec = |valid: bool, iou: f64| EvalRecord {
            id: "x".into(),
            valid,
            outcome: if valid { "valid".into() } else { "syntax_error".into() },
            reason: None,
            iou,
            chamfer: valid.then_some(0.01),
            prediction: String::new(),
        };
        let r = report(&[rec(true, 0.8), rec(false, 0.0), rec(true, 0.4)], IouMode::InPlace);
        assert_eq!(r.n, 3);
        assert!((r.vsr - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.iou_mean - 0.4).abs() < 1e-12);
        assert_eq!(r.iou_median, 0.4);
        assert_eq!(r.chamfer_median, Some(0.01));
        assert_eq!(r.invalid.get("syntax_error"), Some(&1));
        // three empty predictions: one distinct program
        assert!((r.distinct_rate - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn bad_references_are_left_out_and_counted() {
        let rec = |valid: bool, iou: f64| EvalRecord {
            id: "x".into(),
            valid,
            outcome: if valid { "valid".into() } else { "exec_error".into() },
            reason: None,
            iou,
            chamfer: valid.then_some(0.01),
            prediction: format!("p{iou}"),
        };
        let bad = EvalRecord::bad_reference("y", "q", "reference of `y` does not execute".into());
        let recs = [rec(true, 0.8), bad.clone(), rec(false, 0.0), bad, rec(true, 0.4)];
        let r = report(&recs, IouMode::InPlace);
        assert_eq!((r.n, r.bad_reference), (3, 2));
        assert!((r.vsr - 2.0 / 3.0).abs() < 1e-12, "{}", r.vsr);
        assert!((r.iou_mean - 0.4).abs() < 1e-12);
        assert!(!r.invalid.contains_key(BAD_REFERENCE));
        assert!((r.distinct_rate - 1.0).abs() < 1e-12);
        assert!((iou_mean(&recs).expect("a good reference") - 0.4).abs() < 1e-12);
        assert!(report_markdown(&r).contains("| 2 |"));
    }

    #[test]
    fn distinct_rate_ignores_whitespace_and_fences() {
        let rec = |p: &str| EvalRecord {
            id: "x".into(),
            valid: true,
            outcome: "valid".into(),
            reason: None,
            iou: 1.0,
            chamfer: None,
            prediction: p.into(),
        };
        let same = [rec("a = 1\nb = 2"), rec("```python\na = 1\n\nb =  2\n```"), rec("a = 1 \nb = 2\n")];
        assert!((report(&same, IouMode::InPlace).distinct_rate - 1.0 / 3.0).abs() < 1e-12);
        let other = [rec("a = 1"), rec("a = 2"), rec("a = 1")];
        assert!((report(&other, IouMode::InPlace).distinct_rate - 2.0 / 3.0).abs() < 1e-12);
    }
}
