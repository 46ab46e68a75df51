//! The `init` stage for small models trained from scratch: a byte-level BPE tokenizer shaped
//! like Qwen2.5's (same NFC normaliser, split regex, ByteLevel pre-tokenizer/decoder, the
//! Qwen2.5-VL added tokens appended after the learned vocabulary) trained on the programs, and a
//! randomly initialised Qwen2.5-VL checkpoint in Hugging Face layout (transformers-5 key names,
//! transformers-like initialisation) that both [`crate::QwenVlPolicy`] and transformers load.
//! Everything is deterministic (same inputs and seed, same bytes) and written through a
//! temporary directory renamed into place, so a killed run never leaves a half-written output.
mod tokenizer;
pub use tokenizer::{QWEN25VL_ADDED_TOKENS, TokenizerReport, train_tokenizer};

use crate::atomic::write_dir_atomic;
use crate::loading::peft_module_path;
use anyhow::{Context, Result, anyhow};
use rand::{Rng, SeedableRng};

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use tokenizers::Tokenizer;

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let s = serde_json::to_string_pretty(v).context("serialising JSON")?;
    std::fs::write(path, s + "\n").with_context(|| format!("writing {}", path.display()))
}

pub use cadrl_backend::InitConfig;

/// How a tensor is initialised.
enum Init {
    Normal,
    Zeros,
    Ones,
}

/// Canonical (legacy) names, shapes and initialisation of every weight.
fn weight_specs(c: &InitConfig, vocab: usize) -> Vec<(String, Vec<usize>, Init)> {
    let mut v = vec![];
    let lin = |v: &mut Vec<_>, name: String, out: usize, inp: usize, bias: bool| {
        v.push((format!("{name}.weight"), vec![out, inp], Init::Normal));
        if bias {
            v.push((format!("{name}.bias"), vec![out], Init::Zeros));
        }
    };
    let (vh, vi) = (c.vision_hidden_size, c.vision_intermediate_size);
    v.push(("visual.patch_embed.proj.weight".into(), vec![vh, 3, 2, 14, 14], Init::Normal));
    for i in 0..c.vision_depth {
        let p = format!("visual.blocks.{i}");
        v.push((format!("{p}.norm1.weight"), vec![vh], Init::Ones));
        v.push((format!("{p}.norm2.weight"), vec![vh], Init::Ones));
        lin(&mut v, format!("{p}.attn.qkv"), 3 * vh, vh, true);
        lin(&mut v, format!("{p}.attn.proj"), vh, vh, true);
        lin(&mut v, format!("{p}.mlp.gate_proj"), vi, vh, true);
        lin(&mut v, format!("{p}.mlp.up_proj"), vi, vh, true);
        lin(&mut v, format!("{p}.mlp.down_proj"), vh, vi, true);
    }
    v.push(("visual.merger.ln_q.weight".into(), vec![vh], Init::Ones));
    lin(&mut v, "visual.merger.mlp.0".into(), 4 * vh, 4 * vh, true);
    lin(&mut v, "visual.merger.mlp.2".into(), c.hidden_size, 4 * vh, true);
    let (h, hd) = (c.hidden_size, c.hidden_size / c.num_attention_heads);
    v.push(("model.embed_tokens.weight".into(), vec![vocab, h], Init::Normal));
    for i in 0..c.num_hidden_layers {
        let p = format!("model.layers.{i}");
        v.push((format!("{p}.input_layernorm.weight"), vec![h], Init::Ones));
        v.push((format!("{p}.post_attention_layernorm.weight"), vec![h], Init::Ones));
        lin(&mut v, format!("{p}.self_attn.q_proj"), c.num_attention_heads * hd, h, true);
        lin(&mut v, format!("{p}.self_attn.k_proj"), c.num_key_value_heads * hd, h, true);
        lin(&mut v, format!("{p}.self_attn.v_proj"), c.num_key_value_heads * hd, h, true);
        lin(&mut v, format!("{p}.self_attn.o_proj"), h, c.num_attention_heads * hd, false);
        lin(&mut v, format!("{p}.mlp.gate_proj"), c.intermediate_size, h, false);
        lin(&mut v, format!("{p}.mlp.up_proj"), c.intermediate_size, h, false);
        lin(&mut v, format!("{p}.mlp.down_proj"), h, c.intermediate_size, false);
    }
    v.push(("model.norm.weight".into(), vec![h], Init::Ones));
    if !c.tie_word_embeddings {
        v.push(("lm_head.weight".into(), vec![vocab, h], Init::Normal));
    }
    v
}

/// FNV-1a, a stable hash so each tensor's random stream depends only on (seed, name).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// `n` samples of N(0, std) as little-endian f32 bytes (Box-Muller on a ChaCha stream).
fn normal_bytes(n: usize, std: f64, seed: u64) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n * 4);
    while out.len() < n * 4 {
        let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let a = std::f64::consts::TAU * u2;
        for z in [r * a.cos(), r * a.sin()] {
            if out.len() < n * 4 {
                out.extend_from_slice(&(z as f32).to_le_bytes());
            }
        }
    }
    out
}

fn token_id(ids: &HashMap<String, u32>, t: &str, dir: &Path) -> Result<u32> {
    ids.get(t).copied().with_context(|| format!("{}: tokenizer has no `{t}` token", dir.display()))
}

