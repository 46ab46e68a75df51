//! Qwen2.5-VL on Hugging Face transformers (+ PEFT) as a second implementation of
//! `cadrl_backend::{Backend, Policy}`, for sampling and scoring: the reference a user
//! already trusts, and a model served exactly as `transformers` serves it.
//!
//! Each loaded policy is a long-lived Python worker process (`python/worker.py`, embedded
//! here) that loads `Qwen2_5_VLForConditionalGeneration`, the checkpoint's image processor
//! (`Qwen2VLImageProcessorPil` when `preprocessor_config.json` says `"image_backend":
//! "pil"`, else `Qwen2VLImageProcessor`), its tokenizer and chat template, and answers
//! requests in JSON lines (the private `worker` module starts it, talks to it and kills it
//! when the policy is dropped). Token conventions are the tch backend's: prompts are the chat
//! template for one user turn with `<|image_pad|>` expanded, completions are scored with
//! their `<|im_end|>`, candidates keep the stop token they stopped on, and log-probs are the
//! model's own distribution at temperature 1.
//!
//! What it does not do: train. Every training, optimizer, probe and saving method returns
//! an error naming the method; `load` with fresh LoRA adapters is refused (trained adapters
//! load with [`Policy::load_adapter`]); `init_checkpoint` is refused. Sampling with a seed
//! is reproducible within this backend (torch's generator seeded per call) but draws
//! different candidates than the tch backend's per-candidate RNGs; greedy decoding agrees.
//! No libtorch is linked: the Python is the one given to [`HfBackend::with_python`], else
//! `$CADRL_HF_PYTHON`, else `$CADRL_TORCH_PYTHON`, else the set-up's torch venv
//! (`~/.cache/cadrl/torch-2.11.0/bin/python`) when it exists, else `python3`.
#![warn(missing_docs)]
use anyhow::{Context, Result, anyhow, bail};
use cadrl_backend::{
    Backend, Candidate, DEFAULT_PROMPT, DpoLoss, DpoStats, Example, GenerateOptions, GrpoLoss, GrpoStats,
    ImageInput, InitConfig, LoraConfig, ModelSpec, Policy, PreferencePair, Rollout, StepStats,
    TokenizerReport, TrainConfig, Weights,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod worker;
use worker::Worker;

/// The transformers backend. `manual_seed` and `set_num_threads` are kept and applied to
/// each policy loaded afterwards (each policy is its own process).
#[derive(Debug)]
pub struct HfBackend {
    /// The Python given to [`HfBackend::with_python`] (`None`: the default).
    python: Option<PathBuf>,
    /// The last `manual_seed`, sent to each worker at load.
    seed: Mutex<Option<u64>>,
    /// The last `set_num_threads` (`None` for 0: torch's default).
    threads: Mutex<Option<usize>>,
}

impl Default for HfBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl HfBackend {
    /// The backend with the default Python (see the crate docs; usable in a `static`).
    pub const fn new() -> Self {
        Self { python: None, seed: Mutex::new(None), threads: Mutex::new(None) }
    }

    /// The backend with its workers run by `python`.
    pub fn with_python(python: impl Into<PathBuf>) -> Self {
        Self { python: Some(python.into()), ..Self::new() }
    }

    /// The Python that runs the workers: the one given, else the default.
    fn python(&self) -> PathBuf {
        self.python.clone().unwrap_or_else(worker::default_python)
    }

    /// [`Backend::load`] with the concrete type (tests reach the worker through it).
    pub fn load_policy(&self, spec: &ModelSpec) -> Result<HfPolicy> {
        let dir = cadrl_backend::hub::resolve_model_dir(&spec.path_or_id)?;
        let mut w = Worker::spawn(&self.python())?;
        let seed = *self.seed.lock().unwrap_or_else(|e| e.into_inner());
        let threads = *self.threads.lock().unwrap_or_else(|e| e.into_inner());
        let path = dir.to_str().with_context(|| format!("{}: not UTF-8", dir.display()))?;
        let info = w
            .call(&json!({
                "op": "load",
                "path": path,
                "device": spec.device.to_string(),
                "dtype": spec.dtype.name(),
                "seed": seed,
                "threads": threads,
            }))
            .with_context(|| format!("loading {} with transformers", dir.display()))?;
        Ok(HfPolicy { worker: Mutex::new(w), model_dir: dir, adapter: None, info })
    }
}

impl Backend for HfBackend {
    fn name(&self) -> &'static str {
        "transformers"
    }

    fn load(&self, spec: &ModelSpec, lora: Option<LoraConfig>) -> Result<Box<dyn Policy>> {
        if lora.is_some() {
            bail!(
                "the transformers backend does not train, so it attaches no fresh LoRA adapters: load a \
                 trained adapter (Policy::load_adapter, `cadrl eval --adapter`), or train with the tch backend"
            );
        }
        Ok(Box::new(self.load_policy(spec)?))
    }

    fn manual_seed(&self, seed: u64) {
        *self.seed.lock().unwrap_or_else(|e| e.into_inner()) = Some(seed);
    }

    fn set_num_threads(&self, n: usize) {
        *self.threads.lock().unwrap_or_else(|e| e.into_inner()) = (n > 0).then_some(n);
    }

    fn init_checkpoint(
        &self,
        _: &InitConfig,
        _: &[String],
        _: usize,
        _: &Path,
        _: u64,
    ) -> Result<TokenizerReport> {
        Err(unsupported("init_checkpoint"))
    }
}

