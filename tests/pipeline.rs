//! The whole pipeline end to end on a tiny model from scratch: init, sft, eval, two
//! rounds of sample + dpo, eval; killed in the middle of DPO and resumed, it ends with the same metrics as
//! an uninterrupted run. Also: TensorBoard files load in the `tensorboard` package,
//! a run directory is never reused, `cadrl eval` writes its report; a vision stage trains
//! the tower before SFT, and SFT monitoring keeps the best weights and stops early;
//! `vs-greedy` pairs hold the greedy program.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const RECIPE: &str = r#"
# Run:      cadrl recipe run tiny-test.toml
# Override: cadrl recipe run tiny-test.toml sft.steps=2
[run]
name = "e2e"
log_dir = "LOGDIR"
seed = 3
threads = 2
checkpoint_every = 1

[model]
finetune = "full"

[data]
source = "synthetic"
n = 48
seed = 5
[data.synth]
sketches = [1, 1]
segments = [4, 4]
arc_prob = 0.0
hole_prob = 0.0
rotated_plane_prob = 0.0

[eval_data]
source = "synthetic"
n = 4
seed = 77
[eval_data.synth]
sketches = [1, 1]
segments = [4, 4]
arc_prob = 0.0
hole_prob = 0.0

[[reward]]
kind = "iou"
[[reward]]
kind = "valid"
weight = 0.1

[generation]
max_new_tokens = 24
batch_images = 4

[[stage]]
kind = "init"
vocab_size = 400
[stage.model]
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 2
num_attention_heads = 2
num_key_value_heads = 1
vision_depth = 1
vision_hidden_size = 32
vision_heads = 2
vision_intermediate_size = 64
vision_fullatt_block_indexes = [0]
mrope_section = [2, 3, 3]
image_max_pixels = 12544

[[stage]]
kind = "sft"
steps = 3
batch_size = 4
micro_batch = 2
lr = 1e-3
warmup_steps = 1
eval_every = 2
val_samples = 2

[[stage]]
kind = "eval"
limit = 2
images = 1

[[stage]]
kind = "sample"
images = 4
k = 2
include_reference = true
pairs = "all-above-margin"

[[stage]]
kind = "dpo"
loss = "sigmoid"
beta = 0.1
nll_weight = 0.1
epochs = 2
batch_size = 2
lr = 1e-3
rounds = 2

[[stage]]
kind = "eval"
limit = 2
"#;

/// Each test runs recipes with `threads = 2`; two at once would oversubscribe the two
/// cores (libtorch pools spinning against each other), so the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn cadrl(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cadrl")).args(args).current_dir(cwd).output().unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cadrl-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The rows of a JSONL file.
fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn last_metrics(run: &Path) -> Vec<serde_json::Value> {
    jsonl(&run.join("metrics.jsonl"))
}

/// Write `text` as `<dir>/<name>.toml`, run it with `overrides` (it must succeed) and
/// return the run directory under `logs`.
fn run_recipe(dir: &Path, logs: &Path, name: &str, text: &str, overrides: &[&str]) -> PathBuf {
    let recipe = dir.join(format!("{name}.toml"));
    std::fs::write(&recipe, text).unwrap();
    let mut args = vec!["recipe", "run", recipe.to_str().unwrap()];
    args.extend(overrides);
    let out = cadrl(&args, dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    cadrl::pipeline::runs_in(logs).pop().unwrap()
}

fn report(run: &Path, stage: &str) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(run.join("stages").join(stage).join("report.json")).unwrap(),
    )
    .unwrap()
}

/// The value of `key` at global step `step` (the last one logged there).
fn at(m: &[serde_json::Value], step: u64, key: &str) -> Option<f64> {
    m.iter().rev().find(|x| x["step"] == step && x.get(key).is_some()).and_then(|x| x[key].as_f64())
}

