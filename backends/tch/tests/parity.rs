//! Parity with transformers on tiny random Qwen2.5-VL checkpoints: processor pixels and
//! grid_thw, prompt ids (chat template + tokenizer), teacher-forced log-probs (1e-3, f32, CPU),
//! greedy tokens, sharded and hub-cache loading.
#![allow(clippy::unwrap_used)]
mod common;
use cadrl_backend_tch::loading::{read_safetensors, resolve_model_dir_in};
use cadrl_backend_tch::*;
use common::*;

const CONFIGS: [&str; 3] = ["tiny-a", "tiny-b", "tiny-c"];

fn policy(name: &str) -> QwenVlPolicy {
    let spec = ModelSpec {
        path_or_id: tiny_dir().join(name).display().to_string(),
        device: DeviceSpec::Cpu,
        dtype: DType::F32,
    };
    QwenVlPolicy::load(&spec, None).unwrap()
}

fn examples(r: &serde_json::Value, images: &[usize]) -> (Vec<Example>, Vec<Vec<f64>>) {
    let mut ex = vec![];
    let mut lps = vec![];
    for &i in images {
        for c in r["images"][i]["completions"].as_array().unwrap() {
            ex.push(Example {
                image: ImageInput::Path(image_path(r, i)),
                prompt: None,
                completion: c["text"].as_str().unwrap().to_string(),
            });
            lps.push(f64s(&c["logprobs"]));
        }
    }
    (ex, lps)
}

#[test]
fn processor_matches_transformers() {
    let p = policy("tiny-a");
    let r = reference("tiny-a");
    let pix =
        read_safetensors(&tiny_dir().join("tiny-a/ref/pixels.safetensors"), None, tch::Device::Cpu).unwrap();
    for i in 0..r["images"].as_array().unwrap().len() {
        let img = p.process_image(&ImageInput::Path(image_path(&r, i))).unwrap();
        let grid: Vec<usize> = i64s(&r["images"][i]["grid_thw"]).iter().map(|&x| x as usize).collect();
        assert_eq!(img.grid_thw.to_vec(), grid, "grid_thw of image {i}");
        let t = &pix[&format!("pixel_values_{i}")];
        let refv = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        assert_eq!(img.pixel_values.len(), refv.len());
        let d = img.pixel_values.iter().zip(&refv).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!("image {i}: grid {grid:?} pixel max abs diff {d:e}");
        assert!(d <= 1e-6, "pixel values of image {i} differ by {d}");
        // prompt ids: chat template + <|image_pad|> expansion + tokenizer
        let ids = p.tokenizer.prompt_ids(chat::DEFAULT_PROMPT, Some(img.num_tokens(2))).unwrap();
        let want: Vec<u32> = i64s(&r["images"][i]["prompt_ids"]).iter().map(|&x| x as u32).collect();
        assert_eq!(ids, want, "prompt ids of image {i}");
    }
}

#[test]
fn logprobs_match_transformers() {
    for name in CONFIGS {
        let p = policy(name);
        let r = reference(name);
        let (ex, want) = examples(&r, &[0, 1, 2]);
        let got = p.logprobs(&ex, true).unwrap();
        let mut worst = 0f64;
        for (g, w) in got.iter().zip(&want) {
            worst = worst.max(max_abs_diff(g, w));
        }
        eprintln!(
            "{name}: batched teacher-forced log-prob max abs diff {worst:e} over {} sequences",
            ex.len()
        );
        assert!(worst < 1e-3, "{name}: log-prob diff {worst}");
    }
}

#[test]
fn greedy_matches_transformers() {
    for name in CONFIGS {
        let p = policy(name);
        let r = reference(name);
        let imgs: Vec<ImageInput> = (0..3).map(|i| ImageInput::Path(image_path(&r, i))).collect();
        // n = 2: candidates share the prefilled prompt cache; both must equal transformers
        let opts = GenerateOptions { temperature: 0.0, max_new_tokens: 16, n: 2, ..Default::default() };
        let out = p.generate(&imgs, &opts).unwrap();
        for i in 0..3 {
            let want = i64s(&r["images"][i]["greedy"]);
            assert_eq!(out[i].len(), 2);
            let got: Vec<i64> = out[i][0].token_ids.iter().map(|&x| x as i64).collect();
            let n = got.len();
            assert_eq!(got[..], want[..n], "{name} image {i} greedy tokens");
            assert_eq!(out[i][0].token_ids, out[i][1].token_ids);
            let d = out[i][0]
                .logprobs
                .iter()
                .zip(&out[i][1].logprobs)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(d < 1e-4, "candidates' log-probs differ by {d}");
            eprintln!("{name} image {i}: {n} greedy tokens identical");
        }
    }
}

#[test]
fn sharded_and_hub_cache_loading() {
    let a = policy("tiny-a");
    let s = policy("tiny-a-sharded");
    let r = reference("tiny-a");
    let (ex, _) = examples(&r, &[1]);
    let la = a.logprobs(&ex, true).unwrap();
    let ls = s.logprobs(&ex, true).unwrap();
    assert_eq!(la, ls);
    // hub cache layout made locally
    let cache = tempdir("hub");
    let snap = cache.join("models--cadrl--tiny-a/snapshots/0123456789abcdef0123456789abcdef01234567");
    std::fs::create_dir_all(&snap).unwrap();
    for f in std::fs::read_dir(tiny_dir().join("tiny-a")).unwrap() {
        let f = f.unwrap();
        if f.path().is_file() {
            std::fs::copy(f.path(), snap.join(f.file_name())).unwrap();
        }
    }
    std::fs::create_dir_all(cache.join("models--cadrl--tiny-a/refs")).unwrap();
    std::fs::write(cache.join("models--cadrl--tiny-a/refs/main"), "0123456789abcdef0123456789abcdef01234567")
        .unwrap();
    let d = resolve_model_dir_in("cadrl/tiny-a", &cache).unwrap();
    assert_eq!(d, snap);
    let err = resolve_model_dir_in("Qwen/Qwen2.5-VL-3B-Instruct", &cache).unwrap_err().to_string();
    assert!(err.contains("huggingface-cli download Qwen/Qwen2.5-VL-3B-Instruct"), "{err}");
    assert!(err.contains("models--Qwen--Qwen2.5-VL-3B-Instruct"), "{err}");
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cadrl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bf16_close_to_f32() {
    let r = reference("tiny-b");
    let spec = ModelSpec {
        path_or_id: tiny_dir().join("tiny-b").display().to_string(),
        device: DeviceSpec::Cpu,
        dtype: DType::BF16,
    };
    let p = QwenVlPolicy::load(&spec, None).unwrap();
    let (ex, want) = examples(&r, &[1]);
    let got = p.logprobs(&ex, true).unwrap();
    let (mut worst, mut sum, mut n) = (0f64, 0f64, 0usize);
    for (g, w) in got.iter().zip(&want) {
        for (a, b) in g.iter().zip(w) {
            let d = (*a as f64 - b).abs();
            worst = worst.max(d);
            sum += d;
            n += 1;
        }
    }
    eprintln!("bf16 vs transformers f32: mean abs diff {:e}, max {worst:e}", sum / n as f64);
    assert!(sum / (n as f64) < 0.5, "bf16 log-probs far from f32");
}
