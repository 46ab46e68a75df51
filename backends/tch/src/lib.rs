//! Qwen2.5-VL policy on libtorch through `tch` (CUDA on real hardware, CPU everywhere).
//!
//! The pipeline uses [`QwenVlPolicy`] with plain Rust types (no tch types): loading a Hugging
//! Face checkpoint (local dir or hub cache id), generation, teacher-forced log-probs, SFT
//! steps with LoRA or full fine-tuning, PEFT-format adapters. Modules follow the model
//! structure: `config`, `loading`, `processor` (with `resize`), `chat`, `vision`, `text`, `model`, `lora`,
//! `generate`, `train`, `loss` (`dpo`, `grpo`), `checkpoint`, `cli`, and `init` (tokenizer training and random
//! checkpoints for models trained from scratch). [`TchBackend`] implements the pipeline's
//! boundary (`cadrl_backend::{Backend, Policy}`); the plain types come from there.
pub use cadrl_backend::atomic;
mod backend;
pub mod chat;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod generate;
pub mod init;
pub mod loading;
pub mod lora;
pub mod loss;
pub mod model;
pub mod nn;
pub mod policy;
pub mod probe;
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

/// Whether libtorch sees a CUDA device.
pub fn cuda_available() -> bool {
    tch::Cuda::is_available()
}

/// Seed libtorch's RNG (LoRA init, dropout).
pub fn manual_seed(seed: u64) {
    tch::manual_seed(seed as i64);
}

/// Limit libtorch's intra-op threads.
pub fn set_num_threads(n: usize) {
    tch::set_num_threads(n as i32);
}
