//! The `[[stage]]` tables of a recipe: `init`, `vision`, `sft`, `sample`, `dpo`, `rl`, `eval`.
//!
//! Stages run in the order written. `dpo` right after a `sample` stage may say
//! `rounds = R`: the (sample, dpo) pair then runs R times, each round sampling from the
//! policy the previous round trained (iterative DPO); the pipeline expands the rounds
//! into a flat plan.

use serde::Serialize;

use super::fields::{Fields, Overrides, Spanned, Val};
pub use crate::pipeline::vision::Target;
use cadrl_backend::{DpoLossKind, GrpoLossType};
use cadrl_rewards::metrics::iou::IouMode;

/// `init`: train a tokenizer on the training programs and write a random Qwen2.5-VL.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct InitStage {
    /// Tokenizer vocabulary size (300..=200000, default 1024).
    pub vocab_size: usize,
    /// Training programs the tokenizer is trained on.
    pub tokenizer_programs: usize,
    /// Model size and image resolution ([`cadrl_backend::InitConfig`]).
    pub model: serde_json::Value,
}

/// Batch and optimiser settings of a training stage (`sft`, `dpo`): AdamW with
/// linear warm-up and cosine decay. Flattened into the stage's table.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Optim {
    /// Examples per optimizer step (> 0, default 8).
    pub batch_size: usize,
    /// Examples per forward pass; gradients are accumulated up to `batch_size`.
    pub micro_batch: usize,
    /// Peak learning rate (> 0; defaults: vision 1e-3, sft 2e-4, dpo 5e-6).
    pub lr: f64,
    /// Steps of linear warm-up from `lr / warmup_steps` to `lr` (default 0).
    pub warmup_steps: usize,
    /// The cosine schedule decays to `lr * min_lr_ratio` (in [0, 1]; defaults: vision
    /// 0.1, sft 0, dpo 1 = constant).
    pub min_lr_ratio: f64,
    /// AdamW weight decay (>= 0, default 0).
    pub weight_decay: f64,
    /// Gradient clipping by global norm (0 = off, default 1).
    pub max_grad_norm: f64,
}

impl Optim {
    /// Read the shared keys; `lr` and `min_lr_ratio` defaults differ per stage.
    fn read(f: &mut Fields, lr: f64, min_lr_ratio: f64) -> Optim {
        let batch_size = f.usize("batch_size", 8, |x| x > 0, "> 0");
        Optim {
            micro_batch: f.usize("micro_batch", batch_size, |x| x > 0 && x <= batch_size, "1..=batch_size"),
            batch_size,
            lr: f.f64("lr", lr, |x| x > 0.0, "> 0"),
            warmup_steps: f.usize("warmup_steps", 0, |_| true, ""),
            min_lr_ratio: f.f64("min_lr_ratio", min_lr_ratio, |x| (0.0..=1.0).contains(&x), "in [0, 1]"),
            weight_decay: f.f64("weight_decay", 0.0, |x| x >= 0.0, ">= 0"),
            max_grad_norm: f.f64("max_grad_norm", 1.0, |x| x >= 0.0, ">= 0 (0 = off)"),
        }
    }
}

/// `vision`: train the vision tower and merger on geometric targets computed from the
/// training programs ([`crate::pipeline::vision`]), before `sft`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VisionStage {
    /// Optimizer steps (> 0, default 300).
    pub steps: usize,
    /// Batch and optimiser settings (`lr` default 1e-3, `min_lr_ratio` 0.1).
    #[serde(flatten)]
    pub optim: Optim,
    /// Target groups, in order, each at most once (default: all four).
    pub targets: Vec<Target>,
    /// Cells per side of the `occupancy` target (1..=16, default 4).
    pub grid: usize,
    /// Training parts the targets' mean and spread are taken from (default 1000).
    pub fit_samples: usize,
    /// Steps between held-out R^2 on `[eval_data]` (0 = stage end only).
    pub eval_every: usize,
    /// Held-out samples (the first of `[eval_data]`) the R^2 is measured on (0 = none;
    /// default 64).
    pub val_samples: usize,
}

