//! Recipes: a TOML file naming the model, data, rewards and the stages to run, resolved
//! into a checked [`Recipe`] with every error collected.
//!
//! `cadrl recipe check R.toml` reports all problems at once, each with its key and line
//! (`[dpo].beta (line 40): -1 is out of range (> 0)`); `key=value` overrides on the
//! command line address `section.key` (`run.seed=1`), every stage of a kind
//! (`dpo.beta=0.2`, `sample.k=8`) or one stage by position (`stage.3.lr=1e-5`). The
//! resolved recipe, with every default filled in, is saved as `recipe.resolved.toml` in
//! the run directory. Stage settings are in [`stages`].
//!
//! Every closed set is an enum read once here ([`fields::Choice`]: `dtype` is a
//! [`DType`], a DPO `loss` a [`DpoLossKind`], ...), so nothing downstream re-parses a
//! string; the resolved recipe is written from these typed values and reads back to the
//! same [`Recipe`].

pub mod fields;
pub mod stages;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::backend::BackendKind;
pub use cadrl_backend::{DType, DeviceSpec, DpoLossKind};
use cadrl_rewards::executor::{ExecutorKind, ExecutorSpec};
pub use cadrl_rewards::metrics::iou::IouMode;
pub use cadrl_rewards::reward::RewardSpec;

pub use crate::data::source::{DataSpec, OnError, SourceKind, Subset};
use fields::{Fields, Overrides, Spanned, Val};
pub use stages::{
    DpoReference, DpoStage, EvalStage, InitStage, MonitorMetric, Optim, PairStrategy, RlStage, SampleStage,
    ScaleRewards, SftStage, Stage, VisionStage,
};

// Every closed set a recipe key names, read by `Fields::choice`.
fields::choices!(
    crate::backend::BackendKind,
    cadrl_backend::DType,
    cadrl_backend::DpoLossKind,
    cadrl_backend::GrpoLossType,
    cadrl_rewards::metrics::iou::IouMode,
    cadrl_rewards::executor::ExecutorKind,
    crate::data::source::OnError,
    Finetune,
    crate::data::source::SourceKind,
    stages::MonitorMetric,
    stages::PairStrategy,
    stages::DpoReference,
    stages::ScaleRewards,
);

/// `[run]`: naming, seeds, checkpoints.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunCfg {
    /// Run directory name: `<log_dir>/<name>-<YYYYmmdd-HHMMSS>`.
    pub name: String,
    /// Where run directories go (TensorBoard's `--logdir`).
    pub log_dir: PathBuf,
    /// Seed of data order, initialisation, sampling and dropout.
    pub seed: u64,
    /// torch intra-op threads: libtorch's, or the transformers worker's (0 = the default).
    pub threads: usize,
    /// Optimizer steps between checkpoints inside `sft` / `dpo`, sampling steps inside
    /// `rl` (0 = stage ends only).
    pub checkpoint_every: usize,
}

/// `[model]`: the policy to start from.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ModelCfg {
    /// Hub id or local directory; empty when an `init` stage creates the model.
    pub path: String,
    /// Which backend loads it: `tch` (every stage) or `transformers` (sampling and
    /// scoring only: no training stage).
    pub backend: BackendKind,
    /// `cpu`, `cuda` or `cuda:N` (written back as `cpu` / `cuda:N`).
    pub device: DeviceSpec,
    /// Weights and activations: `f32`, `bf16` or `f16`.
    pub dtype: DType,
    /// What training stages update: LoRA adapters or every weight.
    pub finetune: Finetune,
    /// The instruction given with each image (default: GenCAD-Code's).
    pub prompt: String,
}

/// `[model].finetune`: what a training stage updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Finetune {
    /// LoRA adapters on a frozen base.
    Lora,
    /// Every weight.
    Full,
}

impl Finetune {
    /// Every value, in the order recipe errors list them.
    pub const ALL: [Finetune; 2] = [Finetune::Lora, Finetune::Full];

    /// The recipe's (and serde's) name.
    pub fn name(self) -> &'static str {
        match self {
            Finetune::Lora => "lora",
            Finetune::Full => "full",
        }
    }
}

