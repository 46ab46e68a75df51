//! Rollout throughput of the `rl` stage against transformers: `cargo bench --bench rollout`.
//!
//! One image, G = 8 and 16 programs sampled from it (one prefill shared by the G
//! continuations, decoded as one batch with a KV cache) and scored, as an `rl` step does,
//! against transformers' `generate(num_return_sequences = G)` (what TRL's GRPOTrainer
//! runs without vLLM) on the same model in the same run (`rollout_transformers.py`).
//! The model is the tch benchmarks' small random Qwen2.5-VL (decoder 4x256, vision 4x128,
//! Qwen's 151936-token vocabulary; a 448x448 render is 256 visual tokens); both sides
//! sample exactly `MAX_NEW` tokens per program (no stop token), at temperature 1.
//!
//! Scoring: a random model writes no valid program, so besides its G texts each iteration
//! also executes and scores G synthetic GenCAD-style programs against a reference (IoU +
//! validity, native executor), so that the time of scoring real programs is in ours.
//! Transformers' side is generation only (no scoring): the ratio favours it.
//!
//! Prints programs/s for both and the ratio (target >= 1.5), and writes
//! `target/criterion/cadrl_rollout.json`. Env: `CADRL_TORCH_PYTHON`,
//! `CADRL_BENCH_THREADS` (default 1: on a shared 2-core machine libtorch's spinning
//! threads make timings meaningless).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cadrl::data::synth::{SynthConfig, generate as synth};
use cadrl::pipeline::score::{Scorer, execute_all};
use cadrl_backend_tch::generate::{GenerateOptions, generate};
use cadrl_backend_tch::{DType, DeviceSpec, ImageInput, ModelSpec, QwenVlPolicy, chat};
use cadrl_rewards::exec::execute_native;
use cadrl_rewards::executor::{ExecutorKind, ExecutorSpec};
use cadrl_rewards::reward::RewardSpec;
use criterion::Criterion;

#[path = "../backends/tch/benches/common/mod.rs"]
mod common;
use common::{bench_model, criterion_mean_s, run_python, target_dir};

const MAX_NEW: usize = 96;
const GROUPS: [usize; 2] = [8, 16];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    let threads = common::threads();
    let (model, image) = bench_model();

    // transformers, same machine, same run
    let args: Vec<String> = [model.display().to_string(), image.display().to_string()]
        .into_iter()
        .chain([MAX_NEW, threads].into_iter().chain(GROUPS).map(|n| n.to_string()))
        .collect();
    let hf = run_python(&root().join("benches/rollout_transformers.py"), &args);

    // ours
    let spec =
        ModelSpec { path_or_id: model.display().to_string(), device: DeviceSpec::Cpu, dtype: DType::F32 };
    let policy = QwenVlPolicy::load(&spec, None).unwrap();
    let img = policy.process_image(&ImageInput::Path(image.clone())).unwrap();
    let prompt: Vec<i64> = policy
        .tokenizer
        .prompt_ids(chat::DEFAULT_PROMPT, Some(img.num_tokens(2)))
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    let items = [(&img, prompt)];
    let parts = SynthConfig { decimals: 4, ..SynthConfig::default() };
    let real: Vec<String> = synth(&parts, 11, 0, 16).into_iter().map(|s| s.code).collect();
    let reference: Arc<_> = execute_native(&real[0], "solid").solid().unwrap().clone();
    let specs: Vec<RewardSpec> = serde_json::from_value(serde_json::json!([
        {"kind": "iou", "weight": 1.0, "mode": "in-place"}, {"kind": "valid", "weight": 0.1}
    ]))
    .unwrap();
    let scorer = Scorer::new(&specs).unwrap();
    let ex = cadrl_rewards::executor::build(&ExecutorSpec::kind(ExecutorKind::Native)).unwrap();
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    for g in GROUPS {
        let opts = GenerateOptions { n: g, max_new_tokens: MAX_NEW, seed: 3, ..Default::default() };
        c.bench_function(&format!("rollout_g{g}"), |b| {
            b.iter(|| {
                let cands = generate(&policy.model, &items, &opts, &[], 0).unwrap();
                let mut texts: Vec<String> = cands[0]
                    .iter()
                    .map(|c| {
                        let ids: Vec<u32> = c.token_ids.iter().map(|&x| x as u32).collect();
                        policy.tokenizer.decode(&ids).unwrap()
                    })
                    .collect();
                assert!(cands[0].iter().all(|c| c.token_ids.len() == MAX_NEW));
                texts.extend(real.iter().take(g).cloned());
                let outcomes = execute_all(ex.as_ref(), &texts, "solid").unwrap();
                let scores = scorer.score(&texts, &outcomes, &reference);
                assert_eq!(scores.len(), 2 * g);
            })
        });
    }
    c.final_summary();
    let mut report = serde_json::json!({"threads": threads, "max_new_tokens": MAX_NEW, "target": 1.5});
    for g in GROUPS {
        let s = criterion_mean_s(&format!("rollout_g{g}"));
        let ours = g as f64 / s;
        let theirs = hf[g.to_string()]["programs_per_s"].as_f64().unwrap();
        report[format!("g{g}")] = serde_json::json!({
            "ours_programs_per_s": ours, "transformers_programs_per_s": theirs, "ratio": ours / theirs,
        });
    }
    println!("cadrl rollouts vs transformers: {}", serde_json::to_string_pretty(&report).unwrap());
    let _ = std::fs::write(target_dir().join("criterion/cadrl_rollout.json"), report.to_string());
}
