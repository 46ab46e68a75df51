//! Stand-alone CLI for testing the tch backend: `cadrl_tch generate ...` / `cadrl_tch logprobs ...`
//! (the same argument structs the root `cadrl` binary wires in).
use cadrl_backend_tch::cli::{GenerateArgs, LogprobsArgs, run_generate, run_logprobs};
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sample CadQuery programs for an image (one JSON line per candidate).
    Generate(GenerateArgs),
    /// Teacher-forced log-probs of a completion.
    Logprobs(LogprobsArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Generate(a) => run_generate(&a),
        Cmd::Logprobs(a) => run_logprobs(&a),
    }
}
