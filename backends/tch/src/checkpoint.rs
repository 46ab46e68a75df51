//! Saving full checkpoints (after full fine-tuning) in Hugging Face layout with legacy
//! transformers key names, loadable by transformers and by `QwenVl::load`.
use crate::model::QwenVl;
use crate::nn::Linear;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

fn push_lin(v: &mut Vec<(String, Tensor)>, l: &Linear) {
    v.push((format!("{}.weight", l.name), l.weight.shallow_clone()));
    if let Some(b) = &l.bias {
        v.push((format!("{}.bias", l.name), b.shallow_clone()));
    }
}

/// All named base tensors in checkpoint layout.
fn named_tensors(m: &QwenVl) -> Vec<(String, Tensor)> {
    let vc = &m.cfg.vision;
    let mut v = vec![];
    v.push((
        "visual.patch_embed.proj.weight".to_string(),
        m.vision.patch_w.reshape([
            vc.hidden_size as i64,
            vc.in_channels as i64,
            vc.temporal_patch_size as i64,
            vc.patch_size as i64,
            vc.patch_size as i64,
        ]),
    ));
    for (i, b) in m.vision.blocks.iter().enumerate() {
        v.push((format!("visual.blocks.{i}.norm1.weight"), b.norm1.shallow_clone()));
        v.push((format!("visual.blocks.{i}.norm2.weight"), b.norm2.shallow_clone()));
        push_lin(&mut v, &b.qkv);
        push_lin(&mut v, &b.proj);
        for l in b.mlp.linears() {
            push_lin(&mut v, l);
        }
    }
    v.push(("visual.merger.ln_q.weight".to_string(), m.vision.merger_ln.shallow_clone()));
    push_lin(&mut v, &m.vision.merger_fc1);
    push_lin(&mut v, &m.vision.merger_fc2);
    v.push(("model.embed_tokens.weight".to_string(), m.text.embed.shallow_clone()));
    for (i, l) in m.text.layers.iter().enumerate() {
        v.push((format!("model.layers.{i}.input_layernorm.weight"), l.ln1.shallow_clone()));
        v.push((format!("model.layers.{i}.post_attention_layernorm.weight"), l.ln2.shallow_clone()));
        for li in [&l.q, &l.k, &l.v, &l.o] {
            push_lin(&mut v, li);
        }
        for li in l.mlp.linears() {
            push_lin(&mut v, li);
        }
    }
    v.push(("model.norm.weight".to_string(), m.text.norm.shallow_clone()));
    if let Some(h) = &m.text.lm_head {
        v.push(("lm_head.weight".to_string(), h.shallow_clone()));
    }
    v
}

/// Write tensors to a safetensors file (f32 / bf16 / f16 kept as is).
fn write_safetensors(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let mut bufs = vec![];
    for (k, t) in tensors {
        let t = t.detach().to_device(Device::Cpu).contiguous();
        let (dt, t) = match t.kind() {
            Kind::BFloat16 => (safetensors::Dtype::BF16, t),
            Kind::Half => (safetensors::Dtype::F16, t),
            _ => (safetensors::Dtype::F32, t.to_kind(Kind::Float)),
        };
        let nbytes = t.numel() * t.kind().elt_size_in_bytes();
        let mut bytes = vec![0u8; nbytes];
        t.view_dtype(Kind::Uint8).flatten(0, -1).copy_data(&mut bytes, nbytes);
        bufs.push((k.clone(), dt, t.size().iter().map(|&x| x as usize).collect::<Vec<_>>(), bytes));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bufs
        .iter()
        .map(|(k, dt, s, b)| Ok((k.clone(), safetensors::tensor::TensorView::new(*dt, s.clone(), b)?)))
        .collect::<Result<_>>()?;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    safetensors::serialize_to_file(views, Some(meta), path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Save the full model plus the side files (config, tokenizer, ...) of `model_dir`.
pub(crate) fn save_full(m: &QwenVl, model_dir: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_safetensors(&named_tensors(m), &dir.join("model.safetensors"))?;
    for f in [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
        "chat_template.jinja",
        "chat_template.json",
        "special_tokens_map.json",
    ] {
        let src = model_dir.join(f);
        if src.exists() {
            std::fs::copy(&src, dir.join(f)).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}
