//! Evaluation: greedy decoding on held-out samples, executed and scored (metric
//! definitions in [`super::score`]). Used by the `eval` stage and by `cadrl eval`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use cadrl_backend::{GenerateOptions, Policy};
use cadrl_rewards::metrics::iou::IouMode;

use super::log::side_by_side;
use super::policy::rgb;
use super::rundir::write_atomic;
use super::score::{
    EvalRecord, EvalReport, evaluate, execute_all, extract_code, iou_mean, report, report_markdown,
};
use super::{Cx, Metrics};
use crate::data::Sample;
use cadrl_rewards::exec::Executor;

/// Options of one evaluation.
#[derive(Clone, Debug)]
pub(crate) struct EvalOptions {
    pub(crate) prompt: String,
    pub(crate) max_new_tokens: usize,
    pub(crate) batch_images: usize,
    pub(crate) var: String,
    pub(crate) mode: IouMode,
}

impl EvalOptions {
    /// A recipe's prompt, generation length, batch and result variable, with `mode`.
    pub(crate) fn for_recipe(r: &crate::recipe::Recipe, mode: IouMode) -> Self {
        EvalOptions {
            prompt: r.model.prompt.clone(),
            max_new_tokens: r.generation.max_new_tokens,
            batch_images: r.generation.batch_images,
            var: r.executor.var.clone(),
            mode,
        }
    }
}

/// The recipe's `[executor]`, errors named by the section.
pub(crate) fn build_executor(r: &crate::recipe::Recipe) -> Result<Box<dyn Executor>> {
    cadrl_rewards::executor::build(&r.executor.spec).map_err(|e| anyhow::anyhow!("[executor]: {e}"))
}

/// Greedy predictions for `samples`, scored. `on_batch` is called after each batch with
/// the number of samples done (progress bars).
pub(crate) fn evaluate_samples(
    p: &dyn Policy,
    ex: &dyn Executor,
    samples: &[Sample],
    o: &EvalOptions,
    mut on_batch: impl FnMut(usize),
) -> Result<Vec<EvalRecord>> {
    let mut out = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(o.batch_images.max(1)) {
        let imgs: Vec<_> = chunk.iter().map(|s| rgb(&s.image)).collect();
        let opts = GenerateOptions {
            prompt: Some(o.prompt.clone()),
            n: 1,
            temperature: 0.0,
            max_new_tokens: o.max_new_tokens,
            ..GenerateOptions::default()
        };
        let gens = p.generate(&imgs, &opts)?;
        let texts: Vec<String> =
            gens.into_iter().map(|c| c.into_iter().next().map(|c| c.text).unwrap_or_default()).collect();
        out.extend(score_predictions(ex, chunk, &texts, o)?);
        on_batch(out.len());
    }
    Ok(out)
}

/// Score `texts[i]` as the prediction for `samples[i]` (a model's, or read from a file).
pub(crate) fn score_predictions(
    ex: &dyn Executor,
    samples: &[Sample],
    texts: &[String],
    o: &EvalOptions,
) -> Result<Vec<EvalRecord>> {
    let refs: Vec<String> = samples.iter().map(|s| s.code.clone()).collect();
    let preds = execute_all(ex, texts, &o.var)?;
    let golds = execute_all(ex, &refs, &o.var)?;
    use rayon::prelude::*;
    Ok((0..samples.len())
        .into_par_iter()
        .map(|i| {
            let (s, t) = (&samples[i], &texts[i]);
            evaluate(&s.id, t, &preds[i], &golds[i], o.mode)
                .unwrap_or_else(|e| EvalRecord::bad_reference(&s.id, t, e))
        })
        .collect())
}

/// The image ablation: IoU mean of greedy predictions when sample i is shown the image
/// of sample (i + n/2) mod n (every sample another's image) and scored against its own
/// reference. `None` for fewer than two samples.
pub(crate) fn shuffled_iou_mean(
    p: &dyn Policy,
    ex: &dyn Executor,
    samples: &[Sample],
    o: &EvalOptions,
) -> Result<Option<f64>> {
    let n = samples.len();
    if n < 2 {
        return Ok(None);
    }
    let shown: Vec<Sample> = (0..n)
        .map(|i| Sample { image: samples[(i + n / 2) % n].image.clone(), ..samples[i].clone() })
        .collect();
    let recs = evaluate_samples(p, ex, &shown, o, |_| {})?;
    Ok(iou_mean(&recs))
}

