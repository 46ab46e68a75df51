//! The policy as the pipeline holds it: the recipe's backend plus what a checkpoint
//! needs (LoRA adapter or full weights, optimizer state, progress).
//!
//! A checkpoint directory holds `adapter/` (PEFT format) or `model/` (a full Hugging
//! Face checkpoint, loadable on its own), `optimizer.safetensors` when a training stage
//! is in progress (and the vision stage's `probe.safetensors`), and `progress.json`. Checkpoints are written to a temporary sibling and
//! renamed into place, so a killed run never leaves half of one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cadrl_backend::{Backend, ImageInput, LoraConfig, ModelSpec, TrainConfig};

use super::rundir::{Progress, write_atomic, write_dir_atomic};
use crate::recipe::{Finetune, Recipe};

/// The policy being trained and how to rebuild it.
pub(crate) struct Policy {
    /// The backend's model (with LoRA adapters unless `full`).
    pub(crate) p: Box<dyn cadrl_backend::Policy>,
    /// The backend that loaded it (seeds, threads).
    pub(crate) backend: &'static dyn Backend,
    /// The starting checkpoint (hub id or directory).
    pub(crate) base: String,
    /// Full fine-tuning (`[model] finetune = "full"`): checkpoints hold `model/`, not
    /// `adapter/`.
    pub(crate) full: bool,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("base", &self.base).field("full", &self.full).finish()
    }
}

fn lora_config(r: &Recipe) -> Option<LoraConfig> {
    r.lora.as_ref().map(|l| LoraConfig {
        r: l.rank,
        alpha: l.alpha,
        dropout: l.dropout,
        target_modules: l.targets.clone(),
        vision: l.vision,
        ..Default::default()
    })
}

impl Policy {
    /// Load the starting model `base` as the recipe says (fresh adapters for LoRA).
    pub(crate) fn load(r: &Recipe, base: &str) -> Result<Policy> {
        let spec = ModelSpec { path_or_id: base.to_string(), device: r.model.device, dtype: r.model.dtype };
        let full = r.model.finetune == Finetune::Full;
        // a backend that does not train gets no fresh adapters (recipes with one have no
        // training stage: `recipe::resolve` refuses them)
        let lora = if full || !r.model.backend.trains() { None } else { lora_config(r) };
        let backend = crate::backend::backend(r.model.backend)?;
        backend.manual_seed(r.run.seed);
        let mut p = backend.load(&spec, lora).with_context(|| format!("loading model {base}"))?;
        if full {
            p.enable_full_finetune();
        }
        Ok(Policy { p, backend, base: base.to_string(), full })
    }

    /// Restore the policy saved in checkpoint `dir`, and for an in-stage checkpoint the
    /// stage's training settings `cfg`, its probe (vision stage) and optimizer state.
    pub(crate) fn restore(r: &Recipe, base: &str, dir: &Path, cfg: Option<&TrainConfig>) -> Result<Policy> {
        let mut pol = if r.model.finetune == Finetune::Full {
            let mut p = Policy::load(r, &dir.join("model").display().to_string())?;
            p.base = base.to_string();
            // side files (config, tokenizer) are copied from here by later saves; the
            // checkpoint being restored may be deleted once its stage ends
            p.p.set_model_dir(cadrl_backend::hub::resolve_model_dir(base)?);
            p
        } else {
            let mut p = Policy::load(r, base)?;
            p.p.load_adapter(&dir.join("adapter"))
                .with_context(|| format!("restoring adapter from {}", dir.display()))?;
            p
        };
        if let Some(cfg) = cfg {
            pol.p.set_train_config(cfg.clone());
        }
        let probe = dir.join("probe.safetensors");
        if probe.is_file() {
            pol.p.load_probe(&probe)?;
        }
        let opt = dir.join("optimizer.safetensors");
        if opt.is_file() {
            pol.p.load_optimizer(&opt)?;
        }
        Ok(pol)
    }

    /// Save the policy (and optimizer state with `progress`) into `dir`, atomically.
    pub(crate) fn save(&mut self, dir: &Path, progress: Option<&Progress>) -> Result<()> {
        self.save_with(dir, progress, &[])
    }

    /// [`Self::save`] with `extra` files (name, bytes) in the same atomic directory.
    pub(crate) fn save_with(
        &mut self,
        dir: &Path,
        progress: Option<&Progress>,
        extra: &[(&str, &[u8])],
    ) -> Result<()> {
        let full = self.full;
        let p = &mut self.p;
        write_dir_atomic(dir, |tmp| {
            if full {
                p.save_full(&tmp.join("model"))?;
            } else {
                p.save_adapter(&tmp.join("adapter"))?;
            }
            if let Some(pr) = progress {
                p.save_optimizer(&tmp.join("optimizer.safetensors"))?;
                if p.has_probe() {
                    p.save_probe(&tmp.join("probe.safetensors"))?;
                }
                write_atomic(&tmp.join("progress.json"), serde_json::to_string_pretty(pr)?.as_bytes())?;
            }
            for (name, bytes) in extra {
                write_atomic(&tmp.join(name), bytes)?;
            }
            Ok(())
        })
    }

    /// A fresh optimizer with these settings (each training stage starts its own).
    pub(crate) fn start_training(&mut self, cfg: TrainConfig) {
        self.p.set_train_config(cfg);
        self.p.reset_optimizer();
    }
}

/// A decoded image as the backend takes it (RGB8, row-major; the pixels are copied).
pub fn rgb(img: &image::RgbImage) -> ImageInput {
    ImageInput::Rgb8 {
        width: img.width() as usize,
        height: img.height() as usize,
        data: img.as_raw().clone(),
    }
}

/// Where the starting model is: the init stage's output or `[model].path`.
pub(crate) fn base_model(r: &Recipe, init_dir: Option<PathBuf>) -> String {
    match init_dir {
        Some(d) => d.display().to_string(),
        None => r.model.path.clone(),
    }
}
