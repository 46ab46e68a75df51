//! `cadrl measure`: time what a recipe asks of a model, one phase per call, on one image
//! and one completion, and print one JSON line per phase. The device check
//! (`scripts/gpu_check.sh`) runs each phase in its own process so that the process's peak
//! memory is the phase's; the same phases run on transformers (+PEFT) in
//! `scripts/gpu_check/hf_measure.py`, with the same shapes and settings.
//!
//! Phases: `logprobs` (teacher-forced per-token log-probs of the completion, reported),
//! `greedy` (greedy tokens, reported), `sft` (LoRA SFT steps on `micro_batch` copies of the
//! example), `dpo` (DPO steps on `micro_batch` pairs, reference log-probs computed once
//! before timing, as a recipe's cached reference), `sample` (`n` sampled candidates of at
//! most `max_new_tokens` tokens). Step phases run `warmup` untimed steps first and report
//! the median of `steps` timed ones.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cadrl_backend::{
    DType, DeviceSpec, DpoLoss, Example, GenerateOptions, ImageInput, LoraConfig, ModelSpec, PreferencePair,
    TrainConfig,
};
use clap::{Args, ValueEnum};
use serde_json::json;

/// One thing to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Phase {
    /// Teacher-forced per-token log-probs of the completion.
    Logprobs,
    /// Greedy decoding of `max_new_tokens` tokens.
    Greedy,
    /// LoRA (or full) SFT steps.
    Sft,
    /// DPO steps with a cached reference.
    Dpo,
    /// Sampling `n` candidates.
    Sample,
}

/// The arguments of `cadrl measure`.
#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// Checkpoint directory or Hugging Face model id.
    #[arg(long)]
    model: String,
    /// The image (448x448 for GenCAD-Code's renders).
    #[arg(long)]
    image: PathBuf,
    /// File holding the completion (a CadQuery program).
    #[arg(long)]
    completion: PathBuf,
    /// What to time; several phases run in the order given, in this process.
    #[arg(long, value_delimiter = ',', required = true)]
    phase: Vec<Phase>,
    /// cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// f32, bf16 or f16 (with LoRA: the frozen base weights; adapters stay f32)
    #[arg(long, default_value = "f32")]
    dtype: DType,
    /// LoRA rank for `sft` and `dpo` (alpha = 2 x rank, the recipe's seven projections);
    /// 0 trains every weight.
    #[arg(long, default_value_t = 16)]
    lora_rank: usize,
    /// Examples (sft) or pairs (dpo) per step, one micro-batch.
    #[arg(long, default_value_t = 4)]
    micro_batch: usize,
    /// Recompute decoder blocks in backward (the recipes' setting).
    #[arg(long)]
    grad_checkpointing: bool,
    /// Timed steps (sft, dpo); the median is reported.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Untimed steps first (kernel selection, allocator warm-up).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Candidates (sample).
    #[arg(long, default_value_t = 16)]
    n: usize,
    /// New tokens at most (greedy, sample).
    #[arg(long, default_value_t = 512)]
    max_new_tokens: usize,
    /// Sampling temperature (sample).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Times the phase asked for and prints one JSON line.
