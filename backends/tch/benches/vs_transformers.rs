//! Benchmarks against transformers (+PEFT) on the same small random Qwen2.5-VL checkpoint,
//! same machine, same run (decoder 4x256, vision 4x128, Qwen2.5-VL's 151936-token vocabulary): generation tokens/s (8 sampled candidates x 64 new tokens for one
//! 448x448 image, no early stop) and LoRA SFT step time (batch 4, r=16 on the decoder,
//! AdamW, clipping). The Python side is `tests/python/bench_transformers.py`; ratios are
//! printed and written to `target/criterion/cadrl_vs_transformers.json`.
//! Env: `CADRL_TORCH_PYTHON` (venv python), `CADRL_BENCH_THREADS` (default 1: on a shared 2-core machine
//! multi-threaded libtorch spin-waits make timings meaningless).
#![allow(clippy::unwrap_used)]
use cadrl_backend_tch::generate::{GenerateOptions, generate};
use cadrl_backend_tch::*;
use criterion::Criterion;
use std::time::Duration;

mod common;
use common::{bench_model, criterion_mean_s, run_python, target_dir};

const N: usize = 8;
const MAX_NEW: usize = 64;
const TRAIN_BATCH: usize = 4;
const COMPLETION: &str =
    "import cadquery as cq\nresult = cq.Workplane('XY').box(10, 20, 5).faces('>Z').hole(2)\n";

fn main() {
    let threads = common::threads();
    let (model, image) = bench_model();

    // transformers (+PEFT), same machine, same run
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/bench_transformers.py");
    let args: Vec<String> = [model.display().to_string(), image.display().to_string()]
        .into_iter()
        .chain([N, MAX_NEW, TRAIN_BATCH, threads].map(|n| n.to_string()))
        .collect();
    let hf = run_python(&script, &args);

    // ours
    let spec =
        ModelSpec { path_or_id: model.display().to_string(), device: DeviceSpec::Cpu, dtype: DType::F32 };
    let lora = LoraConfig { r: 16, alpha: 32.0, dropout: 0.0, ..Default::default() };
    let mut policy = QwenVlPolicy::load(&spec, Some(lora)).unwrap();
    let img = policy.process_image(&ImageInput::Path(image.clone())).unwrap();
    let prompt: Vec<i64> = policy
        .tokenizer
        .prompt_ids(chat::DEFAULT_PROMPT, Some(img.num_tokens(2)))
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    let sp = GenerateOptions { n: N, top_p: 0.95, max_new_tokens: MAX_NEW, ..Default::default() };
    let items = [(&img, prompt.clone())];
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    c.bench_function("tch_generate_8x64", |b| {
        b.iter(|| {
            let o = generate(&policy.model, &items, &sp, &[], 0).unwrap();
            assert_eq!(o[0][0].token_ids.len(), MAX_NEW);
        })
    });
    // four distinct images (the render and its flips), so no side can share vision work
    let rgb = image::open(&image).unwrap().to_rgb8();
    let variants = [
        rgb.clone(),
        image::imageops::flip_horizontal(&rgb),
        image::imageops::flip_vertical(&rgb),
        image::imageops::rotate180(&rgb),
    ];
    let ex: Vec<Example> = variants
        .iter()
        .take(TRAIN_BATCH)
        .map(|im| Example {
            image: ImageInput::Rgb8 {
                width: im.width() as usize,
                height: im.height() as usize,
                data: im.as_raw().clone(),
            },
            prompt: None,
            completion: COMPLETION.to_string(),
        })
        .collect();
    c.bench_function("tch_sft_step_b4", |b| b.iter(|| policy.sft_step(&ex).unwrap()));
    c.final_summary();

    let gen_s = criterion_mean_s("tch_generate_8x64");
    let train_s = criterion_mean_s("tch_sft_step_b4");
    let ours_tps = (N * MAX_NEW) as f64 / gen_s;
    let hf_tps = hf["gen_tokens_per_s"].as_f64().unwrap();
    let hf_train = hf["train_step_s"].as_f64().unwrap();
    let report = serde_json::json!({
        "threads": threads,
        "generation": {"ours_tokens_per_s": ours_tps, "transformers_tokens_per_s": hf_tps, "speedup": ours_tps / hf_tps, "target": 1.5},
        "sft_step": {"ours_s": train_s, "transformers_peft_s": hf_train, "speedup": hf_train / train_s, "target": 1.0},
    });
    println!("cadrl vs transformers: {}", serde_json::to_string_pretty(&report).unwrap());
    let _ = std::fs::write(target_dir().join("criterion/cadrl_vs_transformers.json"), report.to_string());
}