/// `sft`: supervised fine-tuning (loss on completion tokens only).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SftStage {
    /// Optimizer steps (> 0, default 100).
    pub steps: usize,
    /// Batch and optimiser settings (`lr` default 2e-4, `min_lr_ratio` 0).
    #[serde(flatten)]
    pub optim: Optim,
    /// Learning-rate multiplier of the vision tower (0 = frozen).
    pub vision_lr_scale: f64,
    /// Learning-rate multiplier of the patch merger (default: `vision_lr_scale`).
    pub merger_lr_scale: f64,
    /// Steps between validation losses on `[eval_data]` (0 = stage end only).
    pub eval_every: usize,
    /// Held-out samples of the validation loss (`val/loss`, NLL per completion token; 0 =
    /// none; default 16).
    pub val_samples: usize,
    /// Recompute activations in the backward pass (less memory, slower; default false).
    pub grad_checkpointing: bool,
    /// Steps between greedy evaluations on `monitor_samples` of `[eval_data]` (VSR, IoU,
    /// distinct rate, image gain, renders; 0 = off).
    pub monitor_every: usize,
    /// Held-out samples of each monitoring evaluation (> 0, default 32).
    pub monitor_samples: usize,
    /// IoU placement of the monitoring (default `bbox`).
    pub monitor_iou_mode: IouMode,
    /// The monitored metric that picks the best weights and stops early.
    pub monitor_metric: MonitorMetric,
    /// Stop after this many monitoring evaluations without a better metric (0 = never).
    pub patience: usize,
    /// End the stage with the best monitored weights (`checkpoints/<i>-sft/best/`).
    pub keep_best: bool,
}

/// What SFT monitoring optimises (recipe key `monitor_metric`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMetric {
    /// `iou_mean` (the default): mean IoU, invalid predictions counting 0.
    IouMean,
    /// `image_gain`: IoU mean minus the IoU mean with shuffled images.
    ImageGain,
    /// `distinct_rate`: distinct predicted programs per sample.
    DistinctRate,
    /// `vsr`: the share of predictions that execute to a solid.
    Vsr,
    /// `val_loss`: held-out NLL per completion token (lower is better).
    ValLoss,
}

impl MonitorMetric {
    /// Every metric, in the order messages list them.
    pub const ALL: [MonitorMetric; 5] = [
        MonitorMetric::IouMean,
        MonitorMetric::ImageGain,
        MonitorMetric::DistinctRate,
        MonitorMetric::Vsr,
        MonitorMetric::ValLoss,
    ];

    /// The recipe name (also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            MonitorMetric::IouMean => "iou_mean",
            MonitorMetric::ImageGain => "image_gain",
            MonitorMetric::DistinctRate => "distinct_rate",
            MonitorMetric::Vsr => "vsr",
            MonitorMetric::ValLoss => "val_loss",
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        self != MonitorMetric::ValLoss
    }
}

/// `sample`: K candidates per training image, scored, made into preference pairs.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SampleStage {
    /// Training images per round (> 0, default 64).
    pub images: usize,
    /// Candidates sampled per image (>= 2, default 8), with `[generation]`'s settings.
    pub k: usize,
    /// How the scored candidates of one image become pairs (default `best-vs-worst`).
    pub pairs: PairStrategy,
    /// A pair's reward gap must exceed this (>= 0, default 0).
    pub margin: f64,
    /// `threshold`: chosen at or above, rejected below (default 0.5).
    pub threshold: f64,
    /// Invalid programs may be the rejected side (else they are left out; default true).
    pub invalid_as_rejected: bool,
    /// Most pairs kept per image, largest gaps first (> 0, default 4).
    pub max_pairs_per_image: usize,
    /// Add the ground-truth program as one more candidate (SPIN-style pairs: useful while
    /// the policy rarely writes a valid program).
    pub include_reference: bool,
}