/// Write a randomly initialised Qwen2.5-VL checkpoint of shape `cfg` with the tokenizer in
/// `tokenizer_dir` to `out_dir` (replaced atomically): config.json, model.safetensors (f32,
/// transformers-5 key names), preprocessor_config.json, generation_config.json, tokenizer
/// files. Linear/embedding weights ~ N(0, initializer_range), biases 0, norms 1, the padding
/// row of the embedding 0 (as transformers initialises). Same inputs and seed, same bytes.
pub fn write_random_checkpoint(
    cfg: &InitConfig,
    tokenizer_dir: &Path,
    out_dir: &Path,
    seed: u64,
) -> Result<()> {
    cfg.validate()?;
    let tok_path = tokenizer_dir.join("tokenizer.json");
    let tok = Tokenizer::from_file(&tok_path).map_err(|e| anyhow!("loading {}: {e}", tok_path.display()))?;
    let vocab = tok.get_vocab_size(true);
    let ids = tok.get_vocab(true);
    let id = |t: &str| token_id(&ids, t, tokenizer_dir);
    let (eot, im_end) = (id("<|endoftext|>")?, id("<|im_end|>")?);
    let config = json!({
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "model_type": "qwen2_5_vl",
        "dtype": "float32",
        "bos_token_id": eot,
        "eos_token_id": im_end,
        "pad_token_id": eot,
        "image_token_id": id("<|image_pad|>")?,
        "video_token_id": id("<|video_pad|>")?,
        "vision_start_token_id": id("<|vision_start|>")?,
        "vision_end_token_id": id("<|vision_end|>")?,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "text_config": {
            "model_type": "qwen2_5_vl_text",
            "vocab_size": vocab,
            "hidden_size": cfg.hidden_size,
            "intermediate_size": cfg.intermediate_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads,
            "hidden_act": "silu",
            "max_position_embeddings": cfg.max_position_embeddings,
            "rms_norm_eps": cfg.rms_norm_eps,
            "initializer_range": cfg.initializer_range,
            "attention_dropout": 0.0,
            "use_cache": true,
            "use_sliding_window": false,
            "sliding_window": null,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": cfg.rope_theta,
                "mrope_section": cfg.mrope_section,
            },
            "bos_token_id": eot,
            "eos_token_id": im_end,
            "pad_token_id": eot,
            "tie_word_embeddings": cfg.tie_word_embeddings,
        },
        "vision_config": {
            "model_type": "qwen2_5_vl_vision",
            "depth": cfg.vision_depth,
            "hidden_size": cfg.vision_hidden_size,
            "intermediate_size": cfg.vision_intermediate_size,
            "num_heads": cfg.vision_heads,
            "out_hidden_size": cfg.hidden_size,
            "hidden_act": "silu",
            "in_channels": 3,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "tokens_per_second": 2,
            "window_size": cfg.vision_window_size,
            "fullatt_block_indexes": cfg.vision_fullatt_block_indexes,
            "initializer_range": cfg.initializer_range,
            "rope_parameters": {"rope_type": "axial", "rope_theta": 10000.0},
        },
    });
    let generation = json!({
        "bos_token_id": eot,
        "eos_token_id": [im_end, eot],
        "pad_token_id": eot,
    });
    let preprocessor = json!({
        "do_convert_rgb": true,
        "do_normalize": true,
        "do_rescale": true,
        "do_resize": true,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2_5_VLProcessor",
        "merge_size": 2,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "resample": 3,
        "rescale_factor": 1.0 / 255.0,
        "min_pixels": cfg.image_min_pixels,
        "max_pixels": cfg.image_max_pixels,
        "size": {"shortest_edge": cfg.image_min_pixels, "longest_edge": cfg.image_max_pixels},
    });
    let mut bufs = vec![];
    for (name, shape, init) in weight_specs(cfg, vocab) {
        let n: usize = shape.iter().product();
        let mut bytes = match init {
            Init::Normal => normal_bytes(n, cfg.initializer_range, seed ^ fnv1a(&name)),
            Init::Zeros => vec![0u8; n * 4],
            Init::Ones => 1f32.to_le_bytes().repeat(n),
        };
        if name == "model.embed_tokens.weight" {
            let row = cfg.hidden_size * 4;
            let start = eot as usize * row;
            bytes[start..start + row].fill(0);
        }
        bufs.push((peft_module_path(&name), shape, bytes));
    }
    let views = bufs
        .iter()
        .map(|(k, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (k.clone(), v))
                .with_context(|| format!("tensor `{k}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    write_dir_atomic(out_dir, |d| {
        safetensors::serialize_to_file(views, Some(meta), &d.join("model.safetensors"))
            .context("writing model.safetensors")?;
        write_json(&d.join("config.json"), &config)?;
        write_json(&d.join("generation_config.json"), &generation)?;
        write_json(&d.join("preprocessor_config.json"), &preprocessor)?;
        for f in [
            "tokenizer.json",
            "tokenizer_config.json",
            "chat_template.jinja",
            "special_tokens_map.json",
            "vocab.json",
            "merges.txt",
        ] {
            let src = tokenizer_dir.join(f);
            if src.exists() {
                std::fs::copy(&src, d.join(f)).with_context(|| format!("copying {}", src.display()))?;
            }
        }
        Ok(())
    })
}
