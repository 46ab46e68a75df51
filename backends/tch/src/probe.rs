//! The vision stage's objective: a linear probe on each image's pooled merged features
//! (the tokens the decoder reads), regressing per-image targets the pipeline computes
//! from the program (proportions, fill ratio, occupancy, operation counts), mean squared
//! error on standardised targets. Training the tower and merger through it makes the
//! features carry the part's geometry linearly; the probe itself is thrown away after the
//! stage (it is saved beside in-stage checkpoints only, for resume).
use crate::nn::Ctx;
use crate::policy::{ImageInput, QwenVlPolicy, StepStats};
use crate::processor::ProcessedImage;
use crate::train::Probe;
use anyhow::{Context, Result, bail};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Mean of each image's merged tokens: `[n images, hidden]`.
fn pooled(policy: &QwenVlPolicy, images: &[ProcessedImage], ctx: &Ctx) -> Tensor {
    let refs: Vec<&ProcessedImage> = images.iter().collect();
    let feats = policy.model.image_features(&refs, ctx);
    let m = policy.model.cfg.vision.spatial_merge_size;
    let mut off = 0i64;
    let rows: Vec<Tensor> = images
        .iter()
        .map(|p| {
            let n = p.num_tokens(m) as i64;
            let r = feats.narrow(0, off, n).mean_dim([0i64].as_slice(), false, Kind::Float);
            off += n;
            r
        })
        .collect();
    Tensor::stack(&rows, 0)
}

impl QwenVlPolicy {
    /// One vision-stage step: the probe's mean squared error against `targets` (one row
    /// per image, standardised by the caller), accumulated over micro-batches, then one
    /// AdamW update of the tower, merger (full fine-tuning; LoRA: the tower's adapters)
    /// and probe. The probe is created at the first step with `targets[0].len()` outputs
    /// (`train_cfg.probe_outputs` must say the same).
    pub fn vision_step(&mut self, images: &[ImageInput], targets: &[Vec<f32>]) -> Result<StepStats> {
        if images.is_empty() || images.len() != targets.len() {
            bail!("vision_step: {} images and {} target rows", images.len(), targets.len());
        }
        let t = targets[0].len();
        if t == 0 || targets.iter().any(|r| r.len() != t) || t != self.train_cfg.probe_outputs {
            bail!(
                "vision_step: every target row must have train_cfg.probe_outputs = {} values",
                self.train_cfg.probe_outputs
            );
        }
        if self.probe.is_none() {
            self.optimizer = None; // one built for text training does not hold the probe
        }
        self.ensure_optimizer()?;
        let ctx = Ctx { lora_on: true, train: true };
        let n = images.len() as f64;
        let mut loss = 0.0;
        for (imgs, rows) in
            images.chunks(self.chunks(images.len())).zip(targets.chunks(self.chunks(images.len())))
        {
            let proc: Vec<ProcessedImage> =
                imgs.iter().map(|i| self.process_image(i)).collect::<Result<_>>()?;
            let flat: Vec<f32> = rows.iter().flatten().copied().collect();
            let y =
                Tensor::from_slice(&flat).view([rows.len() as i64, t as i64]).to_device(self.model.device);
            let pred = self.probe.as_ref().context("probe")?.forward(&pooled(self, &proc, &ctx));
            let l = (pred - y).square().mean(Kind::Float) * (rows.len() as f64 / n);
            l.backward();
            loss += f64::try_from(&l)?;
        }
        let grad_norm = self.update()?;
        Ok(StepStats { loss, grad_norm, lr: self.train_cfg.lr, tokens: images.len() })
    }

    /// The probe's outputs for each image (no gradients); an error before the first step.
    pub fn probe_predict(&self, images: &[ImageInput]) -> Result<Vec<Vec<f32>>> {
        let Some(probe) = &self.probe else { bail!("probe_predict: no probe (no vision step taken)") };
        let proc: Vec<ProcessedImage> =
            images.iter().map(|i| self.process_image(i)).collect::<Result<_>>()?;
        let out = tch::no_grad(|| probe.forward(&pooled(self, &proc, &Ctx::EVAL)));
        let k = probe.outputs();
        let flat = Vec::<f32>::try_from(out.to_device(Device::Cpu).contiguous().view([-1]))?;
        Ok(flat.chunks(k).map(<[f32]>::to_vec).collect())
    }

    /// Whether there is a probe (a vision step was taken or one was loaded).
    pub(crate) fn has_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// The probe's tensors in the optimizer's order (created with `outputs` if missing).
    pub(crate) fn probe_params(&mut self, outputs: usize) -> Vec<Tensor> {
        let hidden = self.model.cfg.text.hidden_size as i64;
        let device = self.model.device;
        let p = self.probe.get_or_insert_with(|| Probe::new(hidden, outputs as i64, device));
        vec![p.w.shallow_clone(), p.b.shallow_clone()]
    }

    /// Save the probe (in-stage checkpoints of the vision stage).
    pub(crate) fn save_probe(&self, path: &Path) -> Result<()> {
        let p = self.probe.as_ref().context("no probe to save")?;
        Tensor::write_safetensors(&[("w", &p.w), ("b", &p.b)], path)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Restore a probe written by [`Self::save_probe`] (before restoring the optimizer).
    pub(crate) fn load_probe(&mut self, path: &Path) -> Result<()> {
        let named = Tensor::read_safetensors(path).with_context(|| format!("reading {}", path.display()))?;
        let get = |k: &str| {
            named
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, t)| t.to_device(self.model.device))
                .with_context(|| format!("{}: no tensor `{k}`", path.display()))
        };
        let (w, b) = (get("w")?, get("b")?);
        self.probe = Some(Probe { w: w.set_requires_grad(true), b: b.set_requires_grad(true) });
        self.optimizer = None;
        Ok(())
    }
}
