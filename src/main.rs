//! The `cadrl` command line.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cadrl",
    version,
    about = "Train vision-language models to write CadQuery code, with geometric rewards and DPO"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Score candidate programs against references (JSON lines in, JSON lines out).
    Score(cadrl::cli::score::ScoreArgs),
    /// Render a CadQuery program in the GenCAD-Code image style.
    Render(cadrl::cli::render::RenderArgs),
    /// Sample CadQuery programs for an image from a Qwen2.5-VL checkpoint.
    #[cfg(feature = "tch")]
    Generate(cadrl_backend_tch::cli::GenerateArgs),
    /// Teacher-forced per-token log-probs of a completion for an image.
    #[cfg(feature = "tch")]
    Logprobs(cadrl_backend_tch::cli::LogprobsArgs),
    /// Time one phase of a model (log-probs, greedy decoding, an SFT or DPO step,
    /// sampling) on one image and completion, as the device check does.
    Measure(cadrl::cli::measure::MeasureArgs),
    /// Data sets: synthetic GenCAD-style generation (`synth`) and statistics (`stats`).
    Data(cadrl::cli::data::DataArgs),
    /// Run a recipe (`run`) or check it (`check`).
    Recipe(cadrl::cli::recipe::RecipeArgs),
    /// Evaluate a model, or a file of predictions, on a data set: VSR, IoU, Chamfer.
    Eval(cadrl::cli::eval::EvalArgs),
    /// Differential test: the native executor against real CadQuery on drawn and
    /// mutated programs; findings shrunk to minimal programs.
    Difftest(cadrl::cli::difftest::DiffArgs),
}

fn main() {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Score(a) => cadrl::cli::score::run(&a),
        Cmd::Render(a) => cadrl::cli::render::run(&a),
        #[cfg(feature = "tch")]
        Cmd::Generate(a) => cadrl_backend_tch::cli::run_generate(&a),
        #[cfg(feature = "tch")]
        Cmd::Logprobs(a) => cadrl_backend_tch::cli::run_logprobs(&a),
        Cmd::Measure(a) => cadrl::cli::measure::run(&a),
        Cmd::Data(a) => cadrl::cli::data::run(&a),
        Cmd::Recipe(a) => cadrl::cli::recipe::run_cmd(&a),
        Cmd::Eval(a) => cadrl::cli::eval::run(&a),
        Cmd::Difftest(a) => cadrl::cli::difftest::run(&a),
    };
    if let Err(e) = res {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
