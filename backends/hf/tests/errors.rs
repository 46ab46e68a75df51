//! What the transformers backend refuses and how it fails: training, saving and probe
//! methods are errors naming the method; a broken checkpoint, a Python exception, a worker
//! that dies or a Python that is not there are errors carrying the worker's own words
//! (traceback or stderr tail), never a hang; the worker is killed when its policy is dropped.
#![allow(clippy::unwrap_used)]
mod common;
use cadrl_backend::{
    Backend, DpoLoss, Example, GenerateOptions, ImageInput, InitConfig, LoraConfig, Policy, PreferencePair,
};
use cadrl_backend_hf::HfBackend;
use common::*;
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let d =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cadrl-hf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn example(r: &serde_json::Value) -> Example {
    Example { image: ImageInput::Path(image_path(r, 1)), prompt: None, completion: "w".into() }
}

fn alive(pid: u32) -> bool {
    // a zombie (exited, not reaped) counts as gone
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

#[test]
fn every_training_saving_and_probe_method_is_an_error_naming_it() {
    let _t = turn();
    let b = backend();
    let r = reference("tiny-a");
    let e = b.load(&spec("tiny-a"), Some(LoraConfig::default())).err().unwrap().to_string();
    assert!(e.contains("does not train") && e.contains("tch"), "{e}");
    let mut p = b.load(&spec("tiny-a"), None).unwrap();
    let dir = scratch("refused");
    let ex = vec![example(&r)];
    let pair =
        PreferencePair { image: ex[0].image.clone(), prompt: None, chosen: "a".into(), rejected: "b".into() };
    let img = vec![ex[0].image.clone()];
    p.enable_full_finetune();
    p.set_train_config(Default::default());
    p.set_lr(1e-3);
    p.reset_optimizer();
    assert!(!p.has_probe());
    let errors = [
        ("sft_step", p.sft_step(&ex).err()),
        ("dpo_step", p.dpo_step(&[pair], None, &DpoLoss::sigmoid(0.1)).err()),
        ("vision_step", p.vision_step(&img, &[vec![0.0]]).err()),
        ("probe_predict", p.probe_predict(&img).err()),
        ("save_adapter", p.save_adapter(&dir.join("adapter")).err()),
        ("save_full", p.save_full(&dir.join("model")).err()),
        ("save_optimizer", p.save_optimizer(&dir.join("o.safetensors")).err()),
        ("load_optimizer", p.load_optimizer(&dir.join("o.safetensors")).err()),
        ("save_probe", p.save_probe(&dir.join("p.safetensors")).err()),
        ("load_probe", p.load_probe(&dir.join("p.safetensors")).err()),
        ("init_checkpoint", b.init_checkpoint(&InitConfig::default(), &[], 300, &dir, 0).err()),
    ];
    for (method, e) in errors {
        let e = e.unwrap_or_else(|| panic!("{method} did not fail")).to_string();
        assert!(e.starts_with(method) && e.contains("only samples and scores") && e.contains("tch"), "{e}");
    }
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "nothing was written");
    // the policy still scores after all that, and its model dir is its own to set
    assert_eq!(p.logprobs(&ex, true).unwrap()[0].len(), 2);
    assert_eq!(p.model_dir(), tiny_dir().join("tiny-a"));
    p.set_model_dir(dir.clone());
    assert_eq!(p.model_dir(), dir);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_broken_checkpoint_or_input_is_an_error_with_the_traceback() {
    let _t = turn();
    let b = backend();
    // no such directory (nor hub id): refused before any worker starts
    let e =
        b.load_policy(&cadrl_backend::ModelSpec { path_or_id: "/no/such/model".into(), ..spec("tiny-a") });
    assert!(e.unwrap_err().to_string().contains("neither a local directory nor a hub id"));
    // truncated weights: transformers' own error comes back, with its traceback
    let dir = scratch("broken");
    for f in std::fs::read_dir(tiny_dir().join("tiny-a")).unwrap().flatten() {
        if f.path().is_file() {
            std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
        }
    }
    let w = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &w[..w.len() / 2]).unwrap();
    let t0 = std::time::Instant::now();
    let spec_broken = cadrl_backend::ModelSpec { path_or_id: dir.display().to_string(), ..spec("tiny-a") };
    let e = format!("{:#}", b.load_policy(&spec_broken).unwrap_err());
    eprintln!("{e}");
    assert!(e.contains("loading") && e.contains("failed") && e.contains("Traceback"), "{e}");
    assert!(t0.elapsed().as_secs() < 120);
    std::fs::remove_dir_all(&dir).ok();

    // a Python exception in a call is an error, and the worker goes on serving
    let p = tiny_policy("tiny-a");
    let r = reference("tiny-a");
    let missing = Example { image: ImageInput::Path("/no/such/image.png".into()), ..example(&r) };
    let e = format!("{:#}", p.logprobs(&[missing], true).unwrap_err());
    assert!(
        e.contains("`logprobs` failed") && e.contains("FileNotFoundError") && e.contains("Traceback"),
        "{e}"
    );
    assert_eq!(p.logprobs(&[example(&r)], true).unwrap()[0].len(), 2);
}

#[test]
fn a_dead_worker_is_an_error_with_its_stderr_and_a_dropped_one_is_killed() {
    let _t = turn();
    let r = reference("tiny-a");
    // killed in the middle of its life: the call says it exited and shows its stderr
    let p = tiny_policy("tiny-a");
    let pid = p.worker_pid();
    let opts = GenerateOptions { temperature: 0.0, max_new_tokens: 2, ..Default::default() };
    p.generate(&[ImageInput::Path(image_path(&r, 1))], &opts).unwrap();
    assert!(std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status().unwrap().success());
    let e = format!("{:#}", p.generate(&[ImageInput::Path(image_path(&r, 1))], &opts).unwrap_err());
    assert!(e.contains("exited") && e.contains("signal: 9") && e.contains("during `generate`"), "{e}");
    assert!(e.contains("Loading weights"), "the stderr tail: {e}");
    let e = p.logprobs(&[example(&r)], true).unwrap_err().to_string();
    assert!(e.contains("the worker is gone"), "{e}");
    drop(p);

    // dropped: the process is gone
    let p = tiny_policy("tiny-a");
    let pid = p.worker_pid();
    assert!(alive(pid));
    drop(p);
    assert!(!alive(pid), "worker {pid} still running after drop");

    // an interpreter that dies at once: its exit status and stderr, not a hang
    let dir = scratch("fake-python");
    let fake = dir.join("python");
    std::fs::write(&fake, "#!/bin/sh\necho 'fake python: no torch here' >&2\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = format!("{:#}", HfBackend::with_python(&fake).load_policy(&spec("tiny-a")).unwrap_err());
    assert!(e.contains("exit status: 3") && e.contains("fake python: no torch here"), "{e}");
    // and one that does not exist names itself and the variables that choose it
    let e = format!(
        "{:#}",
        HfBackend::with_python(Path::new("/no/such/python")).load_policy(&spec("tiny-a")).unwrap_err()
    );
    assert!(e.contains("/no/such/python") && e.contains("CADRL_HF_PYTHON"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
