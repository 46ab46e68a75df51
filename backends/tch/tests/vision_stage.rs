//! The vision stage's step on transformers-made Qwen2.5-VL checkpoints: the probe's loss
//! falls, full fine-tuning moves the tower and merger but not the decoder, LoRA moves
//! only the tower's adapters, a LoRA without adapters on the tower is refused, and the
//! trained tower saves in Hugging Face layout and reloads to the same outputs.
#![allow(clippy::unwrap_used)]
mod common;
use cadrl_backend_tch::*;
use common::*;
use tch::Tensor;

fn policy(name: &str, lora: Option<LoraConfig>) -> QwenVlPolicy {
    tiny_policy(name, lora)
}

/// Two images of the reference set, with opposite targets.
fn batch(name: &str) -> (Vec<ImageInput>, Vec<Vec<f32>>) {
    let r = reference(name);
    let images = vec![ImageInput::Path(image_path(&r, 0)), ImageInput::Path(image_path(&r, 1))];
    (images, vec![vec![1.0, -1.0, 0.5], vec![-1.0, 1.0, -0.5]])
}

fn snapshot(ts: &[Tensor]) -> Vec<Tensor> {
    ts.iter().map(|t| t.detach().copy()).collect()
}

fn moved(before: &[Tensor], after: &[Tensor]) -> usize {
    before.iter().zip(after).filter(|(a, b)| (*a - *b).abs().max().double_value(&[]) > 0.0).count()
}

#[test]
fn full_vision_step_trains_tower_and_merger_only_and_saves_in_hf_layout() {
    let (images, targets) = batch("tiny-a");
    let mut p = policy("tiny-a", None);
    p.enable_full_finetune();
    p.set_train_config(TrainConfig { lr: 3e-3, probe_outputs: 3, ..Default::default() });
    let text0 = snapshot(&p.model.text.base_tensors());
    let vision0 = snapshot(&p.model.vision.base_tensors());
    let losses: Vec<f64> = (0..30).map(|_| p.vision_step(&images, &targets).unwrap().loss).collect();
    eprintln!("vision-stage loss {:.4} -> {:.4}", losses[0], losses[29]);
    assert!(losses[29] < 0.2 * losses[0], "{losses:?}");
    assert_eq!(moved(&text0, &p.model.text.base_tensors()), 0, "the decoder is not trained");
    let vision1 = p.model.vision.base_tensors();
    assert_eq!(moved(&vision0, &vision1), vision0.len(), "every tower and merger tensor moves");
    let pred = p.probe_predict(&images).unwrap();
    assert!(pred[0][0] > pred[1][0] && pred[0][1] < pred[1][1], "{pred:?}");

    // saved as a full Hugging Face checkpoint, the trained tower reloads unchanged
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cadrl-vs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    p.save_full(&dir).unwrap();
    let spec =
        ModelSpec { path_or_id: dir.display().to_string(), device: DeviceSpec::Cpu, dtype: DType::F32 };
    let q = QwenVlPolicy::load(&spec, None).unwrap();
    assert_eq!(moved(&vision1, &q.model.vision.base_tensors()), 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lora_vision_step_trains_only_the_towers_adapters() {
    let (images, targets) = batch("tiny-b");
    let cfg = LoraConfig { r: 4, alpha: 8.0, dropout: 0.0, vision: true, ..Default::default() };
    let mut p = policy("tiny-b", Some(cfg));
    p.set_train_config(TrainConfig { lr: 1e-2, probe_outputs: 3, ..Default::default() });
    let n_text = 2 * p.model.text.linears_mut().iter().filter(|l| l.lora.is_some()).count();
    let all0 = snapshot(&lora::params(&mut p.model));
    let base0 = snapshot(&p.model.vision.base_tensors());
    let losses: Vec<f64> = (0..20).map(|_| p.vision_step(&images, &targets).unwrap().loss).collect();
    assert!(losses[19] < losses[0], "{losses:?}");
    let all1 = lora::params(&mut p.model);
    assert_eq!(moved(&all0[..n_text], &all1[..n_text]), 0, "text adapters are not trained");
    assert!(moved(&all0[n_text..], &all1[n_text..]) > 0, "the tower's adapters are trained");
    assert_eq!(moved(&base0, &p.model.vision.base_tensors()), 0, "the base tower stays frozen");

    let cfg = LoraConfig { r: 4, alpha: 8.0, dropout: 0.0, vision: false, ..Default::default() };
    let mut p = policy("tiny-b", Some(cfg));
    p.set_train_config(TrainConfig { lr: 1e-2, probe_outputs: 3, ..Default::default() });
    let e = p.vision_step(&images, &targets).unwrap_err().to_string();
    assert!(e.contains("LoRA on the vision tower"), "{e}");
}

#[test]
fn mismatched_targets_are_refused() {
    let (images, targets) = batch("tiny-a");
    let mut p = policy("tiny-a", None);
    p.enable_full_finetune();
    p.set_train_config(TrainConfig { probe_outputs: 2, ..Default::default() });
    assert!(p.vision_step(&images, &targets).is_err(), "3 values a row for a 2-output probe");
    assert!(p.vision_step(&images[..1], &targets).is_err(), "one image, two rows");
    assert!(p.probe_predict(&images).is_err(), "no probe before the first step");
}