/// How a `sample` stage pairs the candidates of one image (recipe key `pairs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairStrategy {
    /// The highest-reward candidate against the lowest.
    BestVsWorst,
    /// Every pair whose reward gap is above the margin.
    AllAboveMargin,
    /// Every candidate at or above `threshold` against every one below it.
    Threshold,
    /// The policy's greedy program is decoded too and anchors the pairs: the best sample
    /// against it when the sample is better, it against the worst sample when it is better.
    /// Evaluation decodes greedily, so these pairs move what evaluation sees.
    VsGreedy,
}

impl PairStrategy {
    /// Every strategy, in the order messages list them.
    pub const ALL: [PairStrategy; 4] = [
        PairStrategy::BestVsWorst,
        PairStrategy::AllAboveMargin,
        PairStrategy::Threshold,
        PairStrategy::VsGreedy,
    ];

    /// The recipe name (kebab-case; also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            PairStrategy::BestVsWorst => "best-vs-worst",
            PairStrategy::AllAboveMargin => "all-above-margin",
            PairStrategy::Threshold => "threshold",
            PairStrategy::VsGreedy => "vs-greedy",
        }
    }
}

/// `dpo`: preference optimisation on the pairs of the preceding `sample` stage.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DpoStage {
    /// The preference loss (default `sigmoid`, DPO's; see [`DpoLossKind`]).
    pub loss: DpoLossKind,
    /// Strength of the implicit KL to the reference (> 0, default 0.1).
    pub beta: f64,
    /// Assumed share of flipped preference labels (cDPO / robust; in [0, 0.5), default 0).
    pub label_smoothing: f64,
    /// Weight of an NLL term on the chosen programs (TRL's rpo_alpha).
    pub nll_weight: f64,
    /// Passes over the pairs (> 0, default 1).
    pub epochs: usize,
    /// Batch and optimiser settings (`lr` default 5e-6, `min_lr_ratio` 1).
    #[serde(flatten)]
    pub optim: Optim,
    /// Repeat the preceding sample stage and this one R times (default 1).
    pub rounds: usize,
    /// The reference model (default `start`).
    pub reference: DpoReference,
    /// Learning-rate multipliers of the vision tower and merger, as in `sft` (0 keeps the
    /// features the vision stage trained).
    pub vision_lr_scale: f64,
    /// Learning-rate multiplier of the patch merger (default: `vision_lr_scale`).
    pub merger_lr_scale: f64,
}

/// The reference model of a `dpo` stage (recipe key `reference`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DpoReference {
    /// The policy as the stage begins (e.g. the SFT model).
    Start,
    /// LoRA only: the base model with adapters switched off.
    Base,
}

impl DpoReference {
    /// Every reference, in the order messages list them.
    pub const ALL: [DpoReference; 2] = [DpoReference::Start, DpoReference::Base];

    /// The recipe name (also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            DpoReference::Start => "start",
            DpoReference::Base => "base",
        }
    }
}

/// `rl`: online RL of the GRPO family (GRPO, Dr. GRPO, DAPO, CPPO): each step samples
/// `num_generations` programs for each of `images` training images with `[generation]`'s
/// settings, scores them with the recipe's rewards, and updates the policy on advantages
/// relative to each image's group (TRL's `GRPOTrainer` names and definitions).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RlStage {
    /// Sampling steps (each is `num_iterations` optimizer updates).
    pub steps: usize,
    /// Training images per step.
    pub images: usize,
    /// Completions per image (G).
    pub num_generations: usize,
    /// CPPO: only the `top_n` completions of each image with the largest |advantage| enter
    /// the update (0 = all).
    pub top_n: usize,
    /// Updates per sampled batch (μ); the log-probs at sampling time are the old ones.
    pub num_iterations: usize,
    /// How per-token losses are normalised (default `dapo`; see [`GrpoLossType`]).
    pub loss_type: GrpoLossType,
    /// How rewards become advantages: minus the group mean, divided by the std of the
    /// group, of the batch, or not at all.
    pub scale_rewards: ScaleRewards,
    /// Clipping range below one.
    pub epsilon: f64,
    /// Clipping range above one (DAPO's clip-higher when larger than `epsilon`).
    pub epsilon_high: f64,
    /// KL coefficient (0: no reference).
    pub beta: f64,
    /// The KL reference: the policy as the stage begins, or the base with adapters off.
    pub reference: DpoReference,
    /// Truncated completions (cut at `max_new_tokens`) leave the loss.
    pub mask_truncated_completions: bool,
    /// Completions per forward pass (gradients accumulate over the step's completions).
    pub micro_batch: usize,
    /// Peak learning rate (> 0, default 1e-6).
    pub lr: f64,
    /// Steps of linear warm-up (default 0).
    pub warmup_steps: usize,
    /// Cosine decay to `lr * min_lr_ratio` (1 = constant after warm-up; the default).
    pub min_lr_ratio: f64,
    /// AdamW weight decay (>= 0, default 0).
    pub weight_decay: f64,
    /// Gradient clipping by global norm (0 = off, default 1).
    pub max_grad_norm: f64,
    /// Steps between logged programs (the best of the step's first image; 0 = off).
    pub log_every: usize,
}

