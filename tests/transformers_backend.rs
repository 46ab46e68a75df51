//! The second backend, transformers (+ PEFT) in a Python worker, run by the pipeline
//! through the `cadrl_backend` traits on a tiny random Qwen2.5-VL (the tch backend's
//! `make_tiny.py`) and GenCAD-Code fixture images, beside libtorch: the same teacher-forced
//! log-probs and greedy tokens through the trait, `cadrl eval --backend transformers`
//! giving the same predictions and report as `--backend tch`, and a recipe with
//! `[model] backend = "transformers"` running its sample and eval stages to that report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cadrl::backend::{BackendKind, backend};
use cadrl_backend::{DType, DeviceSpec, Example, GenerateOptions, ImageInput, ModelSpec};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("../shared/fixtures/gencad-dev/cases.jsonl")
}

/// The tiny checkpoints, made once per build dir (shared with the backends' tests).
fn tiny(name: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let script = root().join("backends/tch/tests/python/make_tiny.py");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cadrl-tiny-v2");
        let src = std::fs::read_to_string(&script).unwrap();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        src.hash(&mut h);
        let stamp = format!("{:016x}", h.finish());
        if std::fs::read_to_string(dir.join("DONE")).ok().as_deref() != Some(stamp.as_str()) {
            let _ = std::fs::remove_dir_all(&dir);
            let py = std::env::var("CADRL_TORCH_PYTHON").unwrap_or_else(|_| {
                format!("{}/.cache/cadrl/torch-2.11.0/bin/python", std::env::var("HOME").unwrap())
            });
            let out = Command::new(py).arg(&script).arg(&dir).output().unwrap();
            assert!(out.status.success(), "make_tiny.py: {}", String::from_utf8_lossy(&out.stderr));
            std::fs::write(dir.join("DONE"), stamp).unwrap();
        }
        dir
    });
    dir.join(name)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cadrl-hf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cadrl(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cadrl")).args(args).current_dir(cwd).output().unwrap()
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The first `n` fixture rows: (image path, reference program).
fn cases(n: usize) -> Vec<(PathBuf, String)> {
    let dir = fixtures().parent().unwrap().to_path_buf();
    jsonl(&fixtures())
        .into_iter()
        .take(n)
        .map(|c| (dir.join(c["image"].as_str().unwrap()), c["code"].as_str().unwrap().to_string()))
        .collect()
}

/// Both backends through `cadrl_backend::{Backend, Policy}` on GenCAD-Code's 448x448
/// renders (not the images the references were made on), tiny-a (torchvision processor)
/// and tiny-c (Pillow): per-token log-probs of the reference programs within 1e-4, pair
/// sums alike, and identical greedy tokens from RGB8 pixels.
#[test]
fn both_backends_score_and_decode_alike_through_the_trait() {
    let cases = cases(3);
    let rgb = |p: &Path| {
        let img = image::open(p).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        ImageInput::Rgb8 { width: w as usize, height: h as usize, data: img.into_raw() }
    };
    for name in ["tiny-a", "tiny-c"] {
        let spec = ModelSpec {
            path_or_id: tiny(name).display().to_string(),
            device: DeviceSpec::Cpu,
            dtype: DType::F32,
        };
        let tch = backend(BackendKind::Tch).unwrap().load(&spec, None).unwrap();
        let hf = backend(BackendKind::Transformers).unwrap().load(&spec, None).unwrap();
        let ex: Vec<Example> = cases
            .iter()
            .map(|(img, code)| Example {
                image: ImageInput::Path(img.clone()),
                prompt: None,
                completion: code.chars().take(240).collect(),
            })
            .collect();
        let (a, b) = (tch.logprobs(&ex, true).unwrap(), hf.logprobs(&ex, true).unwrap());
        let mut worst = 0f64;
        let mut tokens = 0;
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.len(), y.len(), "{name}: the same tokens (completion + <|im_end|>)");
            tokens += x.len();
            worst = x.iter().zip(y).map(|(p, q)| f64::from((p - q).abs())).fold(worst, f64::max);
        }
        eprintln!("{name}: tch vs transformers log-probs, max abs diff {worst:e} over {tokens} tokens");
        assert!(worst <= 1e-4, "{name}: {worst}");
        assert!(tokens > 100);
        let pairs: Vec<cadrl_backend::PreferencePair> = ex
            .windows(2)
            .map(|w| cadrl_backend::PreferencePair {
                image: w[0].image.clone(),
                prompt: None,
                chosen: w[0].completion.clone(),
                rejected: w[1].completion.clone(),
            })
            .collect();
        for ((c1, r1), (c2, r2)) in
            tch.pair_logprobs(&pairs, false).unwrap().iter().zip(hf.pair_logprobs(&pairs, false).unwrap())
        {
            assert!(
                (c1 - c2).abs() < 1e-2 && (r1 - r2).abs() < 1e-2,
                "{name}: pair sums {c1} {r1} vs {c2} {r2}"
            );
        }

        let imgs: Vec<ImageInput> = cases.iter().map(|(p, _)| rgb(p)).collect();
        let opts = GenerateOptions { temperature: 0.0, max_new_tokens: 20, ..Default::default() };
        let (g1, g2) = (tch.generate(&imgs, &opts).unwrap(), hf.generate(&imgs, &opts).unwrap());
        for (x, y) in g1.iter().zip(&g2) {
            assert_eq!(x[0].token_ids, y[0].token_ids, "{name}: greedy tokens");
            assert_eq!(x[0].text, y[0].text, "{name}: decoded text");
            let d = x[0].logprobs.iter().zip(&y[0].logprobs).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
            assert!(d <= 1e-4, "{name}: greedy log-probs differ by {d}");
        }
    }
}

