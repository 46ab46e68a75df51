//! `cadrl eval`: greedy decoding of a model (+ adapter) on a data set, or predictions read
//! from a file (no model backend needed), scored; writes a report (`report.json`: n, bad_reference, vsr, iou_mean, iou_median, chamfer_median, distinct_rate, image_gain, ...; see `pipeline::score`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use cadrl_backend::{DType, DeviceSpec, ModelSpec};
use cadrl_rewards::executor::{ExecutorKind, ExecutorSpec};
use cadrl_rewards::metrics::iou::IouMode;
use clap::Args;

use crate::backend::BackendKind;
use crate::data::Sample;
use crate::data::source::{self, DataSpec, Subset};
use crate::pipeline::eval::{EvalOptions, evaluate_report, score_predictions, write_outputs};
use crate::pipeline::score::{report, report_markdown};

/// The arguments of `cadrl eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Checkpoint directory or Hugging Face model id.
    #[arg(long, required_unless_present = "predictions", conflicts_with = "predictions")]
    model: Option<String>,
    /// Score these predictions instead of a model's: JSON lines with `id` and
    /// `prediction` (a previous run's eval.jsonl works), one per sample of `--data`. No
    /// image ablation (it needs the model).
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// PEFT LoRA adapter directory.
    #[arg(long, conflicts_with = "predictions")]
    adapter: Option<PathBuf>,
    /// Data: a fixture-style JSONL file (or a directory holding data.jsonl), or GenCAD-Code
    /// parquet shards (a file or a directory).
    #[arg(long)]
    data: PathBuf,
    /// Evaluate the first N samples only.
    #[arg(long)]
    limit: Option<usize>,
    /// Write the report here (JSON); eval.jsonl and eval.md go beside it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// IoU placement: in-place, bbox or inertia.
    #[arg(long, default_value = "in-place")]
    iou_mode: IouMode,
    #[arg(long, default_value_t = 1024)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// How predictions are run: native, occt (sandboxed CadQuery) or auto.
    #[arg(long, default_value = "native")]
    executor: ExecutorKind,
    /// Result variable of the programs.
    #[arg(long, default_value = "solid")]
    var: String,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// f32, bf16 or f16
    #[arg(long, default_value = "f32")]
    dtype: DType,
    /// Instruction given with each image (default: the row's prompt).
    #[arg(long)]
    prompt: Option<String>,
    /// Which backend runs the model: tch (libtorch) or transformers (a Python worker with
    /// transformers + PEFT; `$CADRL_HF_PYTHON` or `$CADRL_TORCH_PYTHON`).
    #[arg(long, value_enum, default_value_t = BackendKind::Tch, conflicts_with = "predictions")]
    backend: BackendKind,
}

/// Evaluates a model (greedy decoding) or a predictions file on the data set: the markdown
/// report on stderr, `report.json` to `--out` (with `eval.jsonl` and `eval.md` beside it)
/// or to stdout.
pub fn run(a: &EvalArgs) -> Result<()> {
    let mut spec = DataSpec::from_path(&a.data);
    if let Some(n) = a.limit {
        spec.subset = Subset::First(n);
    }
    let mut it = source::open(&spec).with_context(|| format!("opening {}", a.data.display()))?;
    let samples = it.by_ref().collect::<Result<Vec<_>>>()?;
    if !it.errors().is_empty() {
        eprintln!("{}: {} corrupt rows skipped", a.data.display(), it.errors().len());
    }
    let prompt = a
        .prompt
        .clone()
        .or_else(|| samples.first().map(|s| s.prompt.clone()))
        .unwrap_or_else(|| crate::data::GENCAD_PROMPT.into());
    let o = EvalOptions {
        prompt,
        max_new_tokens: a.max_new_tokens,
        batch_images: a.batch,
        var: a.var.clone(),
        mode: a.iou_mode,
    };
    let pb = indicatif::ProgressBar::new(samples.len() as u64);
    let ex = cadrl_rewards::executor::build(&ExecutorSpec::kind(a.executor))
        .map_err(|e| anyhow::anyhow!("executor: {e}"))?;
    let (records, rep) = match (&a.model, &a.predictions) {
        (_, Some(file)) => {
            let texts = read_predictions(file, &samples)?;
            let records = score_predictions(ex.as_ref(), &samples, &texts, &o)?;
            let rep = report(&records, o.mode);
            (records, rep)
        }
        (Some(model), None) => {
            let spec = ModelSpec { path_or_id: model.clone(), device: a.device, dtype: a.dtype };
            let mut p = crate::backend::backend(a.backend)?.load(&spec, None)?;
            if let Some(ad) = &a.adapter {
                p.load_adapter(ad).with_context(|| format!("loading adapter {}", ad.display()))?;
            }
            evaluate_report(p.as_ref(), ex.as_ref(), &samples, &o, |n| pb.set_position(n as u64))?
        }
        (None, None) => anyhow::bail!("give --model or --predictions"),
    };
    pb.finish_and_clear();
    eprint!("{}", report_markdown(&rep));
    match &a.out {
        Some(out) => {
            let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            write_outputs(dir, &records, &rep)?;
            crate::pipeline::rundir::write_atomic(out, serde_json::to_string_pretty(&rep)?.as_bytes())?;
        }
        None => println!("{}", serde_json::to_string(&rep)?),
    }
    Ok(())
}

/// The prediction for each sample, from JSON lines with `id` and `prediction`; every
/// sample needs one, and a bad line is an error naming the file and line.
fn read_predictions(file: &std::path::Path, samples: &[Sample]) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut by_id = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", file.display(), i + 1);
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: not JSON", at()))?;
        let (Some(id), Some(pred)) = (v["id"].as_str(), v["prediction"].as_str()) else {
            anyhow::bail!("{}: needs string fields `id` and `prediction`", at());
        };
        by_id.insert(id.to_string(), pred.to_string());
    }
    let missing: Vec<&str> =
        samples.iter().filter(|s| !by_id.contains_key(&s.id)).map(|s| s.id.as_str()).collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "{}: no prediction for {} of {} samples (first: {})",
            file.display(),
            missing.len(),
            samples.len(),
            missing[..missing.len().min(5)].join(", ")
        );
    }
    Ok(samples.iter().map(|s| by_id[&s.id].clone()).collect())
}