/// How an `rl` stage scales advantages (TRL's `scale_rewards`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleRewards {
    /// Divide by the std of the image's group (GRPO; the default).
    Group,
    /// Divide by the std of the whole step's rewards.
    Batch,
    /// Do not divide (Dr. GRPO): advantages are rewards minus the group mean.
    None,
}

impl ScaleRewards {
    /// Every scaling, in the order messages list them.
    pub const ALL: [ScaleRewards; 3] = [ScaleRewards::Group, ScaleRewards::Batch, ScaleRewards::None];

    /// The recipe name (also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            ScaleRewards::Group => "group",
            ScaleRewards::Batch => "batch",
            ScaleRewards::None => "none",
        }
    }
}

/// `eval`: greedy decoding on `[eval_data]`, scored.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EvalStage {
    /// Samples evaluated (0 = all of `[eval_data]`).
    pub limit: usize,
    /// How prediction and reference are aligned for IoU (default `in-place`).
    pub iou_mode: IouMode,
    /// Input/prediction image pairs logged to TensorBoard.
    pub images: usize,
}

/// One `[[stage]]` table, by its `kind`.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Stage {
    /// `kind = "init"`.
    Init(InitStage),
    /// `kind = "vision"`.
    Vision(VisionStage),
    /// `kind = "sft"`.
    Sft(SftStage),
    /// `kind = "sample"`.
    Sample(SampleStage),
    /// `kind = "dpo"`.
    Dpo(DpoStage),
    /// `kind = "rl"`.
    Rl(RlStage),
    /// `kind = "eval"`.
    Eval(EvalStage),
}

impl Stage {
    /// The `kind` name; also names the stage's directories (`stages/<i>-<kind>`).
    pub fn kind(&self) -> &'static str {
        match self {
            Stage::Init(_) => "init",
            Stage::Vision(_) => "vision",
            Stage::Sft(_) => "sft",
            Stage::Sample(_) => "sample",
            Stage::Dpo(_) => "dpo",
            Stage::Rl(_) => "rl",
            Stage::Eval(_) => "eval",
        }
    }

    /// Whether it trains or creates the model (`init`, `vision`, `sft`, `dpo`, `rl`);
    /// `sample` and `eval` only generate and score.
    pub fn trains(&self) -> bool {
        !matches!(self, Stage::Sample(_) | Stage::Eval(_))
    }
}

const KINDS: [&str; 7] = ["init", "vision", "sft", "sample", "dpo", "rl", "eval"];

