//! LoRA and training: PEFT adapters load in ours (same log-probs as PEFT), adapters we save
//! load in PEFT (same log-probs), adapter off = base, merge = adapter, SFT drives the loss
//! down, save/reload gives the same outputs, gradient checkpointing gives the same step,
//! full fine-tuning saves a loadable checkpoint, seeded sampling.
#![allow(clippy::unwrap_used)]
mod common;
use cadrl_backend_tch::*;
use common::*;
use std::process::Command;

fn policy(name: &str, lora: Option<LoraConfig>) -> QwenVlPolicy {
    tiny_policy(name, lora)
}

fn examples(r: &serde_json::Value, images: &[usize]) -> Vec<Example> {
    let mut ex = vec![];
    for &i in images {
        for c in r["images"][i]["completions"].as_array().unwrap() {
            ex.push(Example {
                image: ImageInput::Path(image_path(r, i)),
                prompt: None,
                completion: c["text"].as_str().unwrap().to_string(),
            });
        }
    }
    ex
}

fn tmp(tag: &str) -> std::path::PathBuf {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cadrl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn worst(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs() as f64)).fold(0.0, f64::max)
}

#[test]
fn peft_adapter_loads_in_ours() {
    for name in ["tiny-a", "tiny-b"] {
        let mut p = policy(name, None);
        let r = reference(name);
        p.load_adapter(&tiny_dir().join(name).join("ref/peft_adapter")).unwrap();
        let got = p.logprobs(&examples(&r, &[1]), true).unwrap();
        let mut w = 0f64;
        for (g, want) in got.iter().zip(r["peft"].as_array().unwrap()) {
            w = w.max(max_abs_diff(g, &f64s(want)));
        }
        eprintln!("{name}: PEFT-saved adapter, log-prob max abs diff vs PEFT {w:e}");
        assert!(w <= 1e-4, "{name}: {w}");
        // adapter off gives the base model
        let base = p.logprobs(&examples(&r, &[1]), false).unwrap();
        let want: Vec<Vec<f32>> = r["images"][1]["completions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| f64s(&c["logprobs"]).iter().map(|&x| x as f32).collect())
            .collect();
        assert!(worst(&base, &want) <= 1e-4);
        // merging gives the adapter's outputs
        p.merge_adapter();
        let merged = p.logprobs(&examples(&r, &[1]), true).unwrap();
        let wm = worst(&merged, &got);
        eprintln!("{name}: merged vs adapter max abs diff {wm:e}");
        assert!(wm <= 1e-4, "{name}: merged {wm}");
    }
}

#[test]
fn sft_then_our_adapter_loads_in_peft_and_reloads() {
    let name = "tiny-b";
    let r = reference(name);
    manual_seed(7);
    let cfg = LoraConfig { r: 4, alpha: 8.0, dropout: 0.0, vision: true, ..Default::default() };
    let mut p = policy(name, Some(cfg));
    p.set_train_config(TrainConfig { lr: 5e-3, ..Default::default() });
    let train = examples(&r, &[0, 1]);
    let mut losses = vec![];
    for _ in 0..8 {
        losses.push(p.sft_step(&train).unwrap().loss);
    }
    eprintln!("SFT losses: {losses:?}");
    assert!(losses[7] < losses[0] * 0.8, "loss did not go down: {losses:?}");
    let dir = tmp("adapter");
    p.save_adapter(&dir).unwrap();
    let ours = p.logprobs(&examples(&r, &[1]), true).unwrap();
    // PEFT loads it and agrees
    let out = Command::new(python())
        .arg(script("peft_logprobs.py"))
        .arg(tiny_dir().join(name))
        .arg(&dir)
        .arg("1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let peft: Vec<Vec<f64>> = serde_json::from_slice(&out.stdout).unwrap();
    let w = ours.iter().zip(&peft).map(|(a, b)| max_abs_diff(a, b)).fold(0.0, f64::max);
    eprintln!("our adapter loaded in PEFT: log-prob max abs diff {w:e}");
    assert!(w <= 1e-4, "{w}");
    // reload in a fresh policy: same outputs
    let mut q = policy(name, None);
    q.load_adapter(&dir).unwrap();
    let again = q.logprobs(&examples(&r, &[1]), true).unwrap();
    assert!(worst(&again, &ours) < 1e-5);
    let opts = GenerateOptions { temperature: 0.0, max_new_tokens: 8, ..Default::default() };
    let img = [ImageInput::Path(image_path(&r, 1))];
    assert_eq!(p.generate(&img, &opts).unwrap(), q.generate(&img, &opts).unwrap());
}

#[test]
fn gradient_checkpointing_matches() {
    let name = "tiny-a";
    let r = reference(name);
    let train = examples(&r, &[2]);
    let mut runs = vec![];
    for ckpt in [false, true] {
        manual_seed(11);
        let cfg = LoraConfig { r: 2, alpha: 4.0, dropout: 0.0, ..Default::default() };
        let mut p = policy(name, Some(cfg));
        p.set_train_config(TrainConfig { lr: 1e-2, grad_checkpointing: ckpt, ..Default::default() });
        let s: Vec<(f64, f64)> =
            (0..3).map(|_| p.sft_step(&train).map(|s| (s.loss, s.grad_norm)).unwrap()).collect();
        runs.push(s);
    }
    eprintln!("plain {:?}\ncheckpointed {:?}", runs[0], runs[1]);
    for (a, b) in runs[0].iter().zip(&runs[1]) {
        assert!((a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-3 * a.1.max(1.0));
    }
}

#[test]
fn full_finetune_save_reload() {
    let name = "tiny-c";
    let r = reference(name);
    let mut p = policy(name, None);
    p.enable_full_finetune();
    p.set_train_config(TrainConfig { lr: 1e-3, grad_checkpointing: true, ..Default::default() });
    let train = examples(&r, &[0]);
    let l0 = p.sft_step(&train).unwrap().loss;
    let mut l = l0;
    for _ in 0..5 {
        l = p.sft_step(&train).unwrap().loss;
    }
    eprintln!("full fine-tune loss {l0} -> {l}");
    assert!(l < l0);
    let dir = tmp("full");
    p.save_full(&dir).unwrap();
    let spec =
        ModelSpec { path_or_id: dir.display().to_string(), device: DeviceSpec::Cpu, dtype: DType::F32 };
    let q = QwenVlPolicy::load(&spec, None).unwrap();
    let a = p.logprobs(&train, true).unwrap();
    let b = q.logprobs(&train, true).unwrap();
    assert!(worst(&a, &b) < 1e-6);
}

#[test]
fn seeded_sampling() {
    let r = reference("tiny-a");
    let p = policy("tiny-a", None);
    let img = [ImageInput::Path(image_path(&r, 0)), ImageInput::Path(image_path(&r, 2))];
    let o = GenerateOptions {
        n: 3,
        temperature: 1.0,
        top_p: 0.9,
        top_k: 20,
        max_new_tokens: 10,
        seed: 5,
        prompt: None,
    };
    let a = p.generate(&img, &o).unwrap();
    let b = p.generate(&img, &o).unwrap();
    assert_eq!(a, b, "same seed, same samples");
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|c| c.len() == 3));
    let c = p.generate(&img, &GenerateOptions { seed: 6, ..o.clone() }).unwrap();
    assert_ne!(a, c, "different seeds differ");
    // sampled log-probs are the model's: teacher forcing the sampled text agrees
    let cand = &a[0][0];
    let g1 = p.generate(&img[..1], &GenerateOptions { temperature: 0.0, ..o.clone() }).unwrap();
    let k1 = p.generate(&img[..1], &GenerateOptions { top_k: 1, ..o.clone() }).unwrap();
    assert_eq!(g1[0][0].token_ids, k1[0][0].token_ids, "top-k 1 is greedy");
    assert!(cand.logprobs.iter().all(|x| x.is_finite() && *x <= 0.0));
}

#[test]
fn dpo_step_prefers_chosen() {
    let r = reference("tiny-a");
    manual_seed(3);
    let cfg = LoraConfig { r: 4, alpha: 8.0, dropout: 0.0, ..Default::default() };
    let mut p = policy("tiny-a", Some(cfg));
    p.set_train_config(TrainConfig { lr: 5e-3, ..Default::default() });
    let comps = r["images"][0]["completions"].as_array().unwrap();
    let pair = PreferencePair {
        image: ImageInput::Path(image_path(&r, 0)),
        prompt: None,
        chosen: comps[0]["text"].as_str().unwrap().to_string(),
        rejected: comps[1]["text"].as_str().unwrap().to_string(),
    };
    let first = p.dpo_step(std::slice::from_ref(&pair), None, &DpoLoss::sigmoid(0.1)).unwrap();
    assert!(
        (first.loss - std::f64::consts::LN_2).abs() < 1e-4,
        "initial DPO loss is ln 2, got {}",
        first.loss
    );
    let mut last = first.loss;
    for _ in 0..5 {
        last = p.dpo_step(std::slice::from_ref(&pair), None, &DpoLoss::sigmoid(0.1)).unwrap().loss;
    }
    eprintln!("DPO loss {} -> {last}", first.loss);
    assert!(last < first.loss);
}

#[test]
fn cli_commands_run() {
    let r = reference("tiny-a");
    let model = tiny_dir().join("tiny-a").display().to_string();
    let g = cli::GenerateArgs {
        model: model.clone(),
        image: image_path(&r, 0),
        prompt: None,
        adapter: Some(tiny_dir().join("tiny-a/ref/peft_adapter")),
        n: 2,
        temperature: 0.0,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: 4,
        seed: 0,
        device: "cpu".into(),
        dtype: "f32".into(),
    };
    cli::run_generate(&g).unwrap();
    let comp = tmp("completion.txt");
    std::fs::write(&comp, "w").unwrap();
    let l = cli::LogprobsArgs {
        model,
        image: image_path(&r, 0),
        completion: comp,
        prompt: None,
        adapter: None,
        device: "cpu".into(),
        dtype: "bf16".into(),
    };
    cli::run_logprobs(&l).unwrap();
}

/// Detached copies of `v` (a snapshot that training does not move).
fn copies(v: Vec<tch::Tensor>) -> Vec<tch::Tensor> {
    v.iter().map(|t| t.detach().copy()).collect()
}

/// The largest element change between two snapshots of the same tensors.
fn moved(a: &[tch::Tensor], b: &[tch::Tensor]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::try_from((x - y).abs().max()).unwrap()).fold(0.0, f64::max)
}

