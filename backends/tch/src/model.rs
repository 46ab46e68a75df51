//! The full Qwen2.5-VL model: vision tower + decoder, image-feature scattering into
//! `<|image_pad|>` embeddings, M-RoPE 3D positions computed as transformers does, batching
//! with padding, and teacher-forced per-token log-probs.
use crate::config::QwenVlConfig;
use crate::loading::Weights;
use crate::nn::{Ctx, Linear};
use crate::processor::ProcessedImage;
use crate::text::{TextModel, causal_mask};
use crate::vision::VisionTower;
use anyhow::{Result, bail};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The Qwen2.5-VL model: vision tower and decoder, on one device with base weights in one
/// dtype (LoRA adapters stay f32).
#[derive(Debug)]
pub struct QwenVl {
    /// The checkpoint's resolved `config.json`.
    pub cfg: QwenVlConfig,
    /// The vision tower and patch merger.
    pub vision: VisionTower,
    /// The decoder and LM head.
    pub text: TextModel,
    /// Where every tensor lives.
    pub(crate) device: Device,
    /// The base weights' dtype.
    pub(crate) kind: Kind,
}

/// One padded batch ready for the decoder.
#[derive(Debug)]
pub struct Batch {
    /// Token ids `[B, L]` (int64), padding with the pad id.
    pub ids: Tensor,
    /// `[B, L]` bool, false on padding.
    pub valid: Tensor,
    /// M-RoPE positions `[3, B, L]` (int64; temporal, height, width).
    pub positions: Tensor,
    /// Per row: left padding length.
    pub left_pad: Vec<i64>,
    /// Per row: next text position (max position + 1) for decoding.
    pub(crate) next_pos: Vec<i64>,
    /// `L`: the longest sequence's length, which every row is padded to.
    pub len: i64,
    /// `[B, L]` bool: the `<|image_pad|>` slots that take image features (those of the
    /// prompts; one sampled in a completion is a plain token, as it was when sampled).
    image_slots: Tensor,
}

impl QwenVl {
    /// Load the checkpoint in `dir` (`config.json`, safetensors weights) in `kind` on `device`.
    pub(crate) fn load(dir: &Path, kind: Kind, device: Device) -> Result<Self> {
        let cfg = QwenVlConfig::from_dir(dir)?;
        let mut w = Weights::load(dir, kind, device)?;
        let vision = VisionTower::load(&mut w, &cfg.vision)?;
        let text = TextModel::load(&mut w, &cfg.text, cfg.tie_word_embeddings)?;
        Ok(Self { cfg, vision, text, device, kind })
    }

    /// 3D positions of one unpadded sequence (images in order of `grids`) and the next
    /// position. Image token groups are read in the first `limit` tokens only (the prompt).
    fn rope_index(&self, ids: &[i64], grids: &[[usize; 3]], limit: usize) -> Result<(Vec<[i64; 3]>, i64)> {
        let m = self.cfg.vision.spatial_merge_size;
        let img = self.cfg.image_token_id;
        let mut out = Vec::with_capacity(ids.len());
        let mut cur = 0i64;
        let mut gi = 0;
        let mut i = 0;
        while i < ids.len() {
            if ids[i] == img && i < limit {
                let Some(&[t, h, w]) = grids.get(gi) else { bail!("more image token groups than images") };
                gi += 1;
                let (lt, lh, lw) = (t as i64, (h / m) as i64, (w / m) as i64);
                let n = (lt * lh * lw) as usize;
                if i + n > ids.len() || ids[i..i + n].iter().any(|&x| x != img) {
                    bail!("image {gi} expects {n} <|image_pad|> tokens at position {i}");
                }
                for tt in 0..lt {
                    for y in 0..lh {
                        for x in 0..lw {
                            out.push([cur + tt, cur + y, cur + x]);
                        }
                    }
                }
                cur += lh.max(lw);
                i += n;
            } else {
                out.push([cur, cur, cur]);
                cur += 1;
                i += 1;
            }
        }
        if gi != grids.len() {
            bail!("{} images given but {gi} image token groups found", grids.len());
        }
        let next = out.iter().map(|p| p[0].max(p[1]).max(p[2])).max().map_or(0, |x| x + 1);
        Ok((out, next))
    }

    /// Pad sequences (left or right) and compute positions. `grids[r]` are row r's images.
    pub fn make_batch(
        &self,
        seqs: &[Vec<i64>],
        grids: &[Vec<[usize; 3]>],
        pad_id: i64,
        left: bool,
    ) -> Result<Batch> {
        self.make_batch_prompted(seqs, grids, pad_id, left, None)
    }