/// Predictions, the report and the image ablation, as every evaluation gives them.
pub(crate) fn evaluate_report(
    p: &dyn Policy,
    ex: &dyn Executor,
    samples: &[Sample],
    o: &EvalOptions,
    on_batch: impl FnMut(usize),
) -> Result<(Vec<EvalRecord>, EvalReport)> {
    let records = evaluate_samples(p, ex, samples, o, on_batch)?;
    let mut rep = report(&records, o.mode);
    if let Some(s) = shuffled_iou_mean(p, ex, samples, o)? {
        rep = rep.with_shuffled(s);
    }
    Ok((records, rep))
}

/// Write `eval.jsonl`, `eval.md` and `report.json` into `dir`.
pub(crate) fn write_outputs(dir: &Path, records: &[EvalRecord], rep: &EvalReport) -> Result<()> {
    let mut lines = Vec::new();
    for r in records {
        writeln!(lines, "{}", serde_json::to_string(r)?)?;
    }
    write_atomic(&dir.join("eval.jsonl"), &lines)?;
    write_atomic(&dir.join("eval.md"), report_markdown(rep).as_bytes())?;
    write_atomic(&dir.join("report.json"), serde_json::to_string_pretty(rep)?.as_bytes())
}

pub(crate) fn eval(
    cx: &mut Cx,
    p: &dyn Policy,
    st: &crate::recipe::EvalStage,
    data: &super::data::Dataset,
) -> Result<Metrics> {
    let r = cx.recipe;
    let limit = if st.limit == 0 { usize::MAX } else { st.limit };
    let samples: Vec<Sample> = data.pass(None)?.take(limit).collect::<Result<_>>()?;
    let o = EvalOptions::for_recipe(r, st.iou_mode);
    let bar = cx.log.bar(samples.len() as u64, "eval");
    let ex = build_executor(r)?;
    let (records, rep) = evaluate_report(p, ex.as_ref(), &samples, &o, |n| bar.set_position(n as u64))?;
    bar.finish_and_clear();
    let dir = cx.dir.stage_dir(cx.index, "eval");
    write_outputs(&dir, &records, &rep)?;
    let g = cx.state.global_step;
    let m = report_scalars(&rep);
    let refs: Vec<(&str, f64)> = m.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    cx.log.scalars(g, &refs)?;
    log_predictions(cx, &samples, &records, &rep, st.images, &o.var)?;
    cx.log.say(&format!("eval ({} samples):\n{}", rep.n, report_markdown(&rep)));
    Ok(m)
}

/// Input | prediction renders of the first `images` samples and the predicted programs,
/// to TensorBoard at the current global step (eval stages and SFT monitoring).
pub(crate) fn log_predictions(
    cx: &mut Cx,
    samples: &[Sample],
    records: &[EvalRecord],
    rep: &EvalReport,
    images: usize,
    var: &str,
) -> Result<()> {
    let g = cx.state.global_step;
    let mut text = report_markdown(rep);
    for (s, rec) in samples.iter().zip(records).take(images) {
        let pred = cadrl_rewards::exec::execute_native(&extract_code(&rec.prediction), var);
        let right = match pred.solid() {
            Some(sol) => {
                let img = cadrl_rewards::render::render(sol);
                image::imageops::resize(
                    &img,
                    s.image.width(),
                    s.image.height(),
                    image::imageops::FilterType::Triangle,
                )
            }
            None => {
                image::RgbImage::from_pixel(s.image.width(), s.image.height(), image::Rgb([255, 230, 230]))
            }
        };
        cx.log.image(&format!("eval/{}", s.id), g, &side_by_side(&s.image, &right))?;
        text.push_str(&format!(
            "\n**{}** ({}, IoU {:.3})\n\n```python\n{}\n```\n",
            s.id, rec.outcome, rec.iou, rec.prediction
        ));
    }
    cx.log.text("eval/predictions", g, &text)
}

/// The scalars of a report, with their TensorBoard names.
pub(crate) fn report_scalars(rep: &EvalReport) -> Vec<(String, f64)> {
    vec![
        ("eval/vsr".to_string(), rep.vsr),
        ("eval/invalid_rate".to_string(), 1.0 - rep.vsr),
        ("eval/iou_mean".to_string(), rep.iou_mean),
        ("eval/iou_median".to_string(), rep.iou_median),
        ("eval/chamfer_median".to_string(), rep.chamfer_median.unwrap_or(f64::NAN)),
        ("eval/distinct_rate".to_string(), rep.distinct_rate),
        ("eval/iou_mean_shuffled".to_string(), rep.iou_mean_shuffled.unwrap_or(f64::NAN)),
        ("eval/image_gain".to_string(), rep.image_gain.unwrap_or(f64::NAN)),
        ("eval/n".to_string(), rep.n as f64),
        ("eval/bad_reference".to_string(), rep.bad_reference as f64),
    ]
}
