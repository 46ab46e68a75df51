//! Qwen2.5-VL vision tower: patch embedding (Conv3d as a matmul), 2D rotary embedding,
//! window attention with full-attention blocks, RMSNorm, gated MLP and the patch merger.
//! Window indices and sequence boundaries are computed on the host exactly as transformers does.
use crate::config::VisionConfig;
use crate::loading::Weights;
use crate::nn::{Ctx, GatedMlp, Linear, rms_norm, rotate_half};
use anyhow::Result;
use tch::{Device, Kind, Tensor};

/// One pre-norm vision block: `x + proj(attn(norm1(x)))`, then `+ mlp(norm2(.))`.
#[derive(Debug)]
pub(crate) struct VisionBlock {
    /// RMSNorm weight before attention, `[hidden]`.
    pub(crate) norm1: Tensor,
    /// RMSNorm weight before the MLP, `[hidden]`.
    pub(crate) norm2: Tensor,
    /// Fused query/key/value projection `hidden -> 3 * hidden`.
    pub(crate) qkv: Linear,
    /// Attention output projection `hidden -> hidden`.
    pub(crate) proj: Linear,
    /// The gated MLP.
    pub(crate) mlp: GatedMlp,
}

/// The vision tower and patch merger: pixels of patches in, one decoder-width feature per
/// 2x2 group of patches out.
#[derive(Debug)]
pub struct VisionTower {
    /// Its hyper-parameters.
    cfg: VisionConfig,
    /// Patch embedding (the Conv3d kernel flattened), `[hidden, C*T*P*P]`.
    pub(crate) patch_w: Tensor,
    /// The blocks, in order.
    pub(crate) blocks: Vec<VisionBlock>,
    /// The merger's RMSNorm weight (`ln_q`), `[hidden]`.
    pub(crate) merger_ln: Tensor,
    /// The merger's first linear, `4 * hidden -> 4 * hidden` (then GELU).
    pub(crate) merger_fc1: Linear,
    /// The merger's second linear, `4 * hidden -> out_hidden_size`.
    pub(crate) merger_fc2: Linear,
}

/// Host-side layout of one forward: window permutation and segment lengths.
#[derive(Debug, Clone)]
struct VisionLayout {
    /// Permutation of merged-token groups into window order.
    window_index: Vec<i64>,
    /// Window segment lengths in patches (after permutation).
    window_lens: Vec<i64>,
    /// Per-image (full attention) segment lengths in patches.
    full_lens: Vec<i64>,
    /// (h, w) patch coordinates in processor order.
    pos_hw: Vec<(i64, i64)>,
}

impl VisionLayout {
    fn new(cfg: &VisionConfig, grids: &[[usize; 3]]) -> Self {
        let m = cfg.spatial_merge_size;
        let vmws = (cfg.window_size / m / cfg.patch_size).max(1);
        let unit = (m * m) as i64;
        let mut window_index = vec![];
        let mut window_lens = vec![];
        let mut full_lens = vec![];
        let mut pos_hw = vec![];
        let mut offset = 0i64;
        for &[t, h, w] in grids {
            full_lens.extend(std::iter::repeat_n((h * w) as i64, t));
            for _ in 0..t {
                for bh in 0..h / m {
                    for bw in 0..w / m {
                        for mh in 0..m {
                            for mw in 0..m {
                                pos_hw.push(((bh * m + mh) as i64, (bw * m + mw) as i64));
                            }
                        }
                    }
                }
            }
            let (lh, lw) = (h / m, w / m);
            let pad_h = vmws - lh % vmws;
            let pad_w = vmws - lw % vmws;
            let (nwh, nww) = ((lh + pad_h) / vmws, (lw + pad_w) / vmws);
            for tt in 0..t {
                for wy in 0..nwh {
                    for wx in 0..nww {
                        let mut n = 0;
                        for y in wy * vmws..(wy + 1) * vmws {
                            for x in wx * vmws..(wx + 1) * vmws {
                                if y < lh && x < lw {
                                    window_index.push(offset + (tt * lh * lw + y * lw + x) as i64);
                                    n += 1;
                                }
                            }
                        }
                        if n > 0 {
                            window_lens.push(n * unit);
                        }
                    }
                }
            }
            offset += (t * lh * lw) as i64;
        }
        Self { window_index, window_lens, full_lens, pos_hw }
    }
}

