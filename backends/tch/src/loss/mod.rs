//! The losses on tensors, one file per family (the settings are `cadrl_backend::loss`'s):
//! [`dpo`] and [`grpo`], each with TRL's definitions. The DPO losses are checked against
//! their formulas (unit tests) and by training (`tests/lora_train.rs`); the GRPO family
//! against TRL's own code, losses and gradients (`tests/grpo_loss.rs`).
pub mod dpo;
pub mod grpo;