/// `[lora]`: the adapters of `finetune = "lora"` (PEFT's meaning of each key).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LoraCfg {
    /// Rank r of each adapter (default 16).
    pub rank: usize,
    /// Scale numerator: the update is `alpha / rank * B A` (default 32).
    pub alpha: f64,
    /// Dropout on the adapter's input while training, in [0, 1) (default 0.05).
    pub dropout: f64,
    /// Linear layers that get adapters, by name (default the attention projections
    /// `q_proj`, `k_proj`, `v_proj`, `o_proj`).
    pub targets: Vec<String>,
    /// Adapters on the vision tower too.
    pub vision: bool,
}

/// `[data]` (training) and `[eval_data]` (held out): the data set ([`DataSpec`]: source,
/// path, repo, revision, split, subset, on_error) and, for `source = "synthetic"`, what
/// the generator makes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DataCfg {
    /// Where the data comes from and which rows are read.
    #[serde(flatten)]
    pub spec: DataSpec,
    /// Synthetic: how many samples to generate.
    pub n: usize,
    /// Synthetic: the generator seed (sample `i` of a seed is always the same part).
    pub seed: u64,
    /// Synthetic difficulty knobs ([`crate::data::synth::SynthConfig`]).
    pub synth: crate::data::synth::SynthConfig,
}

/// `[executor]`: how generated programs are run: `native` (the Rust interpreter),
/// `occt` (real CadQuery in sandboxed worker processes) or `auto` (native, occt for what
/// native does not support); the pool settings are [`ExecutorSpec`]'s.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ExecCfg {
    /// The variable holding the result.
    pub var: String,
    /// Executor kind and worker pool settings.
    #[serde(flatten)]
    pub spec: ExecutorSpec,
}

/// `[generation]`: sampling settings of the `sample` and `rl` stages (eval decodes
/// greedily).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GenCfg {
    /// Softmax temperature, >= 0 (0 = greedy; `rl` also scores log-probs at it).
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens with this much mass, in (0, 1].
    pub top_p: f64,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Longest program in tokens (TRL's `max_completion_length`).
    pub max_new_tokens: usize,
    /// Images per generate call.
    pub batch_images: usize,
}

/// A checked recipe.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Recipe {
    /// `[run]`.
    pub run: RunCfg,
    /// `[model]`.
    pub model: ModelCfg,
    /// `[lora]`, present exactly when `finetune = "lora"`.
    pub lora: Option<LoraCfg>,
    /// `[data]`: what training stages read.
    pub data: DataCfg,
    /// `[eval_data]`: held-out parts for `eval` stages and SFT monitoring.
    pub eval_data: DataCfg,
    /// `[executor]`.
    pub executor: ExecCfg,
    /// `[[reward]]`: a registry name, a weight, its parameters (checked by building it).
    pub reward: Vec<RewardSpec>,
    /// `[generation]`.
    pub generation: GenCfg,
    /// `[[stage]]`s, run in order.
    pub stage: Vec<Stage>,
}

impl Recipe {
    /// TOML of the resolved recipe (every default filled in).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# could not serialise the recipe: {e}\n"))
    }
}

/// Every problem found in a recipe.
#[derive(Debug)]
pub struct RecipeErrors {
    /// The recipe file.
    pub file: PathBuf,
    /// One message per problem, each naming its key and line.
    pub errors: Vec<String>,
}

impl std::fmt::Display for RecipeErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: {} error(s):", self.file.display(), self.errors.len())?;
        for e in &self.errors {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RecipeErrors {}

/// Read, override and check a recipe file.
pub fn load(path: &Path, overrides: &[String]) -> Result<Recipe, RecipeErrors> {
    let fail = |errors: Vec<String>| RecipeErrors { file: path.to_path_buf(), errors };
    let text = std::fs::read_to_string(path).map_err(|e| fail(vec![format!("cannot read: {e}")]))?;
    let mut ov = fields::parse_overrides(overrides).map_err(fail)?;
    resolve(&text, &mut ov).map_err(fail)
}

const SECTIONS: [&str; 9] =
    ["run", "model", "lora", "data", "eval_data", "executor", "reward", "generation", "stage"];

fn table<'a>(
    root: &'a [(String, Spanned)],
    key: &str,
    errors: &mut Vec<String>,
) -> (&'a [(String, Spanned)], usize) {
    match root.iter().find(|(k, _)| k == key) {
        Some((_, Spanned { val: Val::Table(t), line })) => (t.as_slice(), *line),
        Some((_, v)) => {
            errors.push(format!("[{key}] (line {}): expected a table, got {}", v.line, v.val.type_name()));
            (&[], 0)
        }
        None => (&[], 0),
    }
}

