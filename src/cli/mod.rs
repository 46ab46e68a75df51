//! Subcommands of the `cadrl` binary, one file each.

pub mod data;
pub mod difftest;
pub mod eval;
pub mod measure;
pub mod recipe;
pub mod render;
pub mod score;
