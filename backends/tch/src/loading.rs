//! Weight loading: memory-mapped safetensors (single file or sharded with
//! `model.safetensors.index.json`), converted to the requested dtype/device, with key names
//! normalised to the legacy layout (`model.layers.*`, `visual.*`, `lm_head.*`) whatever
//! transformers version saved them, and mapped back to PEFT / transformers-5 module paths.
//! Resolving a checkpoint (local directory or model id in the Hugging Face hub cache) is
//! `cadrl_backend::hub`'s; [`resolve_model_dir_in`] is re-exported from there.
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

pub(crate) use cadrl_backend::hub::resolve_model_dir;
pub use cadrl_backend::hub::resolve_model_dir_in;

/// Map any supported key layout to the canonical legacy one.
pub(crate) fn canonical_key(k: &str) -> String {
    let k = k.strip_prefix("base_model.model.").unwrap_or(k);
    if let Some(r) = k.strip_prefix("model.language_model.") {
        return format!("model.{r}");
    }
    if let Some(r) = k.strip_prefix("language_model.model.") {
        return format!("model.{r}");
    }
    if let Some(r) = k.strip_prefix("language_model.lm_head.") {
        return format!("lm_head.{r}");
    }
    if let Some(r) = k.strip_prefix("model.visual.") {
        return format!("visual.{r}");
    }
    k.to_string()
}

/// The PEFT / transformers-5 module path of a canonical module name.
pub(crate) fn peft_module_path(canonical: &str) -> String {
    if let Some(r) = canonical.strip_prefix("visual.") {
        format!("model.visual.{r}")
    } else if let Some(r) = canonical.strip_prefix("model.") {
        format!("model.language_model.{r}")
    } else {
        canonical.to_string()
    }
}

fn st_kind(d: safetensors::Dtype) -> Result<Kind> {
    use safetensors::Dtype as D;
    Ok(match d {
        D::F32 => Kind::Float,
        D::F16 => Kind::Half,
        D::BF16 => Kind::BFloat16,
        D::F64 => Kind::Double,
        D::I64 => Kind::Int64,
        D::I32 => Kind::Int,
        D::U8 => Kind::Uint8,
        D::BOOL => Kind::Bool,
        other => bail!("unsupported safetensors dtype {other:?}"),
    })
}

/// Read every tensor of one safetensors file (memory-mapped), keyed as stored.
pub fn read_safetensors(path: &Path, kind: Option<Kind>, device: Device) -> Result<HashMap<String, Tensor>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: the file is opened read-only and not modified while mapped.
    let mmap = unsafe { memmap2::MmapOptions::new().map(&file) }
        .with_context(|| format!("memory-mapping {}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&mmap)
        .with_context(|| format!("parsing safetensors header of {}", path.display()))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let k = st_kind(view.dtype()).with_context(|| format!("tensor `{name}` in {}", path.display()))?;
        let shape: Vec<i64> = view.shape().iter().map(|&x| x as i64).collect();
        let t = Tensor::from_data_size(view.data(), &shape, k);
        let t = match kind {
            Some(target)
                if matches!(k, Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double) && k != target =>
            {
                t.to_kind(target)
            }
            _ => t,
        };
        out.insert(name.to_string(), t.to_device(device));
    }
    Ok(out)
}

/// All model weights of a checkpoint, canonical names, in `kind` on `device`.
#[derive(Debug)]
pub(crate) struct Weights {
    tensors: HashMap<String, Tensor>,
    source: PathBuf,
}

impl Weights {
    /// Load `model.safetensors` or the shards listed in `model.safetensors.index.json`.
    pub(crate) fn load(dir: &Path, kind: Kind, device: Device) -> Result<Self> {
        let index = dir.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if index.exists() {
            let s =
                std::fs::read_to_string(&index).with_context(|| format!("reading {}", index.display()))?;
            let v: serde_json::Value =
                serde_json::from_str(&s).with_context(|| format!("parsing {}", index.display()))?;
            let map = v
                .get("weight_map")
                .and_then(|m| m.as_object())
                .with_context(|| format!("{}: no `weight_map`", index.display()))?;
            let mut f: Vec<String> = map.values().filter_map(|x| x.as_str().map(String::from)).collect();
            f.sort();
            f.dedup();
            f.into_iter().map(|x| dir.join(x)).collect()
        } else if dir.join("model.safetensors").exists() {
            vec![dir.join("model.safetensors")]
        } else {
            bail!(
                "{}: neither model.safetensors nor model.safetensors.index.json found (only safetensors \
                 checkpoints are supported)",
                dir.display()
            );
        };
        let mut tensors = HashMap::new();
        for f in &files {
            for (k, t) in read_safetensors(f, Some(kind), device)? {
                tensors.insert(canonical_key(&k), t);
            }
        }
        Ok(Self { tensors, source: dir.to_path_buf() })
    }

    /// Take a tensor by canonical name; the error names the key and the checkpoint.
    pub(crate) fn take(&mut self, name: &str) -> Result<Tensor> {
        self.tensors
            .remove(name)
            .with_context(|| format!("weight `{name}` not found in checkpoint {}", self.source.display()))
    }

    /// Take an optional tensor.
    pub(crate) fn take_opt(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }
}