pub fn run(a: &MeasureArgs) -> Result<()> {
    if a.micro_batch == 0 || a.steps == 0 || a.n == 0 || a.max_new_tokens == 0 {
        bail!("--micro-batch, --steps, --n and --max-new-tokens must be > 0");
    }
    let completion = std::fs::read_to_string(&a.completion)
        .with_context(|| format!("reading the completion {}", a.completion.display()))?;
    let backend = crate::backend::default_backend()?;
    backend.manual_seed(a.seed);
    let trains = a.phase.iter().any(|p| matches!(p, Phase::Sft | Phase::Dpo));
    let lora = (trains && a.lora_rank > 0).then(|| LoraConfig {
        r: a.lora_rank,
        alpha: 2.0 * a.lora_rank as f64,
        dropout: 0.0,
        ..Default::default()
    });
    let spec = ModelSpec { path_or_id: a.model.clone(), device: a.device, dtype: a.dtype };
    let t0 = Instant::now();
    let mut policy = backend.load(&spec, lora.clone())?;
    if trains && lora.is_none() {
        policy.enable_full_finetune();
    }
    let load_s = t0.elapsed().as_secs_f64();
    policy.set_train_config(TrainConfig {
        lr: 1e-5,
        grad_checkpointing: a.grad_checkpointing,
        micro_batch: a.micro_batch,
        ..Default::default()
    });
    let image = ImageInput::Path(a.image.clone());
    let example = Example { image: image.clone(), prompt: None, completion: completion.clone() };
    for &phase in &a.phase {
        let mut out = json!({
            "phase": phase_name(phase), "backend": backend.name(), "device": a.device.to_string(),
            "dtype": a.dtype.name(), "load_s": load_s,
        });
        match phase {
            Phase::Logprobs => {
                let t = Instant::now();
                let lp = policy.logprobs(std::slice::from_ref(&example), true)?.remove(0);
                out["seconds"] = json!(t.elapsed().as_secs_f64());
                out["tokens"] = json!(lp.len());
                out["logprobs"] = json!(lp);
            }
            Phase::Greedy => {
                let opts = GenerateOptions {
                    n: 1,
                    temperature: 0.0,
                    max_new_tokens: a.max_new_tokens,
                    ..Default::default()
                };
                let t = Instant::now();
                let c = policy.generate(std::slice::from_ref(&image), &opts)?.remove(0).remove(0);
                out["seconds"] = json!(t.elapsed().as_secs_f64());
                out["tokens"] = json!(c.token_ids.len());
                out["token_ids"] = json!(c.token_ids);
            }
            Phase::Sft => {
                let batch = vec![example.clone(); a.micro_batch];
                let mut tokens = 0;
                let times = timed(a.warmup, a.steps, || {
                    tokens = policy.sft_step(&batch)?.tokens;
                    Ok(())
                })?;
                out["seconds"] = json!(median(&times));
                out["step_seconds"] = json!(times);
                out["tokens"] = json!(tokens);
            }
            Phase::Dpo => {
                let pairs = vec![
                    PreferencePair {
                        image: image.clone(),
                        prompt: None,
                        chosen: completion.clone(),
                        rejected: rejected(&completion),
                    };
                    a.micro_batch
                ];
                let reference = policy.pair_logprobs(&pairs, false)?;
                let loss = DpoLoss::sigmoid(0.1);
                let times = timed(a.warmup, a.steps, || {
                    policy.dpo_step(&pairs, Some(&reference), &loss).map(|_| ())
                })?;
                out["seconds"] = json!(median(&times));
                out["step_seconds"] = json!(times);
            }
            Phase::Sample => {
                let opts = GenerateOptions {
                    n: a.n,
                    temperature: a.temperature,
                    max_new_tokens: a.max_new_tokens,
                    seed: a.seed,
                    ..Default::default()
                };
                // Warm-up: a short decode (kernels, allocator), then the timed one.
                let warm = GenerateOptions { max_new_tokens: 4, ..opts.clone() };
                policy.generate(std::slice::from_ref(&image), &warm)?;
                let t = Instant::now();
                let cands = policy.generate(std::slice::from_ref(&image), &opts)?.remove(0);
                let s = t.elapsed().as_secs_f64();
                let tokens: usize = cands.iter().map(|c| c.token_ids.len()).sum();
                out["seconds"] = json!(s);
                out["tokens"] = json!(tokens);
                out["tokens_per_s"] = json!(tokens as f64 / s);
            }
        }
        println!("{out}");
    }
    Ok(())
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Logprobs => "logprobs",
        Phase::Greedy => "greedy",
        Phase::Sft => "sft",
        Phase::Dpo => "dpo",
        Phase::Sample => "sample",
    }
}

/// The rejected completion of the DPO phase: the chosen one with its digits changed
/// (same length in characters, as a model's near miss is). `hf_measure.py` does the same.
pub(crate) fn rejected(chosen: &str) -> String {
    chosen
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_digit((d + 3) % 10, 10).unwrap_or(c),
            None => c,
        })
        .collect()
}

/// Seconds of each of `steps` calls of `f` after `warmup` untimed ones.
fn timed(warmup: usize, steps: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        f()?;
    }
    (0..steps)
        .map(|_| {
            let t = Instant::now();
            f().map(|()| t.elapsed().as_secs_f64())
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_changes_every_digit_and_nothing_else() {
        assert_eq!(rejected("box(10, 2.5)"), "box(43, 5.8)");
        assert_eq!(rejected("abc"), "abc");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 4.0);
    }
}
