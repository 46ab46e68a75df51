//! Subcommands of the `cadrl` binary, one file each (`generate` and `logprobs` are
//! `cadrl-backend-tch`'s).

pub mod data;
pub mod difftest;
pub mod eval;
pub mod measure;
pub mod recipe;
pub mod render;
pub mod score;
