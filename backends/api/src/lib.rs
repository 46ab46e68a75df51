//! The boundary between cadrl's pipeline and a model backend.
//!
//! The pipeline, its stages and losses speak only [`Policy`] (what a loaded model is asked
//! for: sample, score, train a step with a loss the pipeline names, save and load in
//! Hugging Face + PEFT layout) and [`Backend`] (how one is loaded, seeded and made from
//! scratch), in the plain types of this crate. `cadrl-backend-tch` implements them on
//! libtorch, `cadrl-backend-hf` (sampling and scoring only) on transformers + PEFT in a
//! Python worker; a build of `cadrl` without either still scores, renders, makes data and
//! evaluates prediction files.
//!
//! This crate also holds what every side shares: the prompt, atomic file writes and
//! checkpoint resolution in the Hugging Face cache.
#![warn(missing_docs)]
pub mod atomic;
pub mod hub;
mod init;
pub mod loss;
mod policy;
mod train;
mod types;

pub use init::{InitConfig, TokenizerReport};
pub use loss::dpo::{DpoLoss, DpoLossKind, DpoStats};
pub use loss::grpo::{GrpoLoss, GrpoLossType, GrpoStats, Rollout, Weights};
pub use policy::{Backend, Policy};
pub use train::{DEFAULT_TARGETS, LoraConfig, TrainConfig};
pub use types::{
    Candidate, DType, DeviceSpec, Example, GenerateOptions, ImageInput, ModelSpec, PreferencePair, StepStats,
};

/// GenCAD-Code's instruction, used when no prompt is given; the workspace's one copy of it.
pub const DEFAULT_PROMPT: &str = "Generate the CADQuery code needed to create the CAD for the provided image. Just the code, no other words.";