    /// [`Self::make_batch`] where row r's images are in its first `prompt_lens[r]` tokens
    /// (completions may hold sampled `<|image_pad|>` tokens: plain tokens there).
    pub(crate) fn make_batch_prompted(
        &self,
        seqs: &[Vec<i64>],
        grids: &[Vec<[usize; 3]>],
        pad_id: i64,
        left: bool,
        prompt_lens: Option<&[usize]>,
    ) -> Result<Batch> {
        let b = seqs.len();
        let l = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut ids = vec![pad_id; b * l];
        let mut valid = vec![false; b * l];
        let mut pos = vec![0i64; 3 * b * l];
        let mut slots = vec![false; b * l];
        let mut left_pad = vec![];
        let mut next_pos = vec![];
        let img = self.cfg.image_token_id;
        for (r, s) in seqs.iter().enumerate() {
            let off = if left { l - s.len() } else { 0 };
            let limit = prompt_lens.map_or(usize::MAX, |p| p[r]);
            let (p, next) = self.rope_index(s, &grids[r], limit)?;
            for (j, &t) in s.iter().enumerate() {
                ids[r * l + off + j] = t;
                valid[r * l + off + j] = true;
                slots[r * l + off + j] = t == img && j < limit;
                for a in 0..3 {
                    pos[a * b * l + r * l + off + j] = p[j][a];
                }
            }
            left_pad.push(off as i64);
            next_pos.push(next);
        }
        let d = self.device;
        let (bi, li) = (b as i64, l as i64);
        Ok(Batch {
            ids: Tensor::from_slice(&ids).view([bi, li]).to_device(d),
            valid: Tensor::from_slice(&valid).view([bi, li]).to_device(d),
            positions: Tensor::from_slice(&pos).view([3, bi, li]).to_device(d),
            left_pad,
            next_pos,
            len: li,
            image_slots: Tensor::from_slice(&slots).view([bi, li]).to_device(d),
        })
    }

    /// Vision features for images in order, concatenated `[sum tokens, H]`.
    pub fn image_features(&self, images: &[&ProcessedImage], ctx: &Ctx) -> Tensor {
        let pd = images[0].patch_dim as i64;
        let flat: Vec<f32> = images.iter().flat_map(|im| im.pixel_values.iter().copied()).collect();
        let px = Tensor::from_slice(&flat).view([-1, pd]).to_device(self.device);
        let grids: Vec<[usize; 3]> = images.iter().map(|im| im.grid_thw).collect();
        self.vision.forward(&px, &grids, ctx)
    }

    /// Token embeddings with image features scattered into the `<|image_pad|>` slots (row-major).
    pub fn embed(&self, ids: &Tensor, feats: Option<&Tensor>) -> Result<Tensor> {
        self.embed_slots(ids, &ids.eq(self.cfg.image_token_id), feats)
    }

    /// A batch's embeddings: image features in its [`Batch::image_slots`].
    pub(crate) fn embed_batch(&self, batch: &Batch, feats: Option<&Tensor>) -> Result<Tensor> {
        self.embed_slots(&batch.ids, &batch.image_slots, feats)
    }

    fn embed_slots(&self, ids: &Tensor, slots: &Tensor, feats: Option<&Tensor>) -> Result<Tensor> {
        let e = Tensor::embedding(&self.text.embed, ids, -1, false, false);
        match feats {
            None => Ok(e),
            Some(f) => {
                let mask = slots.shallow_clone();
                let n = i64::try_from(mask.sum(Kind::Int64))?;
                if n != f.size()[0] {
                    bail!(
                        "image features and image tokens do not match: tokens {n}, features {}",
                        f.size()[0]
                    );
                }
                Ok(e.masked_scatter(&mask.unsqueeze(-1), &f.to_kind(e.kind())))
            }
        }
    }

    /// Decoder hidden states `[B, L, H]` for a batch (no cache).
    pub fn hidden(&self, batch: &Batch, feats: Option<&Tensor>, ctx: &Ctx) -> Result<Tensor> {
        let e = self.embed_batch(batch, feats)?;
        if batch.left_pad.iter().any(|&p| p > 0) {
            let mask = causal_mask(&batch.valid, 0, batch.len);
            Ok(self.text.forward(&e, &batch.positions, Some(&mask), None, ctx))
        } else {
            // right padding: plain causal attention is exact on valid positions
            Ok(self.text.forward(&e, &batch.positions, None, None, ctx))
        }
    }

    /// Per-token log-probs (f32 tensor `[N]`) of `targets` at the given (row, position) slots,
    /// where position p predicts token p+1.
    pub fn gather_logprobs(&self, hidden: &Tensor, rows: &[i64], cols: &[i64], targets: &[i64]) -> Tensor {
        self.score_tokens(hidden, rows, cols, targets, 1.0, false).0
    }

    /// [`Self::gather_logprobs`] of `logits / temperature`, and with `entropy` the entropy
    /// of that distribution at each slot (detached; a metric).
    pub(crate) fn score_tokens(
        &self,
        hidden: &Tensor,
        rows: &[i64],
        cols: &[i64],
        targets: &[i64],
        temperature: f64,
        entropy: bool,
    ) -> (Tensor, Option<Tensor>) {
        let d = self.device;
        let h = hidden.index(&[
            Some(Tensor::from_slice(rows).to_device(d)),
            Some(Tensor::from_slice(cols).to_device(d)),
        ]);
        let mut logits = self.text.logits(&h);
        if temperature != 1.0 {
            logits /= temperature;
        }
        let lp = logits.log_softmax(-1, Kind::Float);
        let ent =
            entropy.then(|| tch::no_grad(|| (lp.exp() * &lp).sum_dim_intlist(-1, false, Kind::Float).neg()));
        (lp.gather(1, &Tensor::from_slice(targets).to_device(d).unsqueeze(1), false).squeeze_dim(1), ent)
    }

    /// Every linear layer: the decoder's ([`TextModel::linears_mut`] order), then with
    /// `include_vision` the vision tower's and merger's.
    pub(crate) fn linears_mut(&mut self, include_vision: bool) -> Vec<&mut Linear> {
        let mut v = self.text.linears_mut();
        if include_vision {
            v.extend(self.vision.linears_mut());
        }
        v
    }
}