/// The error of every method the transformers backend does not implement.
fn unsupported(method: &str) -> anyhow::Error {
    anyhow!(
        "{method}: the transformers backend only samples and scores (generate, logprobs, pair_logprobs, \
         load_adapter); train with the tch backend ([model] backend = \"tch\")"
    )
}

/// A policy served by a transformers worker process (killed when this is dropped).
#[derive(Debug)]
pub struct HfPolicy {
    /// The worker process, one request at a time.
    worker: Mutex<Worker>,
    /// The resolved checkpoint directory.
    model_dir: PathBuf,
    /// The adapter loaded last.
    adapter: Option<PathBuf>,
    /// The worker's answer to `load`.
    info: Value,
}

fn image_json(img: &ImageInput) -> Result<Value> {
    Ok(match img {
        ImageInput::Path(p) => {
            json!({"path": p.to_str().with_context(|| format!("image path {} is not UTF-8", p.display()))?})
        }
        ImageInput::Rgb8 { width, height, data } => {
            if data.len() != 3 * width * height {
                bail!(
                    "an RGB8 image of {width}x{height} needs {} bytes, got {}",
                    3 * width * height,
                    data.len()
                );
            }
            json!({"rgb8": worker::base64(data), "width": width, "height": height})
        }
    })
}

impl HfPolicy {
    /// What the worker reported at load: `image_backend` (`pil` or `torchvision`),
    /// `stop_ids`, `im_end_id`, `dtype`, `device`.
    pub fn info(&self) -> &Value {
        &self.info
    }

    /// The adapter loaded last, if any.
    pub fn adapter(&self) -> Option<&Path> {
        self.adapter.as_deref()
    }