fn lin(w: &mut Weights, name: &str) -> Result<Linear> {
    let weight = w.take(&format!("{name}.weight"))?;
    let bias = w.take_opt(&format!("{name}.bias"));
    Ok(Linear::new(name, weight, bias))
}

impl VisionTower {
    /// Take the tower's and merger's weights from `w`.
    pub(crate) fn load(w: &mut Weights, cfg: &VisionConfig) -> Result<Self> {
        let pw = w.take("visual.patch_embed.proj.weight")?;
        let patch_w = pw.reshape([cfg.hidden_size as i64, -1]);
        let mut blocks = vec![];
        for i in 0..cfg.depth {
            let p = format!("visual.blocks.{i}");
            blocks.push(VisionBlock {
                norm1: w.take(&format!("{p}.norm1.weight"))?,
                norm2: w.take(&format!("{p}.norm2.weight"))?,
                qkv: lin(w, &format!("{p}.attn.qkv"))?,
                proj: lin(w, &format!("{p}.attn.proj"))?,
                mlp: GatedMlp {
                    gate: lin(w, &format!("{p}.mlp.gate_proj"))?,
                    up: lin(w, &format!("{p}.mlp.up_proj"))?,
                    down: lin(w, &format!("{p}.mlp.down_proj"))?,
                    act: cfg.hidden_act.clone(),
                },
            });
        }
        Ok(Self {
            cfg: cfg.clone(),
            patch_w,
            blocks,
            merger_ln: w.take("visual.merger.ln_q.weight")?,
            merger_fc1: lin(w, "visual.merger.mlp.0")?,
            merger_fc2: lin(w, "visual.merger.mlp.2")?,
        })
    }

    fn rotary(&self, layout: &VisionLayout, device: Device) -> (Tensor, Tensor) {
        let head_dim = self.cfg.hidden_size / self.cfg.num_heads;
        let sd = head_dim / 2;
        let inv: Vec<f32> = (0..sd)
            .step_by(2)
            .map(|i| 1.0 / (self.cfg.rope_theta as f32).powf(i as f32 / sd as f32))
            .collect();
        let inv = Tensor::from_slice(&inv).to_device(device);
        let h: Vec<i64> = layout.pos_hw.iter().map(|p| p.0).collect();
        let w: Vec<i64> = layout.pos_hw.iter().map(|p| p.1).collect();
        let fh = Tensor::from_slice(&h).to_device(device).to_kind(Kind::Float).unsqueeze(-1) * &inv;
        let fw = Tensor::from_slice(&w).to_device(device).to_kind(Kind::Float).unsqueeze(-1) * &inv;
        let f = Tensor::cat(&[&fh, &fw], -1);
        let f = Tensor::cat(&[&f, &f], -1);
        (f.cos(), f.sin())
    }

    fn permute(&self, x: &Tensor, idx: &Tensor) -> Tensor {
        let unit = (self.cfg.spatial_merge_size * self.cfg.spatial_merge_size) as i64;
        let n = x.size()[0];
        x.reshape([n / unit, unit, -1]).index_select(0, idx).reshape([n, -1])
    }

