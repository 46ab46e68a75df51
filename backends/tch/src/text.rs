//! Qwen2 decoder with M-RoPE: GQA attention (q/k/v with bias), gated MLP, RMSNorm, tied or
//! untied LM head, a preallocated KV cache, and a per-layer forward that the gradient
//! checkpointing of [`crate::train`] re-runs. Positions are `[3, B, L]` (temporal, height,
//! width).
use crate::config::TextConfig;
use crate::loading::Weights;
use crate::nn::{Ctx, GatedMlp, Linear, rms_norm, rotate_half};
use anyhow::Result;
use tch::{Device, Kind, Tensor};

/// One pre-norm decoder layer: `x + o(attn(ln1(x)))`, then `+ mlp(ln2(.))`.
#[derive(Debug)]
pub struct DecoderLayer {
    /// RMSNorm weight before attention (`input_layernorm`), `[H]`.
    pub(crate) ln1: Tensor,
    /// RMSNorm weight before the MLP (`post_attention_layernorm`), `[H]`.
    pub(crate) ln2: Tensor,
    /// Query projection `H -> heads * D` (with bias).
    pub(crate) q: Linear,
    /// Key projection `H -> kv_heads * D` (with bias).
    pub(crate) k: Linear,
    /// Value projection `H -> kv_heads * D` (with bias).
    pub(crate) v: Linear,
    /// Output projection `heads * D -> H` (no bias).
    pub(crate) o: Linear,
    /// The gated MLP.
    pub(crate) mlp: GatedMlp,
}

/// The Qwen2 decoder: token embedding, layers, final norm and LM head.
#[derive(Debug)]
pub struct TextModel {
    /// Its hyper-parameters.
    pub cfg: TextConfig,
    /// Token embedding `[V, H]`.
    pub(crate) embed: Tensor,
    /// The decoder layers, in order.
    pub layers: Vec<DecoderLayer>,
    /// Final RMSNorm weight `[H]`.
    pub(crate) norm: Tensor,
    /// LM head `[V, H]`; `None` when tied to the embeddings.
    pub(crate) lm_head: Option<Tensor>,
    /// For each rotary half-dim, which position axis (0 t, 1 h, 2 w) it reads.
    section_idx: Vec<i64>,
}

/// Preallocated per-layer key/value cache `[B, KV, cap, D]` plus key validity `[B, cap]`.
#[derive(Debug)]
pub struct KvCache {
    /// Keys per layer, `[B, KV, cap, D]`, rotary applied.
    pub(crate) k: Vec<Tensor>,
    /// Values per layer, `[B, KV, cap, D]`.
    pub(crate) v: Vec<Tensor>,
    /// `[B, cap]` bool: which cached keys may be attended (false on padding and beyond `len`).
    pub(crate) valid: Tensor,
    /// Positions filled so far.
    pub(crate) len: i64,
}

impl KvCache {
    /// An empty cache for `batch` rows of up to `cap` positions.
    pub(crate) fn new(cfg: &TextConfig, batch: i64, cap: i64, kind: Kind, device: Device) -> Self {
        let shape = [batch, cfg.num_key_value_heads as i64, cap, cfg.head_dim as i64];
        let n = cfg.num_hidden_layers;
        Self {
            k: (0..n).map(|_| Tensor::zeros(shape, (kind, device))).collect(),
            v: (0..n).map(|_| Tensor::zeros(shape, (kind, device))).collect(),
            valid: Tensor::zeros([batch, cap], (Kind::Bool, device)),
            len: 0,
        }
    }
}

fn lin(w: &mut Weights, name: &str) -> Result<Linear> {
    let weight = w.take(&format!("{name}.weight"))?;
    let bias = w.take_opt(&format!("{name}.bias"));
    Ok(Linear::new(name, weight, bias))
}

