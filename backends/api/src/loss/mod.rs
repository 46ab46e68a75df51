//! The losses the pipeline names, one file per family: [`dpo`] (offline preference
//! optimisation) and [`grpo`] (online RL of the GRPO family). Each holds the settings and
//! the statistics a step returns; the backend computes the loss with TRL's definitions.
pub mod dpo;
pub mod grpo;