fn array_of_tables<'a>(
    root: &'a [(String, Spanned)],
    key: &str,
    errors: &mut Vec<String>,
) -> Vec<(&'a [(String, Spanned)], usize)> {
    match root.iter().find(|(k, _)| k == key) {
        None => vec![],
        Some((_, Spanned { val: Val::Arr(a), .. })) => a
            .iter()
            .filter_map(|x| match &x.val {
                Val::Table(t) => Some((t.as_slice(), x.line)),
                v => {
                    errors.push(format!(
                        "[[{key}]] (line {}): expected a table, got {}",
                        x.line,
                        v.type_name()
                    ));
                    None
                }
            })
            .collect(),
        Some((_, v)) => {
            errors.push(format!("{key} (line {}): expected [[{key}]] tables", v.line));
            vec![]
        }
    }
}

fn pre(s: &str) -> Vec<String> {
    vec![format!("{s}.")]
}

/// Resolve recipe text with overrides; all errors at once.
pub fn resolve(text: &str, ov: &mut Overrides) -> Result<Recipe, Vec<String>> {
    let root = fields::parse(text).map_err(|e| vec![e])?;
    let mut errors = vec![];
    for (k, v) in &root {
        if !SECTIONS.contains(&k.as_str()) {
            errors.push(format!("{k} (line {}): unknown section (known: {})", v.line, SECTIONS.join(", ")));
        }
    }

    let (t, line) = table(&root, "run", &mut errors);
    let mut f = Fields::new("[run]", line, t, ov, &pre("run"), &mut errors);
    let run = RunCfg {
        name: f.str("name", "run"),
        log_dir: PathBuf::from(f.str("log_dir", "runs")),
        seed: f.u64("seed", 0, |_| true, ""),
        threads: f.usize("threads", 0, |_| true, ""),
        checkpoint_every: f.usize("checkpoint_every", 0, |_| true, ""),
    };
    if run.name.is_empty() || run.name.contains(['/', '\\']) {
        f.err(format!("[run].name: `{}` must be a non-empty file name", run.name));
    }
    f.finish(&["name", "log_dir", "seed", "threads", "checkpoint_every"]);

    let (t, line) = table(&root, "model", &mut errors);
    let mut f = Fields::new("[model]", line, t, ov, &pre("model"), &mut errors);
    let model = ModelCfg {
        path: f.str("path", ""),
        backend: f.choice("backend", BackendKind::Tch),
        device: f.parsed("device", DeviceSpec::Cpu, |s| {
            s.parse().map_err(|_| format!("`{s}` is not cpu, cuda or cuda:N"))
        }),
        dtype: f.choice("dtype", DType::F32),
        finetune: f.choice("finetune", Finetune::Lora),
        prompt: f.str("prompt", crate::data::GENCAD_PROMPT),
    };
    f.finish(&["path", "backend", "device", "dtype", "finetune", "prompt"]);

    let has_lora = root.iter().any(|(k, _)| k == "lora");
    let (t, line) = table(&root, "lora", &mut errors);
    let mut f = Fields::new("[lora]", line, t, ov, &pre("lora"), &mut errors);
    let lora = LoraCfg {
        rank: f.usize("rank", 16, |x| x > 0, "> 0"),
        alpha: f.f64("alpha", 32.0, |x| x > 0.0, "> 0"),
        dropout: f.f64("dropout", 0.05, |x| (0.0..1.0).contains(&x), "in [0, 1)"),
        targets: f.strings("targets", &["q_proj", "k_proj", "v_proj", "o_proj"]),
        vision: f.bool("vision", false),
    };
    f.finish(&["rank", "alpha", "dropout", "targets", "vision"]);
    let lora = (model.finetune == Finetune::Lora).then_some(lora);
    if model.finetune == Finetune::Full && has_lora {
        errors.push("[lora]: given but [model].finetune = \"full\" (remove one)".into());
    }

    let data = data_cfg(&root, "data", ov, &mut errors);
    let eval_data = data_cfg(&root, "eval_data", ov, &mut errors);

    let (t, line) = table(&root, "executor", &mut errors);
    let mut f = Fields::new("[executor]", line, t, ov, &pre("executor"), &mut errors);
    let var = f.str("var", "solid");
    let spec = ExecutorSpec {
        kind: f.choice("kind", ExecutorKind::Native),
        python: f.str_opt("python").map(PathBuf::from),
        workers: Some(f.usize("workers", 0, |x| x > 0, "> 0 (leave out for one per core)"))
            .filter(|&w| w > 0),
        timeout_s: Some(f.f64("timeout_s", 10.0, |x| x > 0.0 && x <= 3600.0, "in (0, 3600]")),
        recycle_after: Some(f.usize("recycle_after", 2000, |x| x > 0, "> 0")),
        memory_mb: Some(f.u64("memory_mb", 3072, |x| x >= 1536, ">= 1536")),
    };
    f.finish(&["kind", "var", "python", "workers", "timeout_s", "recycle_after", "memory_mb"]);
    let executor = ExecCfg { var, spec };

    let mut reward = vec![];
    for (i, (t, line)) in array_of_tables(&root, "reward", &mut errors).into_iter().enumerate() {
        let name = format!("[[reward]] #{}", i + 1);
        let mut params = serde_json::Map::new();
        let mut kind = String::new();
        let mut weight = 1.0;
        for (k, v) in t {
            match (k.as_str(), &v.val) {
                ("kind", Val::Str(s)) => kind = s.clone(),
                ("weight", Val::Float(x)) => weight = *x,
                ("weight", Val::Int(x)) => weight = *x as f64,
                ("kind" | "weight", other) => {
                    errors.push(format!("{name}.{k} (line {}): wrong type ({})", v.line, other.type_name()))
                }
                _ => {
                    params.insert(k.clone(), v.val.to_json());
                }
            }
        }
        if kind.is_empty() {
            errors.push(format!("{name} (line {line}): missing `kind`"));
            continue;
        }
        if let Err(e) = cadrl_rewards::reward::build(&kind, serde_json::Value::Object(params.clone())) {
            errors.push(format!("{name} (line {line}): {e}"));
        }
        reward.push(RewardSpec { kind, weight, params });
    }

    let (t, line) = table(&root, "generation", &mut errors);
    let mut f = Fields::new("[generation]", line, t, ov, &pre("generation"), &mut errors);
    let generation = GenCfg {
        temperature: f.f64("temperature", 1.0, |x| x >= 0.0, ">= 0"),
        top_p: f.f64("top_p", 1.0, |x| x > 0.0 && x <= 1.0, "in (0, 1]"),
        top_k: f.usize("top_k", 0, |_| true, ""),
        max_new_tokens: f.usize("max_new_tokens", 1024, |x| x > 0, "> 0"),
        batch_images: f.usize("batch_images", 4, |x| x > 0, "> 0"),
    };
    f.finish(&["temperature", "top_p", "top_k", "max_new_tokens", "batch_images"]);

    let tables = array_of_tables(&root, "stage", &mut errors);
    let stage = stages::resolve_all(&tables, ov, &mut errors);

    if stage.is_empty() {
        errors.push("no [[stage]] given: a recipe lists its stages in order".into());
    }
    let has_init = stage.iter().any(|s| matches!(s, Stage::Init(_)));
    if has_init && !matches!(stage.first(), Some(Stage::Init(_))) {
        errors.push("an `init` stage must come first".into());
    }
    if !has_init && model.path.is_empty() {
        errors.push("[model].path is missing (or add an `init` stage that creates the model)".into());
    }
    if has_init && !model.path.is_empty() {
        errors.push(format!(
            "[model].path = `{}` but an `init` stage creates the model (remove one)",
            model.path
        ));
    }
    if has_init
        && data.spec.source == SourceKind::Gencad
        && data.spec.path.is_none()
        && data.spec.repo.is_empty()
    {
        errors.push(
            "[data]: the init stage trains its tokenizer on the training programs, which need a source"
                .into(),
        );
    }
    if stage.iter().any(|s| matches!(s, Stage::Sample(_) | Stage::Dpo(_))) && reward.is_empty() {
        errors.push("a `sample` stage needs at least one [[reward]]".into());
    }
    if stage.iter().any(|s| matches!(s, Stage::Rl(_))) && reward.is_empty() {
        errors.push("an `rl` stage needs at least one [[reward]]".into());
    }
    if model.finetune == Finetune::Full
        && stage
            .iter()
            .any(|s| matches!(s, Stage::Rl(r) if r.beta > 0.0 && r.reference == DpoReference::Base))
    {
        errors.push("an rl stage has beta > 0 with reference = \"base\" (adapters off) but [model].finetune = \"full\" has no adapters".into());
    }
    if model.finetune == Finetune::Full
        && stage.iter().any(|s| matches!(s, Stage::Dpo(d) if d.reference == DpoReference::Base))
    {
        errors.push("a dpo stage has reference = \"base\" (adapters off) but [model].finetune = \"full\" has no adapters".into());
    }
    for (i, s) in stage.iter().enumerate() {
        if !model.backend.trains() && s.trains() {
            errors.push(format!(
                "stage {i} ({}) trains the model, but [model].backend = \"{}\" only samples and scores \
                 (use backend = \"tch\", or keep only sample and eval stages)",
                s.kind(),
                model.backend.name()
            ));
        }
        if let Stage::Sft(s) = s
            && s.monitor_every > 0
            && s.monitor_metric == MonitorMetric::ValLoss
            && s.val_samples == 0
        {
            errors.push(format!(
                "stage {i} (sft).monitor_metric = \"val_loss\" needs val_samples > 0 (the validation loss it reads)"
            ));
        }
        if let Stage::Vision(_) = s
            && model.finetune == Finetune::Lora
            && !lora.as_ref().is_some_and(|l| l.vision)
        {
            errors.push(format!(
                "stage {i} (vision) trains the vision tower: with [model].finetune = \"lora\" set [lora].vision = true"
            ));
        }
        let scales = match s {
            Stage::Sft(s) => Some((s.vision_lr_scale, s.merger_lr_scale)),
            Stage::Dpo(s) => Some((s.vision_lr_scale, s.merger_lr_scale)),
            _ => None,
        };
        if let Some((v, m)) = scales
            && model.finetune == Finetune::Lora
            && m != v
        {
            errors.push(format!(
                "stage {i} ({}).merger_lr_scale: the merger has its own rate only in full fine-tuning ([model].finetune = \"lora\")",
                s.kind()
            ));
        }
    }
    for (k, (_, text)) in ov.iter() {
        errors.push(format!("override `{text}`: `{k}` addresses no known section or stage kind"));
    }
    ov.clear();
    if errors.is_empty() {
        Ok(Recipe { run, model, lora, data, eval_data, executor, reward, generation, stage })
    } else {
        Err(errors)
    }
}