impl TextModel {
    /// Take the decoder's weights from `w`; with `tie`, the LM head is the embedding (a
    /// stored `lm_head.weight` is dropped).
    pub(crate) fn load(w: &mut Weights, cfg: &TextConfig, tie: bool) -> Result<Self> {
        let embed = w.take("model.embed_tokens.weight")?;
        let mut layers = vec![];
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            layers.push(DecoderLayer {
                ln1: w.take(&format!("{p}.input_layernorm.weight"))?,
                ln2: w.take(&format!("{p}.post_attention_layernorm.weight"))?,
                q: lin(w, &format!("{p}.self_attn.q_proj"))?,
                k: lin(w, &format!("{p}.self_attn.k_proj"))?,
                v: lin(w, &format!("{p}.self_attn.v_proj"))?,
                o: lin(w, &format!("{p}.self_attn.o_proj"))?,
                mlp: GatedMlp {
                    gate: lin(w, &format!("{p}.mlp.gate_proj"))?,
                    up: lin(w, &format!("{p}.mlp.up_proj"))?,
                    down: lin(w, &format!("{p}.mlp.down_proj"))?,
                    act: cfg.hidden_act.clone(),
                },
            });
        }
        let norm = w.take("model.norm.weight")?;
        let lm_head = if tie {
            let _ = w.take_opt("lm_head.weight");
            None
        } else {
            Some(w.take("lm_head.weight")?)
        };
        let mut section_idx = vec![];
        for (i, &s) in cfg.mrope_section.iter().enumerate() {
            section_idx.extend(std::iter::repeat_n((i % 3) as i64, s));
        }
        Ok(Self { cfg: cfg.clone(), embed, layers, norm, lm_head, section_idx })
    }

    fn head_weight(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }

    /// cos/sin `[B, L, D]` for positions `[3, B, L]` (int64).
    pub fn rope(&self, positions: &Tensor, kind: Kind) -> (Tensor, Tensor) {
        let device = positions.device();
        let d = self.cfg.head_dim;
        let inv: Vec<f32> =
            (0..d).step_by(2).map(|i| 1.0 / (self.cfg.rope_theta as f32).powf(i as f32 / d as f32)).collect();
        let inv = Tensor::from_slice(&inv).to_device(device);
        let f = positions.to_kind(Kind::Float).unsqueeze(-1) * inv; // [3,B,L,D/2]
        let sz = f.size();
        let idx = Tensor::from_slice(&self.section_idx)
            .to_device(device)
            .view([1, 1, 1, -1])
            .expand([1, sz[1], sz[2], sz[3]], false);
        let f = f.gather(0, &idx, false).squeeze_dim(0);
        let f = Tensor::cat(&[&f, &f], -1);
        (f.cos().to_kind(kind), f.sin().to_kind(kind))
    }

    /// One decoder layer. `mask`: boolean `[B,1,Lq,Lk]` (true = attend); `None` means plain
    /// causal attention without cache offset (right-padded batches: padding keys only follow
    /// valid tokens, so valid positions are exact), which uses the fused kernels.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_forward(
        &self,
        i: usize,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
        ctx: &Ctx,
    ) -> Tensor {
        let l = &self.layers[i];
        let (b, t) = (x.size()[0], x.size()[1]);
        let (h, kvh, d) = (
            self.cfg.num_attention_heads as i64,
            self.cfg.num_key_value_heads as i64,
            self.cfg.head_dim as i64,
        );
        let hx = rms_norm(x, &l.ln1, self.cfg.rms_norm_eps);
        let q = l.q.forward(&hx, ctx).view([b, t, h, d]).transpose(1, 2);
        let k = l.k.forward(&hx, ctx).view([b, t, kvh, d]).transpose(1, 2);
        let v = l.v.forward(&hx, ctx).view([b, t, kvh, d]).transpose(1, 2);
        let (c, s) = (cos.unsqueeze(1), sin.unsqueeze(1));
        let q = &q * &c + rotate_half(&q) * &s;
        let k = &k * &c + rotate_half(&k) * &s;
        let (k, v) = match cache {
            Some(cache) => {
                let start = cache.len;
                cache.k[i].narrow(2, start, t).copy_(&k);
                cache.v[i].narrow(2, start, t).copy_(&v);
                (cache.k[i].narrow(2, 0, start + t), cache.v[i].narrow(2, 0, start + t))
            }
            None => (k, v),
        };
        let rep = h / kvh;
        let (k, v) = if rep > 1 {
            let lk = k.size()[2];
            let e = |z: &Tensor| z.unsqueeze(2).expand([b, kvh, rep, lk, d], false).reshape([b, h, lk, d]);
            (e(&k), e(&v))
        } else {
            (k, v)
        };
        let a = match mask {
            Some(m) => Tensor::scaled_dot_product_attention(&q, &k, &v, Some(m), 0.0, false, None, false),
            None => Tensor::scaled_dot_product_attention::<Tensor>(&q, &k, &v, None, 0.0, true, None, false),
        };
        let a = a.transpose(1, 2).reshape([b, t, h * d]);
        let x = x + l.o.forward(&a, ctx);
        let hx = rms_norm(&x, &l.ln2, self.cfg.rms_norm_eps);
        &x + l.mlp.forward(&hx, ctx)
    }

    /// Run all layers and the final norm. With a cache, keys are appended at `cache.len`
    /// and `mask` must cover `cache.len + L` keys; the cache length is advanced.
    pub(crate) fn forward(
        &self,
        embeds: &Tensor,
        positions: &Tensor,
        mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
        ctx: &Ctx,
    ) -> Tensor {
        let (cos, sin) = self.rope(positions, embeds.kind());
        let mut x = embeds.shallow_clone();
        for i in 0..self.layers.len() {
            x = self.layer_forward(i, &x, &cos, &sin, mask, cache.as_deref_mut(), ctx);
        }
        if let Some(c) = cache {
            c.len += embeds.size()[1];
        }
        self.final_norm(&x)
    }

    /// The final RMSNorm.
    pub(crate) fn final_norm(&self, x: &Tensor) -> Tensor {
        rms_norm(x, &self.norm, self.cfg.rms_norm_eps)
    }

    /// Logits in f32 for hidden states `[.., H]`.
    pub fn logits(&self, h: &Tensor) -> Tensor {
        h.matmul(&self.head_weight().tr()).to_kind(Kind::Float)
    }

    /// Every linear layer, per layer q, k, v, o, gate, up, down (the order adapters are saved
    /// and trained in).
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut v = vec![];
        for l in &mut self.layers {
            v.push(&mut l.q);
            v.push(&mut l.k);
            v.push(&mut l.v);
            v.push(&mut l.o);
            v.extend(l.mlp.linears_mut());
        }
        v
    }

    /// Every base weight (embedding, final norm, untied LM head, then each layer's norms,
    /// weights and biases): what full fine-tuning trains.
    pub fn base_tensors(&self) -> Vec<Tensor> {
        let mut v = vec![self.embed.shallow_clone(), self.norm.shallow_clone()];
        if let Some(h) = &self.lm_head {
            v.push(h.shallow_clone());
        }
        for l in &self.layers {
            v.push(l.ln1.shallow_clone());
            v.push(l.ln2.shallow_clone());
            let mut lins: Vec<&Linear> = vec![&l.q, &l.k, &l.v, &l.o];
            lins.extend(l.mlp.linears());
            for li in lins {
                v.push(li.weight.shallow_clone());
                if let Some(b) = &li.bias {
                    v.push(b.shallow_clone());
                }
            }
        }
        v
    }
}

/// Boolean attention mask `[B,1,Lq,Lk]`: query i (absolute index `offset+i`) may attend key j
/// when `j <= offset+i` and key j is valid; a query always sees itself (no empty rows).
pub fn causal_mask(valid_keys: &Tensor, offset: i64, lq: i64) -> Tensor {
    let device = valid_keys.device();
    let lk = valid_keys.size()[1];
    let qi = Tensor::arange_start(offset, offset + lq, (Kind::Int64, device)).view([lq, 1]);
    let kj = Tensor::arange(lk, (Kind::Int64, device)).view([1, lk]);
    let causal = kj.le_tensor(&qi); // [lq, lk]
    let diag = kj.eq_tensor(&qi);
    let m = causal.unsqueeze(0).logical_and(&valid_keys.unsqueeze(1)).logical_or(&diag.unsqueeze(0));
    m.unsqueeze(1)
}
