//! cadrl: recipes, data, the training pipeline and the `cadrl` command line.
//!
//! The geometry, execution and rewards live in `cadrl-rewards` (re-exported as
//! [`rewards`]); the models live behind `cadrl-backend`'s traits, implemented by
//! `cadrl-backend-tch` and `cadrl-backend-hf` and chosen in [`backend`]. This crate joins
//! them: [`recipe`] (TOML recipes, resolved and checked), [`data`] (loaders and the
//! synthetic generator), [`pipeline`] (a recipe's stages run in a run directory),
//! [`tensorboard`] (event files) and [`cli`] (the binary's subcommands).
//!
//! Public items are what the binary, the integration tests and the benches use; the
//! rest is `pub(crate)`.
#![warn(missing_docs)]

pub use cadrl_rewards as rewards;

pub mod backend;
pub mod cli;
pub mod data;
pub(crate) mod difftest;
pub mod pipeline;
pub mod recipe;
pub mod tensorboard;