/// Resolve every `[[stage]]` table; errors are appended.
pub(crate) fn resolve_all(
    tables: &[(&[(String, Spanned)], usize)],
    ov: &mut Overrides,
    errors: &mut Vec<String>,
) -> Vec<Stage> {
    let mut out = vec![];
    let mut seen: Vec<[String; 2]> = vec![];
    for (i, (t, line)) in tables.iter().enumerate() {
        let kind = t.iter().find(|(k, _)| k == "kind").map(|(_, v)| v.val.clone());
        let kind = match kind {
            Some(Val::Str(k)) if KINDS.contains(&k.as_str()) => k,
            Some(Val::Str(k)) => {
                errors.push(format!(
                    "stage {i} (line {line}): unknown kind `{k}` (known: {})",
                    KINDS.join(", ")
                ));
                continue;
            }
            _ => {
                errors.push(format!("stage {i} (line {line}): missing kind (one of {})", KINDS.join(", ")));
                continue;
            }
        };
        let rest: Vec<(String, Spanned)> = t.iter().filter(|(k, _)| k != "kind").cloned().collect();
        let name = format!("stage {i} ({kind})");
        let prefixes = [format!("{kind}."), format!("stage.{i}.")];
        // `<kind>.key` overrides apply to every stage of the kind: each stage reads a copy
        let mut mine: Overrides = ov
            .iter()
            .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p.as_str())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut f = Fields::new(&name, *line, &rest, &mut mine, &prefixes, errors);
        let stage = match kind.as_str() {
            "init" => init(&mut f),
            "vision" => vision(&mut f),
            "sft" => sft(&mut f),
            "sample" => sample(&mut f),
            "dpo" => dpo(&mut f),
            "rl" => rl(&mut f),
            _ => eval(&mut f),
        };
        if let Stage::Dpo(d) = &stage
            && d.rounds > 1
            && !matches!(out.last(), Some(Stage::Sample(_)))
        {
            f.err(format!("{}: rounds = {} needs a `sample` stage right before it", f.place(), d.rounds));
        }
        if let Stage::Dpo(_) = &stage
            && !out.iter().any(|s| matches!(s, Stage::Sample(_)))
        {
            f.err(format!("{}: a `dpo` stage needs a `sample` stage before it (its pairs)", f.place()));
        }
        // a model made by `init` writes nothing until an `sft` stage has trained it
        if let Stage::Rl(_) = &stage
            && let Some(at) = out.iter().rposition(|s| matches!(s, Stage::Init(_)))
            && !out[at..].iter().any(|s| matches!(s, Stage::Sft(_)))
        {
            f.err(format!(
                "{}: an `rl` stage needs an `sft` stage between `init` and it (a random model writes no programs)",
                f.place()
            ));
        }
        f.finish(&known(&kind));
        out.push(stage);
        seen.push(prefixes);
    }
    for prefixes in seen {
        ov.retain(|k, _| !prefixes.iter().any(|p| k.starts_with(p.as_str()) && !k[p.len()..].contains('.')));
    }
    let mut uniq: Vec<String> = vec![];
    for e in errors.drain(..) {
        if !uniq.contains(&e) {
            uniq.push(e);
        }
    }
    *errors = uniq;
    out
}

/// The keys of [`Optim`], shared by the training stages.
const OPTIM_KEYS: [&str; 7] =
    ["batch_size", "micro_batch", "lr", "warmup_steps", "min_lr_ratio", "weight_decay", "max_grad_norm"];

fn known(kind: &str) -> Vec<&'static str> {
    let own: &[&str] = match kind {
        "init" => &["vocab_size", "tokenizer_programs", "model"],
        "vision" => &["steps", "targets", "grid", "fit_samples", "eval_every", "val_samples"],
        "sft" => &[
            "steps",
            "vision_lr_scale",
            "merger_lr_scale",
            "eval_every",
            "val_samples",
            "grad_checkpointing",
            "monitor_every",
            "monitor_samples",
            "monitor_iou_mode",
            "monitor_metric",
            "patience",
            "keep_best",
        ],
        "sample" => &[
            "images",
            "k",
            "pairs",
            "margin",
            "threshold",
            "invalid_as_rejected",
            "max_pairs_per_image",
            "include_reference",
        ],
        "dpo" => &[
            "loss",
            "beta",
            "label_smoothing",
            "nll_weight",
            "epochs",
            "rounds",
            "reference",
            "vision_lr_scale",
            "merger_lr_scale",
        ],
        "rl" => &[
            "steps",
            "images",
            "num_generations",
            "top_n",
            "num_iterations",
            "loss_type",
            "scale_rewards",
            "epsilon",
            "epsilon_high",
            "beta",
            "reference",
            "mask_truncated_completions",
            "micro_batch",
            "lr",
            "warmup_steps",
            "min_lr_ratio",
            "weight_decay",
            "max_grad_norm",
            "log_every",
        ],
        _ => &["limit", "iou_mode", "images"],
    };
    let optim: &[&str] = if matches!(kind, "vision" | "sft" | "dpo") { &OPTIM_KEYS } else { &[] };
    own.iter().chain(optim).copied().collect()
}

