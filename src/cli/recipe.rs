//! `cadrl recipe run|check`: run a recipe end to end, or check it without running.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::pipeline::{RunOptions, run};
use crate::recipe;

/// The arguments of `cadrl recipe` (`run` or `check`).
#[derive(Debug, Args)]
pub struct RecipeArgs {
    #[command(subcommand)]
    cmd: RecipeCmd,
}

#[derive(Debug, Subcommand)]
enum RecipeCmd {
    /// Run every stage of a recipe (or continue a killed run with --resume).
    Run(RunArgs),
    /// Check a recipe and print it resolved (every error at once, with keys and lines).
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The recipe file.
    recipe: PathBuf,
    /// Overrides `section.key=value`, `<stage kind>.key=value` or `stage.N.key=value`.
    overrides: Vec<String>,
    /// Continue this run directory from its last checkpoint (same recipe and overrides).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Stop as if killed right after this many optimizer steps (to test --resume).
    #[arg(long, hide = true)]
    stop_after_steps: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    recipe: PathBuf,
    overrides: Vec<String>,
}

/// Runs `cadrl recipe run` or `cadrl recipe check`.
pub fn run_cmd(a: &RecipeArgs) -> Result<()> {
    match &a.cmd {
        RecipeCmd::Check(c) => {
            let r = recipe::load(&c.recipe, &c.overrides)?;
            print!("{}", r.to_toml());
            eprintln!("{}: ok ({} stages)", c.recipe.display(), r.stage.len());
            Ok(())
        }
        RecipeCmd::Run(c) => {
            let r = recipe::load(&c.recipe, &c.overrides)?;
            let text = std::fs::read_to_string(&c.recipe)
                .with_context(|| format!("reading {}", c.recipe.display()))?;
            let opts =
                RunOptions { resume: c.resume.clone(), quiet: c.quiet, stop_after_steps: c.stop_after_steps };
            let dir = run(&r, &text, &opts)?;
            println!("{}", dir.display());
            Ok(())
        }
    }
}
