//! cadrl: the pipeline, recipes, data and CLI.
//!
//! The geometry, execution and rewards live in `cadrl-rewards` (re-exported as
//! [`rewards`]); this crate holds what joins them: recipes, data, the pipeline and the
//! command line.

pub use cadrl_rewards as rewards;

pub mod backend;
pub mod cli;
pub mod data;
pub mod difftest;
pub mod pipeline;
pub mod recipe;
pub mod tensorboard;