fn init(f: &mut Fields) -> Stage {
    let vocab_size = f.usize("vocab_size", 1024, |x| (300..=200_000).contains(&x), "300..=200000");
    let tokenizer_programs = f.usize("tokenizer_programs", 2000, |x| x > 0, "> 0");
    let model = match f.json_table("model") {
        Some((v, at)) => match serde_json::from_value::<cadrl_backend::InitConfig>(v.clone()) {
            Ok(_) => v,
            Err(e) => {
                f.err(format!("{at}: {e}"));
                v
            }
        },
        None => serde_json::json!({}),
    };
    Stage::Init(InitStage { vocab_size, tokenizer_programs, model })
}

fn vision(f: &mut Fields) -> Stage {
    let steps = f.usize("steps", 300, |x| x > 0, "> 0");
    let optim = Optim::read(f, 1e-3, 0.1);
    let names = f.strings("targets", &["proportions", "fill", "occupancy", "counts"]);
    let mut targets = vec![];
    for n in &names {
        match Target::parse(n) {
            Some(t) if !targets.contains(&t) => targets.push(t),
            Some(_) => f.err(format!("{}: target `{n}` is listed twice", f.place())),
            None => {
                let known: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
                f.err(format!("{}: unknown target `{n}` (known: {})", f.place(), known.join(", ")))
            }
        }
    }
    if names.is_empty() {
        f.err(format!("{}: `targets` is empty (known: proportions, fill, occupancy, counts)", f.place()));
    }
    Stage::Vision(VisionStage {
        steps,
        optim,
        targets,
        grid: f.usize("grid", 4, |x| (1..=16).contains(&x), "1..=16"),
        fit_samples: f.usize("fit_samples", 1000, |x| x > 0, "> 0"),
        eval_every: f.usize("eval_every", 0, |_| true, ""),
        val_samples: f.usize("val_samples", 64, |_| true, ""),
    })
}

fn sft(f: &mut Fields) -> Stage {
    let steps = f.usize("steps", 100, |x| x > 0, "> 0");
    let optim = Optim::read(f, 2e-4, 0.0);
    let vision_lr_scale = f.f64("vision_lr_scale", 1.0, |x| x >= 0.0, ">= 0 (0 = frozen)");
    Stage::Sft(SftStage {
        steps,
        optim,
        vision_lr_scale,
        merger_lr_scale: f.f64("merger_lr_scale", vision_lr_scale, |x| x >= 0.0, ">= 0 (0 = frozen)"),
        eval_every: f.usize("eval_every", 0, |_| true, ""),
        val_samples: f.usize("val_samples", 16, |_| true, ""),
        grad_checkpointing: f.bool("grad_checkpointing", false),
        monitor_every: f.usize("monitor_every", 0, |_| true, ""),
        monitor_samples: f.usize("monitor_samples", 32, |x| x > 0, "> 0"),
        monitor_iou_mode: f.choice("monitor_iou_mode", IouMode::Bbox),
        monitor_metric: f.choice("monitor_metric", MonitorMetric::IouMean),
        patience: f.usize("patience", 0, |_| true, ""),
        keep_best: f.bool("keep_best", true),
    })
}

