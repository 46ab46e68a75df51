//! [`QwenVlPolicy`]: a loaded checkpoint (model, tokenizer, image processor, adapters,
//! optimizer) and its methods in `cadrl_backend`'s plain types: load (+ fresh LoRA),
//! generate candidates, teacher-forced log-probs, SFT and DPO steps, optimizer state,
//! adapter save/load/merge, full checkpoints. The RL methods are in `loss::grpo`, the
//! vision stage's in `probe`; `backend` implements `cadrl_backend::Policy` with them all.
use crate::chat::{ChatTokenizer, DEFAULT_PROMPT};
use crate::config::GenerationDefaults;
pub use crate::generate::GenerateOptions;
use crate::generate::generate;
use crate::loading::resolve_model_dir;
use crate::lora::{self, LoraConfig};
use crate::loss::dpo::{DpoLoss, DpoStats, PairLayout};
use crate::model::QwenVl;
use crate::nn::Ctx;
use crate::processor::{ProcessedImage, Processor, ProcessorConfig};
use crate::train::{AdamW, Head, Targets, TrainConfig, logprobs_for_training};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

pub use cadrl_backend::{
    Candidate, DType, DeviceSpec, Example, ImageInput, ModelSpec, PreferencePair, StepStats,
};

/// A completion to score, as token ids, with its image and prompt.
pub(crate) struct Scored<'a> {
    /// The image the prompt shows.
    pub(crate) image: &'a ImageInput,
    /// The user instruction (`None`: the default prompt).
    pub(crate) prompt: Option<&'a str>,
    /// The completion's token ids as scored (an end-of-turn token included where present).
    pub(crate) completion: Vec<i64>,
}

/// Qwen2.5-VL policy on libtorch.
pub struct QwenVlPolicy {
    /// The model (base weights and any attached adapters).
    pub model: QwenVl,
    /// The checkpoint's tokenizer and chat template.
    pub tokenizer: ChatTokenizer,
    /// The checkpoint's image processor.
    pub processor: Processor,
    /// Extra stop ids from `generation_config.json`.
    gen_defaults: GenerationDefaults,
    /// The resolved checkpoint directory (the base model named in saved adapters).
    pub(crate) model_dir: PathBuf,
    /// The attached adapter's settings, if any.
    pub(crate) lora: Option<LoraConfig>,
    /// Optimizer and batching settings of the training steps.
    pub(crate) train_cfg: TrainConfig,
    /// AdamW over the trained tensors, built at the first step.
    pub(crate) optimizer: Option<AdamW>,
    /// Whether the base weights are trained instead of adapters.
    full_finetune: bool,
    /// The vision stage's probe ([`crate::probe`]), while one is trained.
    pub(crate) probe: Option<crate::train::Probe>,
    /// A copy of the trained weights ([`crate::loss::grpo`]: the RL reference `start`).
    pub(crate) snapshot: Option<Vec<Tensor>>,
}

impl std::fmt::Debug for QwenVlPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QwenVlPolicy").field("model_dir", &self.model_dir).field("lora", &self.lora).finish()
    }
}

/// The examples of a DPO batch: all chosen completions, then all rejected ones.
fn pair_examples(pairs: &[PreferencePair]) -> Vec<Example> {
    let side = |chosen: bool| {
        pairs.iter().map(move |p| Example {
            image: p.image.clone(),
            prompt: p.prompt.clone(),
            completion: if chosen { p.chosen.clone() } else { p.rejected.clone() },
        })
    };
    side(true).chain(side(false)).collect()
}

fn same_image(a: &ImageInput, b: &ImageInput) -> bool {
    match (a, b) {
        (ImageInput::Path(x), ImageInput::Path(y)) => x == y,
        (
            ImageInput::Rgb8 { width: w1, height: h1, data: d1 },
            ImageInput::Rgb8 { width: w2, height: h2, data: d2 },
        ) => w1 == w2 && h1 == h2 && d1 == d2,
        _ => false,
    }
}

fn to_device(d: DeviceSpec) -> Result<Device> {
    match d {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(i) => {
            if !tch::Cuda::is_available() {
                bail!("CUDA requested but libtorch reports no CUDA device");
            }
            Ok(Device::Cuda(i))
        }
    }
}

