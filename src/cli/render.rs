//! `cadrl render PROGRAM.py -o OUT.png`: the GenCAD-Code image of a program.

use std::path::PathBuf;

use anyhow::{Context, bail};
use cadrl_rewards::exec::{Outcome, execute_native};

/// The arguments of `cadrl render`.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// The CadQuery program.
    program: PathBuf,
    /// Where to write the 448x448 PNG.
    #[arg(short, long)]
    out: PathBuf,
    /// Variable holding the result.
    #[arg(long, default_value = "solid")]
    var: String,
}

/// Executes the program natively and writes its render as a PNG.
pub fn run(a: &RenderArgs) -> anyhow::Result<()> {
    let src =
        std::fs::read_to_string(&a.program).with_context(|| format!("reading {}", a.program.display()))?;
    let solid = match execute_native(&src, &a.var) {
        Outcome::Valid(s) => s,
        other => bail!("{}: {}", a.program.display(), other.reason().unwrap_or_default()),
    };
    let img = cadrl_rewards::render::render(&solid);
    img.save(&a.out).with_context(|| format!("writing {}", a.out.display()))?;
    Ok(())
}