/// A full fine-tuning policy on "tiny-c" with `cfg`, and three SFT steps to run on it.
fn three_steps(cfg: TrainConfig) -> (QwenVlPolicy, impl Fn(&mut QwenVlPolicy)) {
    let r = reference("tiny-c");
    let mut p = policy("tiny-c", None);
    p.enable_full_finetune();
    p.set_train_config(cfg);
    let train = examples(&r, &[0]);
    (p, move |p: &mut QwenVlPolicy| {
        for _ in 0..3 {
            p.sft_step(&train).unwrap();
        }
    })
}

#[test]
fn vision_lr_scale_zero_freezes_the_vision_tower() {
    let (mut p, train) = three_steps(TrainConfig { lr: 1e-3, vision_lr_scale: 0.0, ..Default::default() });
    let snapshot =
        |p: &QwenVlPolicy| (copies(p.model.text.base_tensors()), copies(p.model.vision.base_tensors()));
    let (text0, vision0) = snapshot(&p);
    train(&mut p);
    let (text1, vision1) = snapshot(&p);
    assert_eq!(moved(&vision0, &vision1), 0.0, "vision tower frozen");
    assert!(moved(&text0, &text1) > 1e-4, "decoder trained");
}

#[test]
fn merger_lr_scale_trains_the_merger_over_a_frozen_tower() {
    let (mut p, train) = three_steps(TrainConfig {
        lr: 1e-3,
        vision_lr_scale: 0.0,
        merger_lr_scale: Some(1.0),
        ..Default::default()
    });
    let snapshot = |p: &QwenVlPolicy| {
        let (tower, merger) = p.model.vision.base_tensors_split();
        (copies(tower), copies(merger))
    };
    let (tower0, merger0) = snapshot(&p);
    train(&mut p);
    let (tower1, merger1) = snapshot(&p);
    assert_eq!(moved(&tower0, &tower1), 0.0, "vision tower frozen");
    // every merger tensor (norm, both linears and their biases) moved
    for (i, (a, b)) in merger0.iter().zip(&merger1).enumerate() {
        assert!(moved(std::slice::from_ref(a), std::slice::from_ref(b)) > 0.0, "merger tensor {i} trained");
    }
}