impl QwenVlPolicy {
    /// Load a checkpoint; with `lora`, attach fresh adapters (frozen base).
    pub fn load(spec: &ModelSpec, lora: Option<LoraConfig>) -> Result<Self> {
        let dir = resolve_model_dir(&spec.path_or_id)?;
        let device = to_device(spec.device)?;
        let kind = match spec.dtype {
            DType::F32 => Kind::Float,
            DType::BF16 => Kind::BFloat16,
            DType::F16 => Kind::Half,
        };
        let mut model = QwenVl::load(&dir, kind, device)?;
        let tokenizer = ChatTokenizer::from_dir(&dir)?;
        let processor = Processor::new(ProcessorConfig::from_dir(&dir)?);
        let gen_defaults = GenerationDefaults::from_dir(&dir)?;
        if let Some(cfg) = &lora {
            lora::attach(&mut model, cfg)?;
        }
        Ok(Self {
            model,
            tokenizer,
            processor,
            gen_defaults,
            model_dir: dir,
            lora,
            train_cfg: TrainConfig::default(),
            optimizer: None,
            full_finetune: false,
            probe: None,
            snapshot: None,
        })
    }

    /// Train all base weights instead of adapters (small models from scratch).
    pub fn enable_full_finetune(&mut self) {
        self.full_finetune = true;
        self.optimizer = None;
    }

    /// Replace the training settings (learning rate, AdamW, micro-batch, checkpointing, ...);
    /// an existing optimizer keeps its state and parameter groups.
    pub fn set_train_config(&mut self, cfg: TrainConfig) {
        self.train_cfg = cfg;
    }

    /// Process an image input.
    pub fn process_image(&self, img: &ImageInput) -> Result<ProcessedImage> {
        match img {
            ImageInput::Path(p) => self.processor.process_path(p),
            ImageInput::Rgb8 { width, height, data } => self.processor.process_rgb8(data, *width, *height),
        }
    }

    fn prompt_ids(&self, prompt: Option<&str>, img: &ProcessedImage) -> Result<Vec<i64>> {
        let n = img.num_tokens(self.processor.cfg.merge_size);
        Ok(self
            .tokenizer
            .prompt_ids(prompt.unwrap_or(DEFAULT_PROMPT), Some(n))?
            .into_iter()
            .map(i64::from)
            .collect())
    }

    fn stop_ids(&self) -> Vec<i64> {
        let mut s = vec![self.tokenizer.im_end_id as i64];
        s.extend(&self.model.cfg.eos_token_ids);
        s.extend(&self.gen_defaults.eos_token_ids);
        s.sort();
        s.dedup();
        s
    }

