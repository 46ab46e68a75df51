//! CLI commands `generate` and `logprobs` (clap-derive argument structs and runners printing
//! JSON lines to stdout), wired into the root `cadrl` binary.
use crate::policy::{DType, DeviceSpec, Example, GenerateOptions, ImageInput, ModelSpec, QwenVlPolicy};
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// `cadrl generate`: sample CadQuery programs for an image.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Checkpoint directory or Hugging Face model id (offline hub cache).
    #[arg(long)]
    pub model: String,
    /// Input image (PNG/JPEG).
    #[arg(long)]
    pub image: PathBuf,
    /// User instruction (default: GenCAD-Code's).
    #[arg(long)]
    pub prompt: Option<String>,
    /// PEFT LoRA adapter directory.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Candidates per image.
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Nucleus sampling: keep the most likely tokens whose probability mass reaches this (1
    /// keeps all).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// 0 disables top-k.
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Most tokens generated per candidate (the stop token included).
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens: usize,
    /// Seed of the candidates' random streams (same seed, same candidates).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32, bf16 or f16
    #[arg(long, default_value = "f32")]
    pub dtype: String,
}

/// `cadrl logprobs`: teacher-forced per-token log-probs of a completion.
#[derive(Debug, Clone, Args)]
pub struct LogprobsArgs {
    /// Checkpoint directory or Hugging Face model id (offline hub cache).
    #[arg(long)]
    pub model: String,
    /// Input image (PNG/JPEG).
    #[arg(long)]
    pub image: PathBuf,
    /// File holding the completion text.
    #[arg(long)]
    pub completion: PathBuf,
    /// User instruction (default: GenCAD-Code's).
    #[arg(long)]
    pub prompt: Option<String>,
    /// PEFT LoRA adapter directory.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32, bf16 or f16
    #[arg(long, default_value = "f32")]
    pub dtype: String,
}

fn load(model: &str, device: &str, dtype: &str, adapter: Option<&PathBuf>) -> Result<QwenVlPolicy> {
    let spec = ModelSpec {
        path_or_id: model.to_string(),
        device: device.parse::<DeviceSpec>()?,
        dtype: dtype.parse::<DType>()?,
    };
    let mut p = QwenVlPolicy::load(&spec, None)?;
    if let Some(a) = adapter {
        p.load_adapter(a).with_context(|| format!("loading adapter {}", a.display()))?;
    }
    Ok(p)
}

/// Run `generate`, one JSON line per candidate: `{"text", "token_ids", "logprobs"}`.
pub fn run_generate(a: &GenerateArgs) -> Result<()> {
    let p = load(&a.model, &a.device, &a.dtype, a.adapter.as_ref())?;
    let opts = GenerateOptions {
        prompt: a.prompt.clone(),
        n: a.n,
        temperature: a.temperature,
        top_p: a.top_p,
        top_k: a.top_k,
        max_new_tokens: a.max_new_tokens,
        seed: a.seed,
    };
    let out = p.generate(&[ImageInput::Path(a.image.clone())], &opts)?;
    let mut so = std::io::stdout().lock();
    for c in out.into_iter().flatten() {
        writeln!(so, "{}", json!({"text": c.text, "token_ids": c.token_ids, "logprobs": c.logprobs}))?;
    }
    Ok(())
}

/// Run `logprobs`: `{"token_ids", "logprobs"}` for the completion plus `<|im_end|>`.
pub fn run_logprobs(a: &LogprobsArgs) -> Result<()> {
    let p = load(&a.model, &a.device, &a.dtype, a.adapter.as_ref())?;
    let completion = std::fs::read_to_string(&a.completion)
        .with_context(|| format!("reading {}", a.completion.display()))?;
    let ids = p.tokenizer.completion_ids(&completion)?;
    let ex = Example { image: ImageInput::Path(a.image.clone()), prompt: a.prompt.clone(), completion };
    let lp = p.logprobs(&[ex], true)?;
    let lp = lp.into_iter().next().unwrap_or_default();
    println!("{}", json!({"token_ids": ids, "logprobs": lp}));
    Ok(())
}