/// `cadrl eval` (greedy decoding, executing, scoring, the shuffled-image ablation) with
/// each backend on the same model and data: the same predictions and the same report. A
/// recipe whose `[model] backend = "transformers"` runs a sample stage and an eval stage
/// through it, and its eval stage reports what `cadrl eval --backend transformers` does.
#[test]
fn eval_and_a_recipe_on_the_transformers_backend_match_tch() {
    let dir = tmp("eval");
    let model = tiny("tiny-a").display().to_string();
    let data = fixtures().display().to_string();
    let mut reports = vec![];
    let mut preds = vec![];
    for kind in ["tch", "transformers"] {
        let out = dir.join(kind).join("report.json");
        let o = cadrl(
            &[
                "eval",
                "--model",
                &model,
                "--data",
                &data,
                "--limit",
                "4",
                "--max-new-tokens",
                "24",
                "--backend",
                kind,
                "--out",
                out.to_str().unwrap(),
            ],
            &dir,
        );
        assert!(o.status.success(), "{kind}: {}", String::from_utf8_lossy(&o.stderr));
        reports.push(json(&out));
        preds.push(jsonl(&dir.join(kind).join("eval.jsonl")));
    }
    assert_eq!(preds[0].len(), 4);
    for (t, h) in preds[0].iter().zip(&preds[1]) {
        assert_eq!(t["id"], h["id"]);
        assert!(!t["prediction"].as_str().unwrap().is_empty());
        assert_eq!(t["prediction"], h["prediction"], "greedy predictions of {}", t["id"]);
        assert_eq!(t["outcome"], h["outcome"]);
    }
    for k in
        ["n", "vsr", "iou_mean", "iou_median", "distinct_rate", "iou_mean_shuffled", "image_gain", "invalid"]
    {
        assert!(reports[0].get(k).is_some(), "report lacks {k}");
        assert_eq!(reports[0][k], reports[1][k], "report key {k}");
    }
    assert_eq!(reports[0]["n"], 4);

    // the recipe's backend reaches the pipeline: sample + eval on transformers
    let recipe = format!(
        r#"
[run]
name = "hf"
log_dir = "logs"
seed = 1
threads = 2

[model]
path = "{model}"
backend = "transformers"

[data]
source = "jsonl"
path = "{data}"
subset = "first:2"

[eval_data]
source = "jsonl"
path = "{data}"
subset = "first:4"

[[reward]]
kind = "iou"

[generation]
max_new_tokens = 24
temperature = 1.0
top_k = 50

[[stage]]
kind = "sample"
images = 2
k = 3

[[stage]]
kind = "eval"
"#
    );
    std::fs::write(dir.join("hf.toml"), &recipe).unwrap();
    let o = cadrl(&["recipe", "run", "hf.toml", "--quiet"], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = cadrl::pipeline::runs_in(&dir.join("logs")).pop().unwrap();
    let cands = jsonl(&run.join("stages/00-sample/candidates.jsonl"));
    assert_eq!(cands.len(), 2 * 3, "k candidates per image");
    let rep = json(&run.join("stages/01-eval/report.json"));
    for k in ["n", "vsr", "iou_mean", "distinct_rate", "iou_mean_shuffled", "image_gain"] {
        assert_eq!(rep[k], reports[1][k], "the eval stage and `cadrl eval --backend transformers`: {k}");
    }
    let stage_preds = jsonl(&run.join("stages/01-eval/eval.jsonl"));
    for (s, c) in stage_preds.iter().zip(&preds[1]) {
        assert_eq!(s["prediction"], c["prediction"]);
    }
    let resolved = std::fs::read_to_string(run.join("recipe.resolved.toml")).unwrap();
    assert!(resolved.contains("backend = \"transformers\""), "{resolved}");
    std::fs::remove_dir_all(&dir).ok();
}
