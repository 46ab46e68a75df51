//! The vision stage's throughput: `cargo bench --bench vision`.
//!
//! On the tiny recipe's model shape (made by `init`, 168x168 images, 36 visual tokens):
//! - `vision/targets_1core`: labelling, i.e. native execution + mass properties +
//!   occupancy lattice + counts of each program ([`targets_for`]);
//! - `vision/vision_step`: one vision-stage step (tower + merger + probe, forward and
//!   backward, AdamW) on a batch of 32 images;
//! - `vision/sft_step`: one SFT step on the same 32 images with their programs, the
//!   stage it prepares (its ratio to `vision_step` is what the vision stage costs per
//!   image relative to SFT).
//!
//! Throughput is in images per second.

use std::time::Duration;

use cadrl::data::synth::{SynthConfig, generate};
use cadrl::pipeline::rgb;
use cadrl::pipeline::vision::{Target, targets_for};
use cadrl_backend_tch::init::{InitConfig, train_tokenizer, write_random_checkpoint};
use cadrl_backend_tch::{DType, DeviceSpec, Example, ImageInput, ModelSpec, QwenVlPolicy, TrainConfig};
use criterion::{Criterion, Throughput};

const BATCH: usize = 32;

fn main() {
    cadrl_backend_tch::set_num_threads(2);
    let cfg = SynthConfig { decimals: 2, fit: 1.5, circle_prob: 0.3, ..SynthConfig::default() };
    let samples = generate(&cfg, 7, 0, BATCH as u64);
    let dir = std::env::temp_dir().join(format!("cadrl-bench-vision-{}", std::process::id()));
    let codes: Vec<String> = samples.iter().map(|s| s.code.clone()).collect();
    train_tokenizer(&codes, 1024, &dir.join("tok")).expect("tokenizer");
    let shape: InitConfig = serde_json::from_value(serde_json::json!({
        "hidden_size": 128, "intermediate_size": 344, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vision_depth": 2,
        "vision_hidden_size": 64, "vision_heads": 4, "vision_intermediate_size": 128,
        "mrope_section": [4, 6, 6], "image_max_pixels": 28224
    }))
    .expect("shape");
    write_random_checkpoint(&shape, &dir.join("tok"), &dir.join("model"), 0).expect("checkpoint");
    let spec = ModelSpec {
        path_or_id: dir.join("model").display().to_string(),
        device: DeviceSpec::Cpu,
        dtype: DType::F32,
    };
    let targets = Target::ALL;
    let rows: Vec<Vec<f32>> =
        codes.iter().map(|c| targets_for(c, "solid", &targets, 4).expect("targets")).collect();
    let images: Vec<ImageInput> = samples.iter().map(|s| rgb(&s.image)).collect();

    let mut c =
        Criterion::default().configure_from_args().sample_size(10).measurement_time(Duration::from_secs(10));
    let mut g = c.benchmark_group("vision");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("targets_1core", |b| {
        b.iter(|| codes.iter().filter(|c| targets_for(c, "solid", &targets, 4).is_ok()).count())
    });
    let mut p = QwenVlPolicy::load(&spec, None).expect("load");
    p.enable_full_finetune();
    p.set_train_config(TrainConfig { lr: 1e-4, probe_outputs: rows[0].len(), ..TrainConfig::default() });
    g.bench_function("vision_step", |b| b.iter(|| p.vision_step(&images, &rows).expect("step").loss));
    let mut p = QwenVlPolicy::load(&spec, None).expect("load");
    p.enable_full_finetune();
    p.set_train_config(TrainConfig {
        lr: 1e-4,
        vision_lr_scale: 0.0,
        merger_lr_scale: Some(0.0),
        ..TrainConfig::default()
    });
    let prompt = cadrl::data::GENCAD_PROMPT;
    let ex: Vec<Example> = samples
        .iter()
        .map(|s| Example { image: rgb(&s.image), prompt: Some(prompt.into()), completion: s.code.clone() })
        .collect();
    g.bench_function("sft_step", |b| b.iter(|| p.sft_step(&ex).expect("step").loss));
    g.finish();
    c.final_summary();
    std::fs::remove_dir_all(&dir).ok();
}
