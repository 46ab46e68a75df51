//! The losses on tensors, one file per family (the settings are `cadrl_backend::loss`'s):
//! [`dpo`] and [`grpo`], each with TRL's definitions and held to TRL's own code by the
//! tests (`tests/parity.rs` for DPO through the policy, `tests/grpo_loss.rs`).
pub mod dpo;
pub mod grpo;