fn sample(f: &mut Fields) -> Stage {
    Stage::Sample(SampleStage {
        images: f.usize("images", 64, |x| x > 0, "> 0"),
        k: f.usize("k", 8, |x| x >= 2, ">= 2"),
        pairs: f.choice("pairs", PairStrategy::BestVsWorst),
        margin: f.f64("margin", 0.0, |x| x >= 0.0, ">= 0"),
        threshold: f.f64("threshold", 0.5, |_| true, ""),
        invalid_as_rejected: f.bool("invalid_as_rejected", true),
        max_pairs_per_image: f.usize("max_pairs_per_image", 4, |x| x > 0, "> 0"),
        include_reference: f.bool("include_reference", false),
    })
}

fn dpo(f: &mut Fields) -> Stage {
    let d = DpoStage {
        loss: f.choice("loss", DpoLossKind::Sigmoid),
        beta: f.f64("beta", 0.1, |x| x > 0.0, "> 0"),
        label_smoothing: f.f64("label_smoothing", 0.0, |x| (0.0..0.5).contains(&x), "in [0, 0.5)"),
        nll_weight: f.f64("nll_weight", 0.0, |x| x >= 0.0, ">= 0"),
        epochs: f.usize("epochs", 1, |x| x > 0, "> 0"),
        optim: Optim::read(f, 5e-6, 1.0),
        rounds: f.usize("rounds", 1, |x| x > 0, "> 0"),
        reference: f.choice("reference", DpoReference::Start),
        vision_lr_scale: f.f64("vision_lr_scale", 1.0, |x| x >= 0.0, ">= 0 (0 = frozen)"),
        merger_lr_scale: 0.0,
    };
    let d = DpoStage {
        merger_lr_scale: f.f64("merger_lr_scale", d.vision_lr_scale, |x| x >= 0.0, ">= 0 (0 = frozen)"),
        ..d
    };
    Stage::Dpo(d)
}

fn rl(f: &mut Fields) -> Stage {
    let steps = f.usize("steps", 100, |x| x > 0, "> 0");
    let images = f.usize("images", 4, |x| x > 0, "> 0");
    let num_generations = f.usize("num_generations", 8, |x| x >= 2, ">= 2");
    let top_n = f.usize("top_n", 0, |x| x <= num_generations, "0 (all) or <= num_generations");
    let per_step = images * if top_n > 0 { top_n } else { num_generations };
    let epsilon = f.f64("epsilon", 0.2, |x| (0.0..1.0).contains(&x), "in [0, 1)");
    Stage::Rl(RlStage {
        steps,
        images,
        num_generations,
        top_n,
        num_iterations: f.usize("num_iterations", 1, |x| x > 0, "> 0"),
        loss_type: f.choice("loss_type", GrpoLossType::Dapo),
        scale_rewards: f.choice("scale_rewards", ScaleRewards::Group),
        epsilon,
        epsilon_high: f.f64("epsilon_high", epsilon, |x| x >= 0.0, ">= 0"),
        beta: f.f64("beta", 0.0, |x| x >= 0.0, ">= 0"),
        reference: f.choice("reference", DpoReference::Start),
        mask_truncated_completions: f.bool("mask_truncated_completions", false),
        micro_batch: f.usize(
            "micro_batch",
            per_step,
            |x| x > 0 && x <= per_step,
            "1..=images x (top_n or num_generations)",
        ),
        lr: f.f64("lr", 1e-6, |x| x > 0.0, "> 0"),
        warmup_steps: f.usize("warmup_steps", 0, |_| true, ""),
        min_lr_ratio: f.f64("min_lr_ratio", 1.0, |x| (0.0..=1.0).contains(&x), "in [0, 1]"),
        weight_decay: f.f64("weight_decay", 0.0, |x| x >= 0.0, ">= 0"),
        max_grad_norm: f.f64("max_grad_norm", 1.0, |x| x >= 0.0, ">= 0 (0 = off)"),
        log_every: f.usize("log_every", 10, |_| true, ""),
    })
}

fn eval(f: &mut Fields) -> Stage {
    Stage::Eval(EvalStage {
        limit: f.usize("limit", 0, |_| true, ""),
        iou_mode: f.choice("iou_mode", IouMode::InPlace),
        images: f.usize("images", 4, |_| true, ""),
    })
}
