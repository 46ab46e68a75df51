//! Parity with transformers 5 on tiny random Qwen2.5-VL checkpoints with sharp weights (see
//! `python/make_tiny.py`; tiny-a/b preprocess with torchvision, tiny-c with Pillow): processor
//! pixels and grid_thw, prompt ids (chat template + tokenizer), teacher-forced log-probs
//! (<= 1e-4 nats, f32, CPU) on resized and exact-grid images in padded batches, two images in
//! one prompt (left and right padding), greedy tokens and KV-cache decoding against a full
//! forward, sharded and hub-cache loading. Log-probs are compared as absolute differences.
#![allow(clippy::unwrap_used)]
mod common;
use cadrl_backend_tch::loading::{read_safetensors, resolve_model_dir_in};
use cadrl_backend_tch::*;
use common::*;

const CONFIGS: [&str; 3] = ["tiny-a", "tiny-b", "tiny-c"];
/// Images with reference completions: above max_pixels, resized twice, an exact grid.
const SCORED: [usize; 4] = [0, 1, 2, 4];
/// Log-prob tolerance, nats per token.
const TOL: f64 = 1e-4;

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
    for name in CONFIGS {
        let p = policy(name);
        let r = reference(name);
        assert_eq!(p.processor.cfg.backend.name(), r["image_backend"].as_str().unwrap(), "{name}");
        let pix =
            read_safetensors(&tiny_dir().join(name).join("ref/pixels.safetensors"), None, tch::Device::Cpu)
                .unwrap();
        for i in 0..r["images"].as_array().unwrap().len() {
            let img = p.process_image(&ImageInput::Path(image_path(&r, i))).unwrap();
            let grid: Vec<usize> = i64s(&r["images"][i]["grid_thw"]).iter().map(|&x| x as usize).collect();
            assert_eq!(img.grid_thw.to_vec(), grid, "grid_thw of image {i}");
            let t = &pix[&format!("pixel_values_{i}")];
            let refv = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
            assert_eq!(img.pixel_values.len(), refv.len());
            let d = img.pixel_values.iter().zip(&refv).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            eprintln!("{name} image {i}: grid {grid:?} pixel max abs diff {d:e}");
            assert!(d <= 1e-6, "{name}: pixel values of image {i} differ by {d}");
            // prompt ids: chat template + <|image_pad|> expansion + tokenizer
            let ids = p.tokenizer.prompt_ids(chat::DEFAULT_PROMPT, Some(img.num_tokens(2))).unwrap();
            let want: Vec<u32> = i64s(&r["images"][i]["prompt_ids"]).iter().map(|&x| x as u32).collect();
            assert_eq!(ids, want, "prompt ids of image {i}");
        }
    }
}

fn worst_diff(got: &[Vec<f32>], want: &[Vec<f64>]) -> f64 {
    got.iter().zip(want).map(|(g, w)| max_abs_diff(g, w)).fold(0.0, f64::max)
}

#[test]
fn logprobs_match_transformers() {
    for name in CONFIGS {
        let mut p = policy(name);
        let r = reference(name);
        let (ex, want) = examples(&r, &SCORED);
        let got = p.logprobs(&ex, true).unwrap();
        let worst = worst_diff(&got, &want);
        eprintln!(
            "{name}: batched teacher-forced log-prob max abs diff {worst:e} over {} sequences",
            ex.len()
        );
        assert!(worst <= TOL, "{name}: log-prob diff {worst}");
        // the other backend's pixels on the resized images move the log-probs far past TOL
        let other = match p.processor.cfg.backend {
            ImageBackend::Torchvision => ImageBackend::Pil,
            ImageBackend::Pil => ImageBackend::Torchvision,
        };
        p.processor.cfg.backend = other;
        let (ex, want) = examples(&r, &[1, 2]);
        let off = worst_diff(&p.logprobs(&ex, true).unwrap(), &want);
        eprintln!("{name}: with {} pixels instead: max abs diff {off:e}", other.name());
        assert!(off > 100.0 * TOL, "{name}: the checkpoint does not tell the image backends apart ({off})");
    }
}

