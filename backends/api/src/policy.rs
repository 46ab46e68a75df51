//! The two traits of the boundary: a loaded [`Policy`] and the [`Backend`] that makes one.
use crate::{
    Candidate, DpoLoss, DpoStats, Example, GenerateOptions, GrpoLoss, GrpoStats, ImageInput, InitConfig,
    LoraConfig, ModelSpec, PreferencePair, Rollout, StepStats, TokenizerReport, TrainConfig, Weights,
};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// What the pipeline asks of a loaded vision-language policy (a base model, LoRA adapters
/// or full fine-tuning, an optimiser, and the vision stage's probe).
///
/// Invariants every implementation keeps: sampling with the same options and seed gives
/// the same candidates; `logprobs` are those of the unmodified distribution (at
/// temperature one) over the completion tokens plus the end-of-turn token; saved
/// adapters are PEFT's layout and full models Hugging Face's, loadable by `transformers`.
pub trait Policy {
    /// The checkpoint directory the policy came from (config and tokenizer files are
    /// copied from here when a full model is saved).
    fn model_dir(&self) -> &Path;
    /// Point [`Self::model_dir`] elsewhere (a restored checkpoint may be deleted later).
    fn set_model_dir(&mut self, dir: PathBuf);

    /// `opts.n` candidates per image.
    fn generate(&self, images: &[ImageInput], opts: &GenerateOptions) -> Result<Vec<Vec<Candidate>>>;
    /// Teacher-forced per-token log-probs of each example's completion; `adapter_on =
    /// false` scores with the adapters off (the reference of a LoRA policy).
    fn logprobs(&self, examples: &[Example], adapter_on: bool) -> Result<Vec<Vec<f32>>>;
    /// Summed log-probs of (chosen, rejected) per pair, as the DPO loss reads them.
    fn pair_logprobs(&self, pairs: &[PreferencePair], adapter_on: bool) -> Result<Vec<(f64, f64)>>;

    /// Train every weight instead of adapters.
    fn enable_full_finetune(&mut self);
    /// Optimiser and step settings for the steps that follow.
    fn set_train_config(&mut self, cfg: TrainConfig);
    /// Drop the optimiser state (a new stage starts with fresh moments).
    fn reset_optimizer(&mut self);
    /// The learning rate of the next step (schedules live in the pipeline).
    fn set_lr(&mut self, lr: f64);
    /// One SFT update: mean NLL over the completion tokens of the batch.
    fn sft_step(&mut self, examples: &[Example]) -> Result<StepStats>;
    /// One DPO update with `loss`; `reference` holds the reference's summed log-probs per
    /// pair (`None`: the adapters-off model, computed in the step).
    fn dpo_step(
        &mut self,
        pairs: &[PreferencePair],
        reference: Option<&[(f64, f64)]>,
        loss: &DpoLoss,
    ) -> Result<DpoStats>;
    /// Per-token log-probs of sampled completions (their token ids) under `weights`, of
    /// `logits / temperature` (the distribution they were sampled from), no gradients.
    fn rollout_logprobs(
        &mut self,
        rollouts: &[Rollout],
        weights: Weights,
        temperature: f64,
    ) -> Result<Vec<Vec<f32>>>;
    /// One GRPO-family update on a step's rollouts with `loss` (TRL's definitions).
    fn grpo_step(&mut self, rollouts: &[Rollout], loss: &GrpoLoss) -> Result<GrpoStats>;
    /// Keep a copy of the trained weights as they are now ([`Weights::Snapshot`]).
    fn snapshot(&mut self) -> Result<()>;
    /// Write the snapshot, so that a resumed stage scores with the same weights.
    fn save_snapshot(&self, path: &Path) -> Result<()>;
    /// Read what [`Self::save_snapshot`] wrote.
    fn load_snapshot(&mut self, path: &Path) -> Result<()>;
    /// One update of the vision tower, merger and probe on per-image targets.
    fn vision_step(&mut self, images: &[ImageInput], targets: &[Vec<f32>]) -> Result<StepStats>;
    /// The probe's outputs per image.
    fn probe_predict(&self, images: &[ImageInput]) -> Result<Vec<Vec<f32>>>;
    /// Whether a probe is attached (the vision stage's checkpoints save it).
    fn has_probe(&self) -> bool;

    /// LoRA adapters in PEFT layout.
    fn save_adapter(&mut self, dir: &Path) -> Result<()>;
    /// Load adapters saved by [`Self::save_adapter`] (or by PEFT).
    fn load_adapter(&mut self, dir: &Path) -> Result<()>;
    /// The whole model (adapters merged) as a Hugging Face checkpoint.
    fn save_full(&self, dir: &Path) -> Result<()>;
    /// Optimiser state, so that a resumed stage continues exactly.
    fn save_optimizer(&self, path: &Path) -> Result<()>;
    /// Load what [`Self::save_optimizer`] wrote.
    fn load_optimizer(&mut self, path: &Path) -> Result<()>;
    /// The vision stage's probe weights.
    fn save_probe(&self, path: &Path) -> Result<()>;
    /// Load what [`Self::save_probe`] wrote (attaching the probe).
    fn load_probe(&mut self, path: &Path) -> Result<()>;
}

/// A model backend: loads policies and owns process-wide state (RNG, threads).
pub trait Backend: Sync {
    /// Its name in messages (`tch`).
    fn name(&self) -> &'static str;
    /// Load a checkpoint with fresh adapters when `lora` is given.
    fn load(&self, spec: &ModelSpec, lora: Option<LoraConfig>) -> Result<Box<dyn Policy>>;
    /// Seed the backend's RNG (adapter initialisation, dropout).
    fn manual_seed(&self, seed: u64);
    /// Limit the backend's intra-op threads.
    fn set_num_threads(&self, n: usize);
    /// The `init` stage: a tokenizer trained on `programs` (`vocab_size` learned tokens)
    /// in `out/tokenizer` and a randomly initialised model of shape `cfg` in `out/model`.
    fn init_checkpoint(
        &self,
        cfg: &InitConfig,
        programs: &[String],
        vocab_size: usize,
        out: &Path,
        seed: u64,
    ) -> Result<TokenizerReport>;
}
