//! The `init` stage: a Qwen2-style BPE trained on GenCAD programs (exact round trip, Qwen2.5-VL
//! added-token order, deterministic) and a random Qwen2.5-VL checkpoint that our policy loads
//! and samples from, that transformers loads without missing keys, and whose prompt ids and
//! teacher-forced log-probs agree with transformers'; same seed, same bytes.
#![allow(clippy::unwrap_used)]
mod common;
use cadrl_backend_tch::chat::{ChatTokenizer, DEFAULT_PROMPT};
use cadrl_backend_tch::init::*;
use cadrl_backend_tch::*;
use common::*;
use std::path::{Path, PathBuf};

const FIXTURES: &str = "/work/shared/fixtures/gencad-dev";

fn fixtures() -> PathBuf {
    std::env::var("CADRL_GENCAD_DEV").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(FIXTURES))
}

/// The 17 fixture programs plus two rewritten variants of each (51 programs).
fn programs() -> Vec<String> {
    let s = std::fs::read_to_string(fixtures().join("cases.jsonl")).unwrap();
    let codes: Vec<String> = s
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["code"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(codes.len() >= 17);
    let mut out = codes.clone();
    for c in &codes {
        out.push(c.replace("solid", "body").replace("loop", "profile"));
        // shorter numbers: keep at most 4 decimals
        let mut short = String::new();
        let mut decimals = None;
        for ch in c.chars() {
            match (ch, decimals) {
                ('.', None) if short.ends_with(|p: char| p.is_ascii_digit()) => {
                    decimals = Some(0);
                    short.push(ch);
                }
                (d, Some(n)) if d.is_ascii_digit() => {
                    if n < 4 {
                        short.push(d);
                    }
                    decimals = Some(n + 1);
                }
                _ => {
                    decimals = None;
                    short.push(ch);
                }
            }
        }
        out.push(short);
    }
    out
}

fn image() -> PathBuf {
    fixtures().join("images/00442545_0.png")
}

fn tmp(tag: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cadrl-init-{tag}-{}", std::process::id()))
}

fn no_temp_left(dir: &Path) {
    let parent = dir.parent().unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    for e in std::fs::read_dir(parent).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!n.starts_with(&format!(".{name}.tmp")), "temporary dir {n} left behind");
    }
}

#[test]
fn tokenizer_round_trips_with_qwen_added_tokens() {
    let progs = programs();
    let (a, b) = (tmp("tok-a"), tmp("tok-b"));
    let ra = train_tokenizer(&progs, 600, &a).unwrap();
    let rb = train_tokenizer(&progs, 600, &b).unwrap();
    eprintln!("{ra:?}");
    assert_eq!(ra, rb);
    for f in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
    no_temp_left(&a);
    // Qwen's split keeps digits single, so these programs saturate below 600 learned tokens.
    let n = ra.learned_vocab_size;
    assert!(n > 300 && n <= 600, "{ra:?}");
    assert_eq!(ra.vocab_size, n + QWEN25VL_ADDED_TOKENS.len());
    let mean_chars = progs.iter().map(|p| p.len()).sum::<usize>() as f64 / progs.len() as f64;
    assert!(ra.mean_tokens_per_program < mean_chars / 1.4, "{ra:?} vs {mean_chars} chars");
    let t = ChatTokenizer::from_dir(&a).unwrap();
    for (i, (content, _)) in QWEN25VL_ADDED_TOKENS.iter().enumerate() {
        assert_eq!(t.tokenizer.token_to_id(content), Some((n + i) as u32), "{content}");
    }
    assert_eq!(t.im_end_id as usize, n + 2);
    assert_eq!(t.image_pad_id as usize, n + 12);
    assert_eq!(t.pad_id as usize, n);
    let mut extra = progs.clone();
    extra.push("r = cq.Workplane('XY')  # ünïcode ✓ 直径\n\n\tx=1e-3".to_string());
    for p in &extra {
        let ids = t.encode(p).unwrap();
        assert!(ids.iter().all(|&i| (i as usize) < n), "added token inside a program");
        assert_eq!(&t.decode(&ids).unwrap(), p);
    }
    // special tokens in text are single ids; the prompt renders through the chat template
    let ids = t.prompt_ids(DEFAULT_PROMPT, Some(3)).unwrap();
    assert_eq!(ids[0] as usize, n + 1);
    assert_eq!(ids.iter().filter(|&&i| i as usize == n + 12).count(), 3);
    assert!(train_tokenizer(&progs, 100, &tmp("tok-small")).is_err());
    std::fs::remove_dir_all(&b).unwrap();
}