#[test]
fn tiny_pipeline_runs_and_resumes_to_the_same_metrics() {
    let _turn = turn();
    let dir = tmp("resume");
    let logs = dir.join("runs");
    let recipe = dir.join("tiny-test.toml");
    std::fs::write(&recipe, RECIPE.replace("LOGDIR", &logs.display().to_string())).unwrap();
    let r = recipe.to_str().unwrap();

    // uninterrupted
    let out = cadrl(&["recipe", "run", r, "--quiet"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let full = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let m_full = last_metrics(&full);
    let pairs = std::fs::read_to_string(full.join("stages/03-sample/pairs.jsonl")).unwrap();
    assert!(pairs.lines().count() >= 2, "the sample stage made pairs:\n{pairs}");
    for key in [
        "train/loss",
        "rewards/margins",
        "rewards/accuracies",
        "logps/chosen",
        "reward/iou/mean",
        "sample/valid_rate",
        "eval/vsr",
        "eval/iou_mean",
    ] {
        assert!(m_full.iter().any(|x| x.get(key).is_some()), "{key} never logged");
    }
    let dpo_steps = m_full.iter().filter(|x| x.get("rewards/margins").is_some()).count() as u64;
    assert!(dpo_steps >= 4, "two dpo rounds ran {dpo_steps} steps");
    assert!(full.join("stages/05-sample/pairs.jsonl").is_file(), "the second round sampled again");
    let last_step = m_full.iter().filter_map(|x| x["step"].as_u64()).max().unwrap();

    // killed after the first DPO step, then resumed
    let kill_at = (3 + 1).to_string();
    let out = cadrl(&["recipe", "run", r, "--quiet", "--stop-after-steps", &kill_at], &dir);
    assert!(!out.status.success());
    let runs = cadrl::pipeline::runs_in(&logs);
    assert_eq!(runs.len(), 2, "a new run never reuses a directory: {runs:?}");
    let killed = runs.into_iter().find(|p| *p != full).unwrap();
    assert!(!killed.join("summary.md").exists());
    assert!(
        killed.join("checkpoints/04-dpo").read_dir().unwrap().count() >= 1,
        "an in-stage DPO checkpoint exists"
    );
    let out = cadrl(&["recipe", "run", r, "--quiet", "--resume", killed.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m_res = last_metrics(&killed);
    for step in 4..=last_step {
        for key in ["train/loss", "rewards/margins", "logps/chosen"] {
            if let Some(a) = at(&m_full, step, key) {
                let b = at(&m_res, step, key)
                    .unwrap_or_else(|| panic!("{key} at step {step} missing after resume"));
                assert!(
                    (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                    "{key} at step {step}: {a} uninterrupted, {b} resumed"
                );
            }
        }
    }
    assert_eq!(report(&full, "07-eval"), report(&killed, "07-eval"), "final eval differs after resume");
    assert!(killed.join("summary.md").is_file());

    // TensorBoard reads the run (scalars, images, text) with the real package
    let py = std::env::var("CADRL_TORCH_PYTHON").expect("CADRL_TORCH_PYTHON (scripts/bootstrap.sh --env)");
    let script = r#"
import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0, "tensors": 0})
ea.Reload()
t = ea.Tags()
need = ["train/loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
        "logps/chosen", "logps/rejected", "reward/iou/mean", "sample/valid_rate", "sample/pairs", "eval/vsr", "eval/iou_mean"]
missing = [k for k in need if k not in t["scalars"]]
assert not missing, missing
assert any(k.startswith("eval/") for k in t["images"]), t["images"]
assert "recipe" in t["tensors"] and "eval/predictions" in t["tensors"], t["tensors"]
print(len(ea.Scalars("train/loss")))
"#;
    let out = Command::new(&py).arg("-c").arg(script).arg(&full).output().unwrap();
    assert!(
        out.status.success(),
        "tensorboard could not read the run: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // standalone eval of the final model on the held-out data
    let model = full.join("checkpoints/06-dpo/final/model");
    let rep = dir.join("report.json");
    let data = full.join("data/eval");
    let out = cadrl(
        &[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--limit",
            "2",
            "--max-new-tokens",
            "24",
            "--out",
            rep.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rep: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
    for k in [
        "n",
        "vsr",
        "iou_mean",
        "iou_median",
        "chamfer_median",
        "iou_mode",
        "distinct_rate",
        "iou_mean_shuffled",
        "image_gain",
    ] {
        assert!(rep.get(k).is_some(), "report lacks {k}: {rep}");
    }
    assert_eq!(rep["n"], 2);
    let (own, shuffled) = (rep["iou_mean"].as_f64().unwrap(), rep["iou_mean_shuffled"].as_f64().unwrap());
    assert!((rep["image_gain"].as_f64().unwrap() - (own - shuffled)).abs() < 1e-12, "{rep}");
    let stage = report(&full, "07-eval");
    assert_eq!(
        rep["iou_mean"], stage["iou_mean"],
        "cadrl eval agrees with the eval stage on the same model and data"
    );
    assert_eq!(rep["vsr"], stage["vsr"]);
    std::fs::remove_dir_all(&dir).ok();
}

/// init -> vision -> sft (monitored every step, patience 2) -> eval. The tiny model's
/// 24-token programs never run, so the monitored IoU is 0 at every evaluation: the first
/// is the best, the next two are not better, and the stage stops after step 3 of 6 with
/// the step-1 weights, which the eval stage then uses.
#[test]
fn vision_stage_then_monitored_sft_keeps_the_best_weights_and_stops_early() {
    let _turn = turn();
    let dir = tmp("monitor");
    let logs = dir.join("runs");
    let head = &RECIPE[..RECIPE.find("[[stage]]\nkind = \"sample\"").unwrap()];
    let text = head.replace("LOGDIR", logs.to_str().unwrap()).replacen(
        "[[stage]]\nkind = \"sft\"",
        "[[stage]]\nkind = \"vision\"\nsteps = 4\nbatch_size = 4\nlr = 1e-3\neval_every = 2\nval_samples = 4\n\n[[stage]]\nkind = \"sft\"",
        1,
    );
    let overrides = [
        "sft.steps=6",
        "sft.monitor_every=1",
        "sft.monitor_samples=2",
        "sft.patience=2",
        "sft.eval_every=0",
        "run.checkpoint_every=0",
    ];
    let run = run_recipe(&dir, &logs, "monitor", &text, &overrides);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap();
    let stage = |label: &str| {
        let r = state["results"].as_array().unwrap().iter().find(|r| r[1] == label).unwrap().clone();
        move |k: &str| r[2].as_array().unwrap().iter().find(|m| m[0] == k).map(|m| m[1].as_f64().unwrap())
    };
    // (the R^2 of a target that is constant over the 4 held-out parts is NaN, left out)
    let vision = stage("01-vision");
    assert!(vision("vision/loss").is_some_and(f64::is_finite));
    assert!(vision("vision/r2/proportions").is_some(), "held-out R^2 of the proportions");
    let sft = stage("02-sft");
    assert_eq!(sft("sft/best_step"), Some(1.0));
    assert_eq!(sft("sft/stopped_early"), Some(1.0));
    assert_eq!(state["global_step"].as_u64(), Some(4 + 3), "4 vision steps, then sft stopped after 3");
    let ck = run.join("checkpoints/02-sft");
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ck.join("best/best.json")).unwrap()).unwrap();
    assert_eq!(best["step"], 1);
    let weights = |d: &str| std::fs::read(ck.join(d).join("model/model.safetensors")).unwrap();
    assert!(weights("best") == weights("final"), "the stage ends with the best weights");
    let report = report(&run, "03-eval");
    for k in ["image_gain", "iou_mean_shuffled"] {
        assert!(report.get(k).is_some(), "eval report lacks {k}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `pairs = "vs-greedy"`: the sample stage decodes each image's greedy program once more
/// (marked `greedy` in candidates.jsonl, left out of the sample statistics) and every pair
/// has it on one side; the DPO stage trains on those pairs.
#[test]
fn vs_greedy_pairs_hold_the_greedy_program() {
    let _turn = turn();
    let dir = tmp("vsgreedy");
    let logs = dir.join("runs");
    let text = RECIPE.replace("LOGDIR", logs.to_str().unwrap());
    let overrides = ["sample.pairs=vs-greedy", "dpo.rounds=1", "run.checkpoint_every=0"];
    let run = run_recipe(&dir, &logs, "vsgreedy", &text, &overrides);
    let stage = run.join("stages/03-sample");
    let rows = jsonl(&stage.join("candidates.jsonl"));
    // 4 images x (2 samples + the greedy program + the reference)
    assert_eq!(rows.len(), 16);
    let greedy: Vec<&serde_json::Value> = rows.iter().filter(|r| r["greedy"] == true).collect();
    assert_eq!(greedy.len(), 4, "one greedy program per image");
    assert!(greedy.iter().all(|r| r["k"] == 2 && r["reference"] == false));
    let pairs = jsonl(&stage.join("pairs.jsonl"));
    // the tiny model's greedy program is cut at 24 tokens (invalid): the reference beats it
    assert!(!pairs.is_empty(), "the reference against the greedy program makes pairs");
    for p in &pairs {
        let g = greedy.iter().find(|r| r["id"] == p["id"]).unwrap()["text"].clone();
        assert!(p["chosen"] == g || p["rejected"] == g, "a pair without the greedy program: {p}");
    }
    let m = last_metrics(&run);
    assert!(m.iter().any(|x| x.get("sample/greedy_reward_mean").is_some()));
    assert!(m.iter().any(|x| x.get("sample/best_minus_greedy_mean").is_some()));
    assert!(m.iter().any(|x| x.get("rewards/accuracies").is_some()), "the DPO stage trained on them");
}

/// init -> sft (LoRA) -> rl -> eval: the rl stage runs with several updates per sampled
/// batch (old log-probs) and a KL to the adapters-off base (so every update moves the
/// weights, even while the tiny model's programs all score 0), logs TRL's metric names;
/// killed with SIGKILL after its second in-stage checkpoint and resumed, it ends with the
/// same metrics at every step and the same final eval as an uninterrupted run.
#[test]
fn rl_stage_killed_and_resumed_ends_with_the_same_metrics() {
    let _turn = turn();
    let dir = tmp("rl");
    let logs = dir.join("runs");
    let at_sft = RECIPE.find("[[stage]]\nkind = \"sft\"").unwrap();
    let text = RECIPE[..at_sft].replace("LOGDIR", &logs.display().to_string()).replace(
        "[model]\nfinetune = \"full\"",
        "[model]\nfinetune = \"lora\"\n\n[lora]\nrank = 4\nalpha = 8\ndropout = 0.1",
    ) + r#"
[[stage]]
kind = "sft"
steps = 3
batch_size = 4
lr = 1e-2

[[stage]]
kind = "rl"
steps = 6
images = 2
num_generations = 3
num_iterations = 2
loss_type = "bnpo"
epsilon_high = 0.28
beta = 0.5
reference = "base"
micro_batch = 3
lr = 1e-2
log_every = 2

[[stage]]
kind = "eval"
limit = 2
"#;
    let recipe = dir.join("rl.toml");
    std::fs::write(&recipe, &text).unwrap();
    let r = recipe.to_str().unwrap();

    let out = cadrl(&["recipe", "run", r, "--quiet"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let full = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let m_full = last_metrics(&full);
    for key in [
        "reward",
        "reward_std",
        "rewards/iou/mean",
        "rewards/valid/std",
        "frac_reward_zero_std",
        "completions/mean_length",
        "completions/clipped_ratio",
        "clip_ratio/low_mean",
        "clip_ratio/high_mean",
        "clip_ratio/region_mean",
        "kl",
        "entropy",
        "sample/valid_rate",
        "time/generate_s",
        "time/score_s",
        "time/old_logprobs_s",
        "time/ref_logprobs_s",
        "time/update_s",
        "train/loss",
    ] {
        assert!(m_full.iter().any(|x| x.get(key).is_some()), "{key} never logged");
    }
    let kls: Vec<f64> = m_full.iter().filter_map(|x| x.get("kl").and_then(|v| v.as_f64())).collect();
    assert_eq!(kls.len(), 12, "6 steps x 2 updates");
    assert!(kls.iter().all(|&k| k > 0.0), "the LoRA policy differs from its base: {kls:?}");

    // the same run, killed (SIGKILL) once its second in-stage checkpoint exists
    let mut child = Command::new(env!("CARGO_BIN_EXE_cadrl"))
        .args(["recipe", "run", r, "--quiet"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let killed = loop {
        let run = cadrl::pipeline::runs_in(&logs).into_iter().find(|p| *p != full);
        if let Some(run) = run.filter(|p| p.join("checkpoints/02-rl/step-2").is_dir()) {
            child.kill().unwrap();
            child.wait().unwrap();
            break run;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(!killed.join("summary.md").exists(), "killed before the end");
    let out = cadrl(&["recipe", "run", r, "--quiet", "--resume", killed.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m_res = last_metrics(&killed);
    let first_rl = m_full.iter().find(|x| x.get("kl").is_some()).unwrap()["step"].as_u64().unwrap();
    let last_step = m_full.iter().filter_map(|x| x["step"].as_u64()).max().unwrap();
    for step in first_rl..=last_step {
        for key in ["train/loss", "kl", "entropy", "train/grad_norm", "reward", "completions/mean_length"] {
            if let Some(a) = at(&m_full, step, key) {
                let b = at(&m_res, step, key)
                    .unwrap_or_else(|| panic!("{key} at step {step} missing after resume"));
                assert!(
                    (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                    "{key} at step {step}: {a} uninterrupted, {b} resumed"
                );
            }
        }
    }
    assert_eq!(report(&full, "03-eval"), report(&killed, "03-eval"), "final eval differs after resume");
    std::fs::remove_dir_all(&dir).ok();
}
