//! LoRA: attach adapters (rank, alpha, dropout, target modules) to decoder and optionally
//! vision linears, f32 adapter weights separate from the frozen base, merge, and save/load
//! in PEFT format (`adapter_config.json`, `adapter_model.safetensors`, keys
//! `base_model.model.<module>.lora_{A,B}.weight` with transformers-5 module paths).
use crate::loading::{canonical_key, peft_module_path, read_safetensors};
use crate::model::QwenVl;
use crate::nn::{Linear, Lora};
use anyhow::{Context, Result, bail};

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use tch::{Kind, Tensor};

pub use cadrl_backend::{DEFAULT_TARGETS, LoraConfig};

/// Whether the adapter targets the module of `canonical` name.
fn matches(cfg: &LoraConfig, canonical: &str) -> bool {
    if canonical.starts_with("visual.") && !cfg.vision {
        return false;
    }
    cfg.effective_targets().iter().any(|t| canonical == t || canonical.ends_with(&format!(".{t}")))
}

/// Attach fresh adapters (A kaiming-uniform like PEFT, B zero). Returns the number adapted.
pub(crate) fn attach(model: &mut QwenVl, cfg: &LoraConfig) -> Result<usize> {
    if cfg.r == 0 {
        bail!("LoRA rank must be > 0");
    }
    let device = model.device;
    let mut n = 0;
    for lin in model.linears_mut(cfg.vision) {
        if !matches(cfg, &lin.name) {
            continue;
        }
        let (out_f, in_f) = (lin.out_features(), lin.in_features());
        let bound = 1.0 / (in_f as f64).sqrt();
        let a = (Tensor::rand([cfg.r as i64, in_f], (Kind::Float, device)) * (2.0 * bound) - bound)
            .set_requires_grad(true);
        let b = Tensor::zeros([out_f, cfg.r as i64], (Kind::Float, device)).set_requires_grad(true);
        lin.lora = Some(Lora { a, b, scale: cfg.scale(), dropout: cfg.dropout });
        n += 1;
    }
    if n == 0 {
        bail!("LoRA target modules {:?} matched no linear layer", cfg.target_modules);
    }
    Ok(n)
}

/// All adapter tensors (A then B per module), for the optimizer.
pub fn params(model: &mut QwenVl) -> Vec<Tensor> {
    let mut v = vec![];
    for lin in model.linears_mut(true) {
        if let Some(l) = &lin.lora {
            v.push(l.a.shallow_clone());
            v.push(l.b.shallow_clone());
        }
    }
    v
}

/// Merge all adapters into the base weights (inference).
pub(crate) fn merge(model: &mut QwenVl) {
    for lin in model.linears_mut(true) {
        lin.merge_lora();
    }
}

/// Remove all adapters.
fn detach(model: &mut QwenVl) {
    for lin in model.linears_mut(true) {
        lin.lora = None;
    }
}

/// Save in PEFT format.
pub(crate) fn save(model: &mut QwenVl, cfg: &LoraConfig, base_model: &str, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tensors: Vec<(String, Tensor)> = vec![];
    for lin in model.linears_mut(true) {
        if let Some(l) = &lin.lora {
            let p = peft_module_path(&lin.name);
            tensors.push((
                format!("base_model.model.{p}.lora_A.weight"),
                l.a.detach().to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous(),
            ));
            tensors.push((
                format!("base_model.model.{p}.lora_B.weight"),
                l.b.detach().to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous(),
            ));
        }
    }
    if tensors.is_empty() {
        bail!("no LoRA adapter attached; nothing to save");
    }
    let mut bufs: Vec<(String, Vec<u8>, Vec<usize>)> = vec![];
    for (k, t) in &tensors {
        let n = t.numel();
        let mut v = vec![0f32; n];
        t.copy_data(&mut v, n);
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        bufs.push((k.clone(), bytes, t.size().iter().map(|&x| x as usize).collect()));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bufs
        .iter()
        .map(|(k, b, s)| {
            Ok((k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)?))
        })
        .collect::<Result<_>>()?;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    let p = dir.join("adapter_model.safetensors");
    safetensors::serialize_to_file(views, Some(meta), &p)
        .with_context(|| format!("writing {}", p.display()))?;
    let names = cfg.target_modules.iter().map(|t| regex_escape(t)).collect::<Vec<_>>().join("|");
    let target: Value = if cfg.vision {
        json!(cfg.effective_targets())
    } else {
        // decoder only: PEFT full-matches a string target against module names
        Value::String(format!("^(?!.*visual).*\\.({names})$"))
    };
    let conf = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": cfg.r,
        "lora_alpha": cfg.alpha,
        "lora_dropout": cfg.dropout,
        "target_modules": target,
        "bias": "none",
        "fan_in_fan_out": false,
        "use_rslora": cfg.use_rslora,
        "use_dora": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "revision": null,
    });
    let cp = dir.join("adapter_config.json");
    std::fs::write(&cp, serde_json::to_string_pretty(&conf)?)
        .with_context(|| format!("writing {}", cp.display()))?;
    Ok(())
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_string() } else { format!("\\{c}") })
        .collect()
}