fn data_cfg(root: &[(String, Spanned)], key: &str, ov: &mut Overrides, errors: &mut Vec<String>) -> DataCfg {
    let (t, line) = table(root, key, errors);
    let section = format!("[{key}]");
    let mut f = Fields::new(&section, line, t, ov, &pre(key), errors);
    let some = |s: String| (!s.is_empty()).then_some(s);
    let mut d = DataCfg {
        spec: DataSpec {
            source: f.choice("source", SourceKind::Synthetic),
            path: some(f.str("path", "")).map(PathBuf::from),
            repo: f.str("repo", crate::data::hub::GENCAD_REPO),
            revision: some(f.str("revision", "")),
            split: f.str("split", if key == "data" { "train" } else { "test" }),
            subset: f.parsed("subset", Subset::All, |s| s.parse()),
            shuffle_seed: None,
            on_error: f.choice("on_error", OnError::Skip),
        },
        n: f.usize("n", 256, |x| x > 0, "> 0"),
        seed: f.u64("seed", if key == "data" { 0 } else { 1 }, |_| true, ""),
        synth: Default::default(),
    };
    if let Some((v, at)) = f.json_table("synth") {
        match serde_json::from_value::<crate::data::synth::SynthConfig>(v) {
            Ok(s) => {
                for problem in s.problems() {
                    f.err(format!("{at}: {problem}"));
                }
                d.synth = s;
            }
            Err(e) => f.err(format!("{at}: {e}")),
        }
    }
    if d.spec.source == SourceKind::Jsonl && d.spec.path.is_none() {
        f.err(format!("{} : source = \"jsonl\" needs `path`", f.place()));
    }
    f.finish(&["source", "path", "repo", "revision", "split", "subset", "on_error", "n", "seed", "synth"]);
    d
}