#[test]
fn init_config_defaults_and_unknown_fields() {
    let c: InitConfig = serde_json::from_str(r#"{"hidden_size": 96, "mrope_section": [4, 4, 4]}"#).unwrap();
    assert_eq!(c.hidden_size, 96);
    assert_eq!(c.num_hidden_layers, InitConfig::default().num_hidden_layers);
    c.validate().unwrap();
    assert!(serde_json::from_str::<InitConfig>(r#"{"hidden_sise": 96}"#).is_err());
    let bad = InitConfig { mrope_section: vec![2, 2, 2], ..Default::default() };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("mrope_section"), "{e}");
    let bad = InitConfig { out_hidden_size: Some(32), ..Default::default() };
    assert!(bad.validate().is_err());
}

#[test]
fn random_checkpoint_loads_samples_and_matches_transformers() {
    let progs = programs();
    let tok = tmp("ck-tok");
    let vocab = train_tokenizer(&progs, 500, &tok).unwrap().vocab_size;
    let cfg = InitConfig {
        hidden_size: 48,
        intermediate_size: 96,
        num_attention_heads: 3,
        num_key_value_heads: 1,
        mrope_section: vec![2, 3, 3],
        vision_hidden_size: 32,
        vision_heads: 2,
        vision_intermediate_size: 64,
        vision_depth: 2,
        tie_word_embeddings: false,
        ..Default::default()
    };
    let (a, b, c) = (tmp("ck-a"), tmp("ck-b"), tmp("ck-c"));
    write_random_checkpoint(&cfg, &tok, &a, 7).unwrap();
    write_random_checkpoint(&cfg, &tok, &b, 7).unwrap();
    write_random_checkpoint(&cfg, &tok, &b, 7).unwrap(); // replaces an existing checkpoint
    write_random_checkpoint(&cfg, &tok, &c, 8).unwrap();
    no_temp_left(&b);
    let st = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(st(&a), st(&b), "same seed, different weights");
    assert_ne!(st(&a), st(&c), "different seeds, same weights");
    for f in ["config.json", "preprocessor_config.json", "generation_config.json", "tokenizer.json"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
    }

    let spec = ModelSpec { path_or_id: a.display().to_string(), device: DeviceSpec::Cpu, dtype: DType::F32 };
    let p = QwenVlPolicy::load(&spec, None).unwrap();
    assert_eq!(p.model.cfg.text.vocab_size, vocab);
    let img = p.process_image(&ImageInput::Path(image())).unwrap();
    assert_eq!(img.grid_thw, [1, 16, 16]);
    assert_eq!(img.num_tokens(2), 64, "448x448 at max_pixels 224*224");
    let opts = GenerateOptions { n: 3, temperature: 1.0, max_new_tokens: 12, seed: 5, ..Default::default() };
    let out = p.generate(&[ImageInput::Path(image())], &opts).unwrap();
    assert_eq!(out[0].len(), 3);
    for cand in &out[0] {
        assert!(!cand.token_ids.is_empty());
        assert_eq!(cand.token_ids.len(), cand.logprobs.len());
        assert!(cand.token_ids.iter().all(|&i| (i as usize) < vocab));
        assert!(cand.logprobs.iter().all(|l| l.is_finite() && *l <= 0.0));
    }
    assert_ne!(out[0][0].token_ids, out[0][1].token_ids, "sampling gave identical candidates");

    // transformers on the same directory
    let completion = progs[3].clone();
    let texts: Vec<String> = progs.iter().take(6).cloned().collect();
    let req = a.join("request.json");
    std::fs::write(
        &req,
        serde_json::json!({"prompt": DEFAULT_PROMPT, "completion": completion, "texts": texts}).to_string(),
    )
    .unwrap();
    let o = std::process::Command::new(python())
        .arg(script("init_check.py"))
        .arg(&a)
        .arg(image())
        .arg(&req)
        .output()
        .unwrap();
    assert!(o.status.success(), "init_check.py failed: {}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (k, v) in r["loading_info"].as_object().unwrap() {
        assert!(v.as_array().unwrap().is_empty(), "transformers loading_info {k}: {v}");
    }
    assert_eq!(r["vocab_size"].as_u64(), Some(vocab as u64));
    let u32s = |v: &serde_json::Value| -> Vec<u32> { i64s(v).iter().map(|&x| x as u32).collect() };
    assert_eq!(i64s(&r["grid_thw"]), vec![1, 16, 16]);
    let ids = p.tokenizer.prompt_ids(DEFAULT_PROMPT, Some(64)).unwrap();
    assert_eq!(ids, u32s(&r["prompt_ids"]), "prompt ids differ from AutoProcessor's");
    assert_eq!(p.tokenizer.completion_ids(&completion).unwrap(), u32s(&r["completion_ids"]));
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(p.tokenizer.encode(t).unwrap(), u32s(&r["text_ids"][i]), "program {i} ids");
        assert_eq!(r["decoded"][i].as_str().unwrap(), t, "transformers decode of program {i}");
    }
    let ex = Example { image: ImageInput::Path(image()), prompt: None, completion };
    let got = p.logprobs(&[ex], true).unwrap();
    let d = max_abs_diff(&got[0], &f64s(&r["logprobs"]));
    eprintln!(
        "tokenizer class {}, processor {}, {} completion tokens, log-prob max abs diff vs transformers {d:e}",
        r["tokenizer_class"],
        r["processor"],
        got[0].len()
    );
    assert!(d < 1e-4, "log-probs differ from transformers by {d}");
    for d in [tok, b, c] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