/// Per-token log-probs of `comps[r]` after `prompts[r]` in one batch (images in row order).
fn batch_logprobs(
    p: &QwenVlPolicy,
    rows: &[(Vec<i64>, Vec<i64>, Vec<&processor::ProcessedImage>)],
    left: bool,
) -> Vec<Vec<f32>> {
    let seqs: Vec<Vec<i64>> = rows.iter().map(|(a, b, _)| [a.clone(), b.clone()].concat()).collect();
    let grids: Vec<Vec<[usize; 3]>> =
        rows.iter().map(|(.., im)| im.iter().map(|i| i.grid_thw).collect()).collect();
    let batch = p.model.make_batch(&seqs, &grids, p.tokenizer.pad_id as i64, left).unwrap();
    let ctx = nn::Ctx { lora_on: false, train: false };
    tch::no_grad(|| {
        let imgs: Vec<&processor::ProcessedImage> =
            rows.iter().flat_map(|(.., im)| im.iter().copied()).collect();
        let feats = p.model.image_features(&imgs, &ctx);
        let h = p.model.hidden(&batch, Some(&feats), &ctx).unwrap();
        rows.iter()
            .enumerate()
            .map(|(r, (prompt, comp, _))| {
                let off = batch.left_pad[r] + prompt.len() as i64 - 1;
                let cols: Vec<i64> = (0..comp.len() as i64).map(|k| off + k).collect();
                let lp = p.model.gather_logprobs(&h, &vec![r as i64; comp.len()], &cols, comp);
                Vec::<f32>::try_from(lp).unwrap()
            })
            .collect()
    })
}

#[test]
fn two_images_in_one_prompt_with_padding() {
    for name in CONFIGS {
        let p = policy(name);
        let r = reference(name);
        let m = &r["multi"];
        let idx: Vec<usize> = i64s(&m["images"]).iter().map(|&i| i as usize).collect();
        let imgs: Vec<_> =
            idx.iter().map(|&i| p.process_image(&ImageInput::Path(image_path(&r, i))).unwrap()).collect();
        for (im, g) in imgs.iter().zip(m["grids"].as_array().unwrap()) {
            assert_eq!(im.grid_thw.iter().map(|&x| x as i64).collect::<Vec<_>>(), i64s(g));
        }
        let single = &r["images"][1];
        let one = p.process_image(&ImageInput::Path(image_path(&r, 1))).unwrap();
        let rows = vec![
            (i64s(&m["prompt_ids"]), i64s(&m["token_ids"]), imgs.iter().collect::<Vec<_>>()),
            (i64s(&single["prompt_ids"]), i64s(&single["completions"][2]["token_ids"]), vec![&one]),
        ];
        let want = [f64s(&m["logprobs"]), f64s(&single["completions"][2]["logprobs"])];
        for left in [false, true] {
            let got = batch_logprobs(&p, &rows, left);
            let w = worst_diff(&got, &want);
            eprintln!("{name}: two images in one prompt, padded batch (left {left}): max abs diff {w:e}");
            assert!(w <= TOL, "{name} (left padding {left}): {w}");
        }
    }
}

#[test]
fn greedy_matches_transformers() {
    for name in CONFIGS {
        let p = policy(name);
        let r = reference(name);
        let imgs: Vec<ImageInput> = SCORED.iter().map(|&i| ImageInput::Path(image_path(&r, i))).collect();
        // n = 2: candidates share the prefilled prompt cache; both must equal transformers
        let opts = GenerateOptions { temperature: 0.0, max_new_tokens: 16, n: 2, ..Default::default() };
        let out = p.generate(&imgs, &opts).unwrap();
        for (k, &i) in SCORED.iter().enumerate() {
            let want = i64s(&r["images"][i]["greedy"]);
            assert_eq!(out[k].len(), 2);
            let got: Vec<i64> = out[k][0].token_ids.iter().map(|&x| x as i64).collect();
            let n = got.len();
            assert_eq!(got[..], want[..n], "{name} image {i} greedy tokens");
            assert_eq!(out[k][0].token_ids, out[k][1].token_ids);
            let d = out[k][0]
                .logprobs
                .iter()
                .zip(&out[k][1].logprobs)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(d < 1e-4, "candidates' log-probs differ by {d}");
            // KV-cache decoding against transformers' full forward over prompt + greedy tokens
            let full = f64s(&r["images"][i]["greedy_logprobs"]);
            let m = full.len().min(n);
            assert!(m >= 8, "{name} image {i}: only {m} decoded tokens to compare");
            let kv = max_abs_diff(&out[k][0].logprobs[..m], &full[..m]);
            eprintln!(
                "{name} image {i}: {n} greedy tokens identical; KV-cache vs full forward {kv:e} over {m}"
            );
            assert!(kv <= TOL, "{name} image {i}: KV-cache log-probs differ from a full forward by {kv}");
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