/// Load a PEFT LoRA adapter (replacing any attached one). Returns the config read.
pub(crate) fn load(model: &mut QwenVl, dir: &Path) -> Result<LoraConfig> {
    let cp = dir.join("adapter_config.json");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&cp).with_context(|| format!("reading {}", cp.display()))?,
    )
    .with_context(|| format!("parsing {}", cp.display()))?;
    if v.get("peft_type").and_then(|x| x.as_str()).is_some_and(|t| t != "LORA") {
        bail!("{}: only LORA adapters are supported", cp.display());
    }
    if v.get("use_dora").and_then(|x| x.as_bool()) == Some(true) {
        bail!("{}: DoRA adapters are not supported", cp.display());
    }
    let r_default = v.get("r").and_then(|x| x.as_u64()).context("adapter_config.json: missing `r`")? as usize;
    let alpha = v.get("lora_alpha").and_then(|x| x.as_f64()).unwrap_or(r_default as f64);
    let rslora = v.get("use_rslora").and_then(|x| x.as_bool()).unwrap_or(false);
    let dropout = v.get("lora_dropout").and_then(|x| x.as_f64()).unwrap_or(0.0);
    let alpha_pattern: HashMap<String, f64> =
        v.get("alpha_pattern").and_then(|x| serde_json::from_value(x.clone()).ok()).unwrap_or_default();
    let mut targets: Vec<String> = match v.get("target_modules") {
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        _ => vec![],
    };
    let wp = dir.join("adapter_model.safetensors");
    let raw = read_safetensors(&wp, Some(Kind::Float), model.device)?;
    let mut ab: HashMap<String, (Option<Tensor>, Option<Tensor>)> = HashMap::new();
    for (k, t) in raw {
        let k = k.replace(".default.", ".");
        let (m, is_a) = if let Some(m) = k.strip_suffix(".lora_A.weight") {
            (m, true)
        } else if let Some(m) = k.strip_suffix(".lora_B.weight") {
            (m, false)
        } else {
            bail!("{}: unsupported adapter tensor `{k}` (only lora_A/lora_B weights)", wp.display());
        };
        let e = ab.entry(canonical_key(m)).or_default();
        if is_a { e.0 = Some(t) } else { e.1 = Some(t) }
    }
    detach(model);
    let mut vision = false;
    let mut by_name: HashMap<String, &mut Linear> =
        model.linears_mut(true).into_iter().map(|l| (l.name.clone(), l)).collect();
    for (name, (a, b)) in ab {
        let (Some(a), Some(b)) = (a, b) else {
            bail!("{}: module `{name}` lacks lora_A or lora_B", wp.display())
        };
        let lin = by_name.get_mut(&name).with_context(|| {
            format!("{}: adapter module `{name}` does not exist in the model", wp.display())
        })?;
        let r = a.size()[0] as usize;
        if a.size()[1] != lin.in_features() || b.size()[0] != lin.out_features() || b.size()[1] != r as i64 {
            bail!(
                "{}: shapes of `{name}` ({:?}, {:?}) do not fit the layer",
                wp.display(),
                a.size(),
                b.size()
            );
        }
        let al = alpha_pattern.iter().find(|(p, _)| name.ends_with(p.as_str())).map_or(alpha, |(_, &x)| x);
        let scale = if rslora { al / (r as f64).sqrt() } else { al / r as f64 };
        vision |= name.starts_with("visual.");
        if targets.is_empty() {
            targets.push(name.rsplit('.').next().unwrap_or_default().to_string());
        }
        lin.lora = Some(Lora { a: a.set_requires_grad(true), b: b.set_requires_grad(true), scale, dropout });
    }
    targets.sort();
    targets.dedup();
    if targets.iter().any(|t| t.contains('(') || t.contains('*')) {
        targets = DEFAULT_TARGETS.iter().map(|s| s.to_string()).collect();
    }
    Ok(LoraConfig { r: r_default, alpha, dropout, target_modules: targets, vision, use_rslora: rslora })
}
