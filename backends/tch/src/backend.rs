//! [`TchBackend`]: the `cadrl_backend` boundary on libtorch, delegating to
//! [`QwenVlPolicy`]'s own methods.
use crate::{DpoLoss, DpoStats, QwenVlPolicy};
use anyhow::Result;
use cadrl_backend::{
    Backend, Candidate, Example, GenerateOptions, GrpoLoss, GrpoStats, ImageInput, InitConfig, LoraConfig,
    ModelSpec, Policy, PreferencePair, Rollout, StepStats, TokenizerReport, TrainConfig, Weights,
};
use std::path::{Path, PathBuf};

/// Qwen2.5-VL on libtorch through `tch` (CUDA on real hardware, CPU everywhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct TchBackend;

impl Backend for TchBackend {
    fn name(&self) -> &'static str {
        "tch"
    }

    fn load(&self, spec: &ModelSpec, lora: Option<LoraConfig>) -> Result<Box<dyn Policy>> {
        Ok(Box::new(QwenVlPolicy::load(spec, lora)?))
    }

    fn manual_seed(&self, seed: u64) {
        crate::manual_seed(seed);
    }

    fn set_num_threads(&self, n: usize) {
        crate::set_num_threads(n);
    }

    fn init_checkpoint(
        &self,
        cfg: &InitConfig,
        programs: &[String],
        vocab_size: usize,
        out: &Path,
        seed: u64,
    ) -> Result<TokenizerReport> {
        let tok = out.join("tokenizer");
        let rep = crate::init::train_tokenizer(programs, vocab_size, &tok)?;
        crate::init::write_random_checkpoint(cfg, &tok, &out.join("model"), seed)?;
        Ok(rep)
    }
}

impl Policy for QwenVlPolicy {
    fn model_dir(&self) -> &Path {
        &self.model_dir
    }
    fn set_model_dir(&mut self, dir: PathBuf) {
        self.model_dir = dir;
    }
    fn generate(&self, images: &[ImageInput], opts: &GenerateOptions) -> Result<Vec<Vec<Candidate>>> {
        QwenVlPolicy::generate(self, images, opts)
    }
    fn logprobs(&self, examples: &[Example], adapter_on: bool) -> Result<Vec<Vec<f32>>> {
        QwenVlPolicy::logprobs(self, examples, adapter_on)
    }
    fn pair_logprobs(&self, pairs: &[PreferencePair], adapter_on: bool) -> Result<Vec<(f64, f64)>> {
        QwenVlPolicy::pair_logprobs(self, pairs, adapter_on)
    }
    fn enable_full_finetune(&mut self) {
        QwenVlPolicy::enable_full_finetune(self)
    }
    fn set_train_config(&mut self, cfg: TrainConfig) {
        QwenVlPolicy::set_train_config(self, cfg)
    }
    fn reset_optimizer(&mut self) {
        QwenVlPolicy::reset_optimizer(self)
    }
    fn set_lr(&mut self, lr: f64) {
        QwenVlPolicy::set_lr(self, lr)
    }
    fn sft_step(&mut self, examples: &[Example]) -> Result<StepStats> {
        QwenVlPolicy::sft_step(self, examples)
    }
    fn dpo_step(
        &mut self,
        pairs: &[PreferencePair],
        reference: Option<&[(f64, f64)]>,
        loss: &DpoLoss,
    ) -> Result<DpoStats> {
        QwenVlPolicy::dpo_step(self, pairs, reference, loss)
    }
    fn rollout_logprobs(
        &mut self,
        rollouts: &[Rollout],
        weights: Weights,
        temperature: f64,
    ) -> Result<Vec<Vec<f32>>> {
        QwenVlPolicy::rollout_logprobs(self, rollouts, weights, temperature)
    }
    fn grpo_step(&mut self, rollouts: &[Rollout], loss: &GrpoLoss) -> Result<GrpoStats> {
        QwenVlPolicy::grpo_step(self, rollouts, loss)
    }
    fn snapshot(&mut self) -> Result<()> {
        QwenVlPolicy::snapshot(self)
    }
    fn save_snapshot(&self, path: &Path) -> Result<()> {
        QwenVlPolicy::save_snapshot(self, path)
    }
    fn load_snapshot(&mut self, path: &Path) -> Result<()> {
        QwenVlPolicy::load_snapshot(self, path)
    }
    fn vision_step(&mut self, images: &[ImageInput], targets: &[Vec<f32>]) -> Result<StepStats> {
        QwenVlPolicy::vision_step(self, images, targets)
    }
    fn probe_predict(&self, images: &[ImageInput]) -> Result<Vec<Vec<f32>>> {
        QwenVlPolicy::probe_predict(self, images)
    }
    fn has_probe(&self) -> bool {
        QwenVlPolicy::has_probe(self)
    }
    fn save_adapter(&mut self, dir: &Path) -> Result<()> {
        QwenVlPolicy::save_adapter(self, dir)
    }
    fn load_adapter(&mut self, dir: &Path) -> Result<()> {
        QwenVlPolicy::load_adapter(self, dir)
    }
    fn save_full(&self, dir: &Path) -> Result<()> {
        QwenVlPolicy::save_full(self, dir)
    }
    fn save_optimizer(&self, path: &Path) -> Result<()> {
        QwenVlPolicy::save_optimizer(self, path)
    }
    fn load_optimizer(&mut self, path: &Path) -> Result<()> {
        QwenVlPolicy::load_optimizer(self, path)
    }
    fn save_probe(&self, path: &Path) -> Result<()> {
        QwenVlPolicy::save_probe(self, path)
    }
    fn load_probe(&mut self, path: &Path) -> Result<()> {
        QwenVlPolicy::load_probe(self, path)
    }
}