    /// The worker's process id.
    pub fn worker_pid(&self) -> u32 {
        self.lock().pid()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Worker> {
        self.worker.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn call<T: serde::de::DeserializeOwned>(&self, request: Value) -> Result<T> {
        let op = request["op"].as_str().unwrap_or("?").to_string();
        let v = self.lock().call(&request)?;
        serde_json::from_value(v).with_context(|| format!("transformers worker: `{op}`: unexpected reply"))
    }

    fn examples_json(examples: &[Example]) -> Result<Vec<Value>> {
        examples
            .iter()
            .map(|e| {
                Ok(json!({
                    "image": image_json(&e.image)?,
                    "prompt": e.prompt.as_deref().unwrap_or(DEFAULT_PROMPT),
                    "completion": e.completion,
                }))
            })
            .collect()
    }
}

impl Policy for HfPolicy {
    fn model_dir(&self) -> &Path {
        &self.model_dir
    }

    fn set_model_dir(&mut self, dir: PathBuf) {
        self.model_dir = dir;
    }

    fn generate(&self, images: &[ImageInput], opts: &GenerateOptions) -> Result<Vec<Vec<Candidate>>> {
        if images.is_empty() {
            return Ok(vec![]);
        }
        let imgs = images.iter().map(image_json).collect::<Result<Vec<_>>>()?;
        let out: Vec<Vec<Candidate>> = self.call(json!({
            "op": "generate",
            "images": imgs,
            "prompt": opts.prompt.as_deref().unwrap_or(DEFAULT_PROMPT),
            "n": opts.n.max(1),
            "temperature": opts.temperature,
            "top_p": opts.top_p,
            "top_k": opts.top_k,
            "max_new_tokens": opts.max_new_tokens,
            "seed": opts.seed,
        }))?;
        if out.len() != images.len() || out.iter().any(|c| c.len() != opts.n.max(1)) {
            bail!(
                "transformers worker: `generate` answered {} images for {} ({} candidates each asked)",
                out.len(),
                images.len(),
                opts.n.max(1)
            );
        }
        Ok(out)
    }

    fn logprobs(&self, examples: &[Example], adapter_on: bool) -> Result<Vec<Vec<f32>>> {
        if examples.is_empty() {
            return Ok(vec![]);
        }
        let out: Vec<Vec<f32>> = self.call(json!({
            "op": "logprobs",
            "examples": Self::examples_json(examples)?,
            "adapter_on": adapter_on,
        }))?;
        if out.len() != examples.len() {
            bail!("transformers worker: `logprobs` answered {} sequences for {}", out.len(), examples.len());
        }
        Ok(out)
    }

    /// As the tch backend: all chosen completions, then all rejected ones, scored in one
    /// call; each side's per-token log-probs summed in f64.
    fn pair_logprobs(&self, pairs: &[PreferencePair], adapter_on: bool) -> Result<Vec<(f64, f64)>> {
        let side = |chosen: bool| {
            pairs.iter().map(move |p| Example {
                image: p.image.clone(),
                prompt: p.prompt.clone(),
                completion: if chosen { p.chosen.clone() } else { p.rejected.clone() },
            })
        };
        let ex: Vec<Example> = side(true).chain(side(false)).collect();
        let lps = self.logprobs(&ex, adapter_on)?;
        let sums: Vec<f64> = lps.iter().map(|v| v.iter().map(|&x| f64::from(x)).sum()).collect();
        let n = pairs.len();
        Ok((0..n).map(|i| (sums[i], sums[n + i])).collect())
    }

    /// Nothing to switch: this backend does not train (the steps say so).
    fn enable_full_finetune(&mut self) {}

    /// Kept nowhere: this backend does not train.
    fn set_train_config(&mut self, _: TrainConfig) {}

    fn reset_optimizer(&mut self) {}

    fn set_lr(&mut self, _: f64) {}

    fn sft_step(&mut self, _: &[Example]) -> Result<StepStats> {
        Err(unsupported("sft_step"))
    }

    fn dpo_step(&mut self, _: &[PreferencePair], _: Option<&[(f64, f64)]>, _: &DpoLoss) -> Result<DpoStats> {
        Err(unsupported("dpo_step"))
    }

    fn rollout_logprobs(&mut self, _: &[Rollout], _: Weights, _: f64) -> Result<Vec<Vec<f32>>> {
        Err(unsupported("rollout_logprobs"))
    }

    fn grpo_step(&mut self, _: &[Rollout], _: &GrpoLoss) -> Result<GrpoStats> {
        Err(unsupported("grpo_step"))
    }

    fn snapshot(&mut self) -> Result<()> {
        Err(unsupported("snapshot"))
    }

    fn save_snapshot(&self, _: &Path) -> Result<()> {
        Err(unsupported("save_snapshot"))
    }

    fn load_snapshot(&mut self, _: &Path) -> Result<()> {
        Err(unsupported("load_snapshot"))
    }

    fn vision_step(&mut self, _: &[ImageInput], _: &[Vec<f32>]) -> Result<StepStats> {
        Err(unsupported("vision_step"))
    }

    fn probe_predict(&self, _: &[ImageInput]) -> Result<Vec<Vec<f32>>> {
        Err(unsupported("probe_predict"))
    }

    fn has_probe(&self) -> bool {
        false
    }

    fn save_adapter(&mut self, _: &Path) -> Result<()> {
        Err(unsupported("save_adapter"))
    }

    /// PEFT's `PeftModel.from_pretrained` (replacing an adapter loaded before);
    /// `adapter_on = false` then scores through `disable_adapter()`.
    fn load_adapter(&mut self, dir: &Path) -> Result<()> {
        let path = dir.to_str().with_context(|| format!("{}: not UTF-8", dir.display()))?;
        let _: Value = self
            .call(json!({"op": "load_adapter", "dir": path}))
            .with_context(|| format!("loading adapter {}", dir.display()))?;
        self.adapter = Some(dir.to_path_buf());
        Ok(())
    }

    fn save_full(&self, _: &Path) -> Result<()> {
        Err(unsupported("save_full"))
    }

    fn save_optimizer(&self, _: &Path) -> Result<()> {
        Err(unsupported("save_optimizer"))
    }

    fn load_optimizer(&mut self, _: &Path) -> Result<()> {
        Err(unsupported("load_optimizer"))
    }

    fn save_probe(&self, _: &Path) -> Result<()> {
        Err(unsupported("save_probe"))
    }

    fn load_probe(&mut self, _: &Path) -> Result<()> {
        Err(unsupported("load_probe"))
    }
}