    fn attention(
        &self,
        blk: &VisionBlock,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        lens: &[i64],
        ctx: &Ctx,
    ) -> Tensor {
        let n = x.size()[0];
        let heads = self.cfg.num_heads as i64;
        let qkv = blk.qkv.forward(x, ctx).reshape([n, 3, heads, -1]).permute([1, 0, 2, 3]);
        let kind = x.kind();
        let rope = |t: Tensor| {
            let t = t.to_kind(Kind::Float);
            (&t * cos.unsqueeze(-2) + rotate_half(&t) * sin.unsqueeze(-2)).to_kind(kind)
        };
        let q = rope(qkv.get(0));
        let k = rope(qkv.get(1));
        let v = qkv.get(2);
        // (heads, n, d)
        let (q, k, v) = (q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1));
        let out = if lens.iter().all(|&l| l == lens[0]) {
            let s = lens.len() as i64;
            let l = lens[0];
            let f = |t: &Tensor| t.reshape([heads, s, l, -1]).transpose(0, 1);
            let o = Tensor::scaled_dot_product_attention::<Tensor>(
                &f(&q),
                &f(&k),
                &f(&v),
                None,
                0.0,
                false,
                None,
                false,
            );
            o.transpose(0, 1).reshape([heads, n, -1])
        } else {
            let mut outs = vec![];
            let mut start = 0;
            for &l in lens {
                let sl = |t: &Tensor| t.narrow(1, start, l).unsqueeze(0);
                let o = Tensor::scaled_dot_product_attention::<Tensor>(
                    &sl(&q),
                    &sl(&k),
                    &sl(&v),
                    None,
                    0.0,
                    false,
                    None,
                    false,
                );
                outs.push(o.squeeze_dim(0));
                start += l;
            }
            Tensor::cat(&outs, 1)
        };
        let out = out.transpose(0, 1).reshape([n, -1]);
        blk.proj.forward(&out, ctx)
    }

    /// `pixels`: `[n_patches, C*T*P*P]` for all images; returns merged features `[n_patches/4, out]`
    /// in the original (processor) order.
    pub(crate) fn forward(&self, pixels: &Tensor, grids: &[[usize; 3]], ctx: &Ctx) -> Tensor {
        let device = pixels.device();
        let layout = VisionLayout::new(&self.cfg, grids);
        let idx = Tensor::from_slice(&layout.window_index).to_device(device);
        let x = pixels.to_kind(self.patch_w.kind()).matmul(&self.patch_w.tr());
        let mut x = self.permute(&x, &idx);
        let (cos, sin) = self.rotary(&layout, device);
        let (cos, sin) = (self.permute(&cos, &idx), self.permute(&sin, &idx));
        for (i, blk) in self.blocks.iter().enumerate() {
            let lens = if self.cfg.fullatt_block_indexes.contains(&i) {
                &layout.full_lens
            } else {
                &layout.window_lens
            };
            let h = rms_norm(&x, &blk.norm1, 1e-6);
            x = &x + self.attention(blk, &h, &cos, &sin, lens, ctx);
            let h = rms_norm(&x, &blk.norm2, 1e-6);
            x = &x + blk.mlp.forward(&h, ctx);
        }
        let unit = (self.cfg.spatial_merge_size * self.cfg.spatial_merge_size) as i64;
        let h = rms_norm(&x, &self.merger_ln, 1e-6);
        let h = h.reshape([-1, self.cfg.hidden_size as i64 * unit]);
        let h = self.merger_fc1.forward(&h, ctx).gelu("none");
        let h = self.merger_fc2.forward(&h, ctx);
        let rev = idx.argsort(0, false);
        h.index_select(0, &rev)
    }

    /// Every linear layer: per block qkv, proj, gate, up, down, then the merger's two.
    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut v = vec![];
        for b in &mut self.blocks {
            v.push(&mut b.qkv);
            v.push(&mut b.proj);
            v.extend(b.mlp.linears_mut());
        }
        v.push(&mut self.merger_fc1);
        v.push(&mut self.merger_fc2);
        v
    }

    /// All base tensors (for full fine-tuning).
    pub fn base_tensors(&self) -> Vec<Tensor> {
        self.base_tensors_tagged().into_iter().map(|(t, _)| t).collect()
    }

    /// The base weights in two parts: the tower (patch embedding and blocks) and the
    /// patch merger (the projector into the decoder's width).
    pub fn base_tensors_split(&self) -> (Vec<Tensor>, Vec<Tensor>) {
        let (merger, tower): (Vec<_>, Vec<_>) = self.base_tensors_tagged().into_iter().partition(|(_, m)| *m);
        (tower.into_iter().map(|(t, _)| t).collect(), merger.into_iter().map(|(t, _)| t).collect())
    }

    /// Every base weight, each tagged `true` if it belongs to the merger, in the order the
    /// optimizer state is saved in.
    pub(crate) fn base_tensors_tagged(&self) -> Vec<(Tensor, bool)> {
        let mut v = vec![(self.patch_w.shallow_clone(), false), (self.merger_ln.shallow_clone(), true)];
        for b in &self.blocks {
            v.push((b.norm1.shallow_clone(), false));
            v.push((b.norm2.shallow_clone(), false));
        }
        let mut lins: Vec<(&Linear, bool)> = vec![(&self.merger_fc1, true), (&self.merger_fc2, true)];
        for b in &self.blocks {
            lins.push((&b.qkv, false));
            lins.push((&b.proj, false));
            lins.extend(b.mlp.linears().into_iter().map(|l| (l, false)));
        }
        for (l, m) in lins {
            v.push((l.weight.shallow_clone(), m));
            if let Some(b) = &l.bias {
                v.push((b.shallow_clone(), m));
            }
        }
        v
    }
}
