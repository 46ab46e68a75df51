//! Qwen2.5-VL policy on libtorch through `tch` (CUDA on real hardware, CPU everywhere).
//!
//! The pipeline reaches it through [`TchBackend`], which implements its boundary
//! (`cadrl_backend::{Backend, Policy}`) with [`QwenVlPolicy`]: a Hugging Face checkpoint
//! (local dir or hub cache id) loaded with its tokenizer and image processor; generation,
//! teacher-forced log-probs, SFT, DPO, GRPO-family and vision-probe steps with LoRA or full
//! fine-tuning; PEFT-format adapters and full checkpoints. Its methods speak the plain types
//! of `cadrl_backend` (re-exported here); its fields expose the model for tests, benches and
//! profiling. The public modules follow the model: [`config`], [`loading`], [`processor`]
//! (with [`resize`]), [`chat`], [`nn`], [`vision`], [`text`], [`model`], [`lora`],
//! [`generate`], [`train`], [`loss`] ([`loss::dpo`], [`loss::grpo`]), [`cli`] (the `generate`
//! and `logprobs` commands) and [`init`] (tokenizer training and random checkpoints for models
//! trained from scratch).
#![warn(missing_docs)]
use cadrl_backend::atomic;
mod backend;
pub mod chat;
mod checkpoint;
pub mod cli;
pub mod config;
pub mod generate;
pub mod init;
pub mod loading;
pub mod lora;
pub mod loss;
pub mod model;
pub mod nn;
mod policy;
mod probe;
pub mod processor;
pub mod resize;
pub mod text;
pub mod train;
pub mod vision;

pub use backend::TchBackend;
pub use lora::LoraConfig;
pub use loss::dpo::{DpoLoss, DpoLossKind, DpoStats};
pub use loss::grpo::{GrpoLoss, GrpoLossType, GrpoStats, Rollout, Weights};
pub use policy::{
    Candidate, DType, DeviceSpec, Example, GenerateOptions, ImageInput, ModelSpec, PreferencePair,
    QwenVlPolicy, StepStats,
};
pub use processor::ImageBackend;
pub use train::TrainConfig;

/// Seed libtorch's RNG (fresh LoRA adapters and probes, dropout; sampling has its own
/// seeded generators).
pub fn manual_seed(seed: u64) {
    tch::manual_seed(seed as i64);
}

/// Limit libtorch's intra-op threads.
pub fn set_num_threads(n: usize) {
    tch::set_num_threads(n as i32);
}