    /// `opts.n` candidates per image.
    pub fn generate(&self, images: &[ImageInput], opts: &GenerateOptions) -> Result<Vec<Vec<Candidate>>> {
        let processed: Vec<ProcessedImage> =
            images.iter().map(|i| self.process_image(i)).collect::<Result<_>>()?;
        let items: Vec<(&ProcessedImage, Vec<i64>)> = processed
            .iter()
            .map(|p| Ok((p, self.prompt_ids(opts.prompt.as_deref(), p)?)))
            .collect::<Result<_>>()?;
        let stop = self.stop_ids();
        let raw = generate(&self.model, &items, opts, &stop, self.tokenizer.pad_id as i64)?;
        raw.into_iter()
            .map(|cands| {
                cands
                    .into_iter()
                    .map(|c| {
                        let ids: Vec<u32> = c.token_ids.iter().map(|&x| x as u32).collect();
                        let finished = c.token_ids.last().is_some_and(|t| stop.contains(t));
                        Ok(Candidate {
                            text: self.tokenizer.decode(&ids)?,
                            token_ids: ids,
                            logprobs: c.logprobs,
                            finished,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect()
    }

    /// Build a right-padded batch of prompt+completion; returns it with targets and features.
    fn prepare(
        &self,
        examples: &[Example],
        ctx: &Ctx,
        vision_grad: bool,
    ) -> Result<(crate::model::Batch, Targets, Tensor)> {
        let items: Vec<Scored<'_>> = examples
            .iter()
            .map(|e| {
                let ids = self.tokenizer.completion_ids(&e.completion)?.into_iter().map(i64::from).collect();
                Ok(Scored { image: &e.image, prompt: e.prompt.as_deref(), completion: ids })
            })
            .collect::<Result<_>>()?;
        self.prepare_ids(&items, ctx, vision_grad)
    }

    /// [`Self::prepare`] for completions given as token ids.
    pub(crate) fn prepare_ids(
        &self,
        items: &[Scored<'_>],
        ctx: &Ctx,
        vision_grad: bool,
    ) -> Result<(crate::model::Batch, Targets, Tensor)> {
        // Each distinct image is processed and encoded once (K completions of one image,
        // DPO pairs); examples then pick their features.
        let mut uniq: Vec<&ImageInput> = vec![];
        let mut which = vec![];
        for e in items {
            match uniq.iter().position(|u| same_image(u, e.image)) {
                Some(i) => which.push(i),
                None => {
                    which.push(uniq.len());
                    uniq.push(e.image);
                }
            }
        }
        let uproc: Vec<ProcessedImage> = uniq.iter().map(|i| self.process_image(i)).collect::<Result<_>>()?;
        let processed: Vec<&ProcessedImage> = which.iter().map(|&i| &uproc[i]).collect();
        let mut seqs = vec![];
        let mut grids = vec![];
        let mut plens = vec![];
        let mut comps = vec![];
        for (e, p) in items.iter().zip(&processed) {
            let mut ids = self.prompt_ids(e.prompt, p)?;
            let c = e.completion.clone();
            plens.push(ids.len());
            ids.extend(&c);
            comps.push(c);
            seqs.push(ids);
            grids.push(vec![p.grid_thw]);
        }
        let batch = self.model.make_batch_prompted(
            &seqs,
            &grids,
            self.tokenizer.pad_id as i64,
            false,
            Some(&plens),
        )?;
        let refs: Vec<&ProcessedImage> = uproc.iter().collect();
        let ufeats = if vision_grad {
            self.model.image_features(&refs, ctx)
        } else {
            tch::no_grad(|| self.model.image_features(&refs, ctx))
        };
        let m = self.model.cfg.vision.spatial_merge_size;
        let mut offs = vec![0i64];
        for p in &uproc {
            let last = offs[offs.len() - 1];
            offs.push(last + p.num_tokens(m) as i64);
        }
        let parts: Vec<Tensor> =
            which.iter().map(|&i| ufeats.narrow(0, offs[i], offs[i + 1] - offs[i])).collect();
        let feats = Tensor::cat(&parts, 0);
        Ok((batch, Targets::for_completions(&plens, &comps), feats))
    }

    /// Teacher-forced per-token log-probs of each completion followed by `<|im_end|>`.
    /// `adapter_on = false` gives the base (reference) model.
    pub fn logprobs(&self, examples: &[Example], adapter_on: bool) -> Result<Vec<Vec<f32>>> {
        if examples.is_empty() {
            return Ok(vec![]);
        }
        let ctx = Ctx { lora_on: adapter_on, train: false };
        tch::no_grad(|| {
            let (batch, t, feats) = self.prepare(examples, &ctx, false)?;
            let h = self.model.hidden(&batch, Some(&feats), &ctx)?;
            let lp = self.model.gather_logprobs(&h, &t.rows, &t.cols, &t.ids);
            let flat = Vec::<f32>::try_from(lp.to_device(Device::Cpu))?;
            let mut out = vec![];
            let mut off = 0;
            for &c in &t.counts {
                out.push(flat[off..off + c].to_vec());
                off += c;
            }
            Ok(out)
        })
    }

    /// The trained tensors, each with its learning-rate multiplier (the vision tower's is
    /// `train_cfg.vision_lr_scale`, the merger's `merger_lr_scale` where set; a group at
    /// 0 is left out: no gradients, no optimizer state, not in the clipped norm).
    /// With `train_cfg.probe_outputs > 0` (the vision stage): the tower and merger (full
    /// fine-tuning) or the tower's adapters (LoRA), then the probe, all at rate 1.
    fn trainable(&mut self) -> Result<(Vec<Tensor>, Vec<f64>)> {
        if self.train_cfg.probe_outputs > 0 {
            let mut params = if self.full_finetune {
                self.model.vision.base_tensors()
            } else {
                let n_text = 2 * self.model.text.linears_mut().iter().filter(|l| l.lora.is_some()).count();
                let mut all = lora::params(&mut self.model);
                let v = all.split_off(n_text.min(all.len()));
                if v.is_empty() {
                    bail!(
                        "the vision stage trains the tower: enable full fine-tuning or LoRA on the vision tower"
                    );
                }
                v
            };
            params.extend(self.probe_params(self.train_cfg.probe_outputs));
            let params: Vec<Tensor> = params.into_iter().map(|t| t.set_requires_grad(true)).collect();
            let scales = vec![1.0; params.len()];
            return Ok((params, scales));
        }
        let vs = self.train_cfg.vision_lr_scale;
        let ms = self.train_cfg.merger_lr_scale.unwrap_or(vs);
        let groups: Vec<(Vec<Tensor>, f64)> = if self.full_finetune {
            let text = self.model.text.base_tensors().into_iter().map(|t| (vec![t], 1.0));
            let vision = self.model.vision.base_tensors_tagged().into_iter();
            text.chain(vision.map(|(t, m)| (vec![t], if m { ms } else { vs }))).collect()
        } else {
            // Text adapters come first (`linears_mut` order), two tensors (A, B) each.
            let mut all = lora::params(&mut self.model);
            if all.is_empty() {
                bail!("nothing to train: no LoRA adapter attached and full fine-tuning not enabled");
            }
            let n_text = 2 * self.model.text.linears_mut().iter().filter(|l| l.lora.is_some()).count();
            let v = all.split_off(n_text.min(all.len()));
            vec![(all, 1.0), (v, vs)]
        };
        let (mut params, mut scales) = (vec![], vec![]);
        for (tensors, scale) in groups.into_iter().filter(|(_, s)| *s > 0.0) {
            scales.extend(std::iter::repeat_n(scale, tensors.len()));
            params.extend(tensors.into_iter().map(|t| t.set_requires_grad(true)));
        }
        Ok((params, scales))
    }

    /// Build the AdamW over the trainable tensors and their rates unless one exists.
    pub(crate) fn ensure_optimizer(&mut self) -> Result<()> {
        if self.optimizer.is_none() {
            let (params, scales) = self.trainable()?;
            self.optimizer = Some(AdamW::with_lr_scales(params, scales)?);
        }
        Ok(())
    }

    /// Whether the vision tower takes gradients: full fine-tuning with a non-zero vision or
    /// merger rate, or LoRA on the tower with a non-zero vision rate.
    pub(crate) fn vision_grad(&self) -> bool {
        let c = &self.train_cfg;
        (self.full_finetune && (c.vision_lr_scale > 0.0 || c.merger_lr_scale.is_some_and(|m| m > 0.0)))
            || (c.vision_lr_scale > 0.0 && self.lora.as_ref().is_some_and(|l| l.vision))
    }

    /// Forward + backward of one micro-batch (gradients accumulate); returns the detached
    /// loss and per-token log-probs.
    fn backward(
        &mut self,
        examples: &[Example],
        loss_fn: &dyn Fn(&Tensor, &Targets) -> Tensor,
    ) -> Result<(f64, Vec<f32>, Targets)> {
        let ctx = Ctx { lora_on: true, train: true };
        let (batch, targets, feats) = self.prepare(examples, &ctx, self.vision_grad())?;
        let (loss, lp, _) = self.backward_prepared(&batch, &targets, &feats, Head::PLAIN, loss_fn)?;
        Ok((loss, lp, targets))
    }

    /// Forward + backward of a prepared micro-batch; the detached loss, per-token
    /// log-probs and (with `head.entropy`) entropies.
    pub(crate) fn backward_prepared(
        &self,
        batch: &crate::model::Batch,
        targets: &Targets,
        feats: &Tensor,
        head: Head,
        loss_fn: &dyn Fn(&Tensor, &Targets) -> Tensor,
    ) -> Result<(f64, Vec<f32>, Option<Vec<f32>>)> {
        let ctx = Ctx { lora_on: true, train: true };
        let f = |lp: &Tensor| loss_fn(lp, targets);
        let (loss, lp, ent) = logprobs_for_training(
            &self.model,
            batch,
            Some(feats),
            targets,
            &ctx,
            self.train_cfg.grad_checkpointing,
            head,
            &f,
        )?;
        let cpu = |t: Tensor| Vec::<f32>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Float));
        let ent = ent.map(cpu).transpose()?;
        Ok((f64::try_from(loss)?, cpu(lp)?, ent))
    }

    /// Clip the accumulated gradients and apply one optimizer update at the current lr.
    pub(crate) fn update(&mut self) -> Result<f64> {
        let cfg = self.train_cfg.clone();
        let opt = self.optimizer.as_mut().context("optimizer")?;
        let grad_norm = opt.clip_grad_norm(cfg.max_grad_norm);
        opt.apply(&cfg, cfg.lr);
        opt.zero_grad();
        Ok(grad_norm)
    }

    /// Examples per micro-batch for a batch of `n`: `train_cfg.micro_batch`, or all at 0.
    pub(crate) fn chunks(&self, n: usize) -> usize {
        match self.train_cfg.micro_batch {
            0 => n.max(1),
            m => m,
        }
    }

    /// Drop the optimizer state (the next step starts a fresh AdamW).
    pub(crate) fn reset_optimizer(&mut self) {
        self.optimizer = None;
    }

    /// Set the learning rate of the next steps (schedules live in the pipeline).
    pub(crate) fn set_lr(&mut self, lr: f64) {
        self.train_cfg.lr = lr;
    }

    /// One SFT step on a batch: mean NLL over all completion tokens (+ `<|im_end|>`) of the
    /// batch, accumulated over micro-batches of `train_cfg.micro_batch`, then one AdamW
    /// update.
    pub fn sft_step(&mut self, examples: &[Example]) -> Result<StepStats> {
        if examples.is_empty() {
            bail!("sft_step: empty batch");
        }
        self.ensure_optimizer()?;
        let mut total = 0usize;
        for e in examples {
            total += self.tokenizer.completion_ids(&e.completion)?.len();
        }
        let denom = total.max(1) as f64;
        let mut loss = 0.0;
        for chunk in examples.chunks(self.chunks(examples.len())) {
            let loss_fn = |lp: &Tensor, _: &Targets| lp.sum(Kind::Float).neg() / denom;
            loss += self.backward(chunk, &loss_fn)?.0;
        }
        let grad_norm = self.update()?;
        Ok(StepStats { loss, grad_norm, lr: self.train_cfg.lr, tokens: total })
    }

    /// Summed log-probs (chosen, rejected) of each pair without gradients, under the
    /// policy as it is now (`adapter_on`) or the base model with adapters off: the cached
    /// reference of a DPO stage.
    pub(crate) fn pair_logprobs(
        &self,
        pairs: &[PreferencePair],
        adapter_on: bool,
    ) -> Result<Vec<(f64, f64)>> {
        let mut out = Vec::with_capacity(pairs.len());
        let per = self.chunks(pairs.len()).max(1);
        for chunk in pairs.chunks(per) {
            let ex = pair_examples(chunk);
            let lps = self.logprobs(&ex, adapter_on)?;
            let sums: Vec<f64> = lps.iter().map(|v| v.iter().map(|&x| f64::from(x)).sum()).collect();
            let p = chunk.len();
            out.extend((0..p).map(|i| (sums[i], sums[p + i])));
        }
        Ok(out)
    }

    /// One DPO step. `reference` holds the summed reference log-probs (chosen, rejected) of
    /// each pair (computed once by `pair_logprobs` and cached by the caller); when
    /// `None`, they are computed now with the adapters switched off (LoRA only).
    pub fn dpo_step(
        &mut self,
        pairs: &[PreferencePair],
        reference: Option<&[(f64, f64)]>,
        loss: &DpoLoss,
    ) -> Result<DpoStats> {
        if pairs.is_empty() {
            bail!("dpo_step: empty batch");
        }
        loss.validate()?;
        let refs: Vec<(f64, f64)> = match reference {
            Some(r) if r.len() == pairs.len() => r.to_vec(),
            Some(r) => bail!("dpo_step: {} pairs but {} reference log-probs", pairs.len(), r.len()),
            None => {
                if self.full_finetune || self.lora.is_none() {
                    bail!(
                        "dpo_step without cached reference log-probs needs a LoRA adapter (the reference is then the base model with adapters off)"
                    );
                }
                let ex = pair_examples(pairs);
                let lps = self.logprobs(&ex, false)?;
                let s: Vec<f64> = lps.iter().map(|v| v.iter().map(|&x| f64::from(x)).sum()).collect();
                (0..pairs.len()).map(|i| (s[i], s[pairs.len() + i])).collect()
            }
        };
        self.ensure_optimizer()?;
        let device = self.model.device;
        let total = pairs.len() as f64;
        let mut stats = DpoStats::default();
        let mut pol = vec![];
        let mut counts = vec![];
        let mut off = 0;
        for chunk in pairs.chunks(self.chunks(pairs.len())) {
            let ex = pair_examples(chunk);
            let p = chunk.len();
            let r: Vec<f32> = refs[off..off + p]
                .iter()
                .map(|x| x.0 as f32)
                .chain(refs[off..off + p].iter().map(|x| x.1 as f32))
                .collect();
            off += p;
            let ref_sums = Tensor::from_slice(&r).to_device(device);
            let scale = p as f64 / total;
            let loss_fn = |lp: &Tensor, t: &Targets| {
                let seq: Vec<i64> = t
                    .counts
                    .iter()
                    .enumerate()
                    .flat_map(|(i, &c)| std::iter::repeat_n(i as i64, c))
                    .collect();
                let cnt: Vec<f32> = t.counts.iter().map(|&c| c as f32).collect();
                let layout = PairLayout {
                    seq: Tensor::from_slice(&seq).to_device(device),
                    counts: Tensor::from_slice(&cnt).to_device(device),
                    pairs: p as i64,
                    chosen_tokens: t.counts[..p].iter().sum::<usize>() as i64,
                };
                crate::loss::dpo::loss_tensor(loss, lp, &layout, &ref_sums, scale)
            };
            let (l, lp, t) = self.backward(&ex, &loss_fn)?;
            stats.loss += l;
            stats.tokens += t.ids.len();
            let mut sums = Vec::with_capacity(2 * p);
            let mut o = 0;
            for &c in &t.counts {
                sums.push(lp[o..o + c].iter().map(|&x| f64::from(x)).sum::<f64>());
                o += c;
            }
            pol.extend((0..p).map(|i| (sums[i], sums[p + i])));
            counts.extend((0..p).map(|i| (t.counts[i], t.counts[p + i])));
        }
        let m = crate::loss::dpo::pair_metrics(loss, &pol, &refs, &counts);
        let grad_norm = self.update()?;
        Ok(DpoStats { loss: stats.loss, grad_norm, lr: self.train_cfg.lr, tokens: stats.tokens, ..m })
    }

    /// Optimizer moments and step (for checkpoints); empty before the first step.
    pub(crate) fn save_optimizer(&self, path: &Path) -> Result<()> {
        let Some(opt) = &self.optimizer else {
            bail!("no optimizer state yet (no training step taken)");
        };
        let named = opt.state_tensors();
        let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        Tensor::write_safetensors(&refs, path)
            .with_context(|| format!("writing optimizer state {}", path.display()))
    }

    /// Restore optimizer state written by [`Self::save_optimizer`] for the current
    /// trainable parameters (load the adapter or weights first).
    pub(crate) fn load_optimizer(&mut self, path: &Path) -> Result<()> {
        let named = Tensor::read_safetensors(path)
            .with_context(|| format!("reading optimizer state {}", path.display()))?;
        self.optimizer = None;
        self.ensure_optimizer()?;
        let device = self.model.device;
        let named: Vec<(String, Tensor)> = named.into_iter().map(|(n, t)| (n, t.to_device(device))).collect();
        self.optimizer
            .as_mut()
            .context("optimizer")?
            .load_state(&named)
            .with_context(|| format!("restoring optimizer state {}", path.display()))
    }

    /// Whether all base weights are trained (full fine-tuning).
    pub(crate) fn is_full_finetune(&self) -> bool {
        self.full_finetune
    }

    /// Save the LoRA adapter in PEFT format.
    pub fn save_adapter(&mut self, dir: &Path) -> Result<()> {
        let cfg = self.lora.clone().context("no LoRA adapter to save")?;
        let base = self.model_dir.display().to_string();
        lora::save(&mut self.model, &cfg, &base, dir)
    }

    /// Load a PEFT LoRA adapter (ours or PEFT's), replacing the current one.
    pub fn load_adapter(&mut self, dir: &Path) -> Result<()> {
        let cfg = lora::load(&mut self.model, dir)?;
        self.lora = Some(cfg);
        self.optimizer = None;
        Ok(())
    }

    /// Merge the adapter into the base weights (inference); adapters are dropped.
    pub fn merge_adapter(&mut self) {
        lora::merge(&mut self.model);
        self.lora = None;
        self.optimizer = None;
    }

    /// Save all weights (full fine-tuning) as `model.safetensors` plus the checkpoint's
    /// config/tokenizer/processor files, in the legacy transformers key layout.
    pub fn save_full(&self, dir: &Path) -> Result<()> {
        crate::checkpoint::save_full(&self.model, &self.model_dir, dir)
    }
}
