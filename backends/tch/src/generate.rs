//! Batched generation with a KV cache: one prefill for all candidates (left padding),
//! then token-by-token decoding with temperature / top-k / top-p sampling (transformers'
//! order), greedy at temperature 0, per-candidate seeded RNGs, and stop on end-of-turn.
//! Returned log-probs are those of the unmodified model distribution (temperature 1).
use crate::model::QwenVl;
use crate::nn::Ctx;
use crate::processor::ProcessedImage;
use crate::text::{KvCache, causal_mask};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// Sampling settings.
#[derive(Debug, Clone)]
pub struct SamplingParams {
    pub n: usize,
    pub temperature: f64,
    pub top_p: f64,
    pub top_k: usize,
    pub max_new_tokens: usize,
    pub seed: u64,
    pub stop_ids: Vec<i64>,
}

/// One generated sequence (stop token included when reached).
#[derive(Debug, Clone)]
pub struct RawCandidate {
    pub token_ids: Vec<i64>,
    pub logprobs: Vec<f32>,
}

/// The sampling support of each row after temperature, top-k and top-p (transformers' order
/// and semantics: top-p keeps the smallest prefix of the descending distribution whose mass
/// reaches `top_p`): unnormalised probabilities `[B, k]` and token ids `[B, k]` (None = all
/// ids in order). Top-p first tries a partial `topk` with growing k, so peaked distributions
/// never pay for a full-vocabulary sort.
fn support(logits: &Tensor, p: &SamplingParams) -> (Tensor, Option<Tensor>) {
    let mut l = logits / p.temperature;
    let v = l.size()[1];
    if p.top_k > 0 && (p.top_k as i64) < v {
        let (vals, _) = l.topk(p.top_k as i64, -1, true, true);
        let kth = vals.narrow(1, p.top_k as i64 - 1, 1);
        l = l.masked_fill(&l.lt_tensor(&kth), f64::NEG_INFINITY);
    }
    let probs = l.softmax(-1, Kind::Float);
    if p.top_p >= 1.0 {
        return (probs, None);
    }
    let mut k = 256.min(v);
    loop {
        let (vals, idx) = probs.topk(k, -1, true, true);
        let cum = vals.cumsum(-1, Kind::Float);
        let reached = k == v || f64::try_from(cum.narrow(1, k - 1, 1).min()).unwrap_or(0.0) >= p.top_p + 1e-6;
        if reached {
            // keep j while the mass before it is below top_p
            let before = &cum - &vals;
            let keep = before.lt(p.top_p);
            return (vals * keep.to_kind(Kind::Float), Some(idx));
        }
        k = (k * 8).min(v);
    }
}

/// Generate `p.n` candidates for each (image, prompt ids) pair.
pub fn generate(model: &QwenVl, items: &[(&ProcessedImage, Vec<i64>)], p: &SamplingParams, pad_id: i64) -> Result<Vec<Vec<RawCandidate>>> {
    let ctx = Ctx::EVAL;
    tch::no_grad(|| -> Result<Vec<Vec<RawCandidate>>> {
        let n = p.n.max(1);
        // Prefill each prompt once, then share its KV cache among its n candidates.
        let seqs: Vec<Vec<i64>> = items.iter().map(|(_, ids)| ids.clone()).collect();
        let grids: Vec<Vec<[usize; 3]>> = items.iter().map(|(img, _)| vec![img.grid_thw]).collect();
        let bu = seqs.len() as i64;
        let b = bu * n as i64;
        let batch = model.make_batch(&seqs, &grids, pad_id, true)?;
        let imgs: Vec<&ProcessedImage> = items.iter().map(|(i, _)| *i).collect();
        let feats = model.image_features(&imgs, &ctx);
        let l = batch.len;
        let cap = l + p.max_new_tokens as i64;
        let mut cu = KvCache::new(&model.text.cfg, bu, cap, model.kind, model.device);
        cu.valid.narrow(1, 0, l).copy_(&batch.valid);
        let e = model.embed(&batch.ids, Some(&feats))?;
        let mask = causal_mask(&cu.valid.narrow(1, 0, l), 0, l);
        let h = model.text.forward(&e, &batch.positions, Some(&mask), Some(&mut cu), &ctx);
        let rep: Vec<i64> = (0..bu).flat_map(|i| std::iter::repeat_n(i, n)).collect();
        let rep = Tensor::from_slice(&rep).to_device(model.device);
        let mut cache = KvCache {
            k: cu.k.iter().map(|t| t.index_select(0, &rep)).collect(),
            v: cu.v.iter().map(|t| t.index_select(0, &rep)).collect(),
            valid: cu.valid.index_select(0, &rep),
            len: cu.len,
        };
        drop(cu);
        let next_pos: Vec<i64> = batch.next_pos.iter().flat_map(|&x| std::iter::repeat_n(x, n)).collect();
        let mut logits = model.text.logits(&h.narrow(1, l - 1, 1).squeeze_dim(1)).index_select(0, &rep);
        let mut rngs: Vec<ChaCha8Rng> = (0..b as u64)
            .map(|r| ChaCha8Rng::seed_from_u64(p.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(r)))
            .collect();
        let mut out: Vec<RawCandidate> = (0..b).map(|_| RawCandidate { token_ids: vec![], logprobs: vec![] }).collect();
        let mut done = vec![false; b as usize];
        for step in 0..p.max_new_tokens {
            let lp = logits.log_softmax(-1, Kind::Float);
            let chosen: Vec<i64> = if p.temperature <= 0.0 {
                Vec::<i64>::try_from(logits.argmax(-1, false).to_device(tch::Device::Cpu))?
            } else {
                let (vals, ids) = support(&logits, p);
                let vals = vals.to_device(tch::Device::Cpu).contiguous();
                let k = vals.size()[1] as usize;
                let mut host = vec![0f32; b as usize * k];
                vals.copy_data(&mut host, b as usize * k);
                let ids: Option<Vec<i64>> = match ids {
                    Some(t) => {
                        let t = t.to_device(tch::Device::Cpu).contiguous();
                        let mut h = vec![0i64; b as usize * k];
                        t.copy_data(&mut h, b as usize * k);
                        Some(h)
                    }
                    None => None,
                };
                (0..b as usize)
                    .map(|r| {
                        let row = &host[r * k..(r + 1) * k];
                        let u: f32 = rngs[r].random::<f32>() * row.iter().sum::<f32>();
                        let mut acc = 0f32;
                        let mut pick = row.iter().rposition(|&x| x > 0.0).unwrap_or(0);
                        for (i, &x) in row.iter().enumerate() {
                            acc += x;
                            if x > 0.0 && acc > u {
                                pick = i;
                                break;
                            }
                        }
                        match &ids {
                            Some(h) => h[r * k + pick],
                            None => pick as i64,
                        }
                    })
                    .collect()
            };
            let idx = Tensor::from_slice(&chosen).to_device(model.device).unsqueeze(1);
            let clp = Vec::<f32>::try_from(lp.gather(1, &idx, false).squeeze_dim(1).to_device(tch::Device::Cpu))?;
            for r in 0..b as usize {
                if done[r] {
                    continue;
                }
                out[r].token_ids.push(chosen[r]);
                out[r].logprobs.push(clp[r]);
                if p.stop_ids.contains(&chosen[r]) {
                    done[r] = true;
                }
            }
            if done.iter().all(|&d| d) || step + 1 == p.max_new_tokens {
                break;
            }
            let pos: Vec<i64> = next_pos.iter().map(|&x| x + step as i64).collect();
            let pos = Tensor::from_slice(&pos).to_device(model.device).view([1, b, 1]).expand([3, b, 1], false).contiguous();
            let len = cache.len;
            let _ = cache.valid.narrow(1, len, 1).fill_(1);
            let mask = causal_mask(&cache.valid.narrow(1, 0, len + 1), len, 1);
            let e = Tensor::embedding(&model.text.embed, &idx, -1, false, false);
            let h = model.text.forward(&e, &pos, Some(&mask), Some(&mut cache), &ctx);
            logits = model.text.logits(&h.squeeze_dim(1));
        }
        let mut res = vec![];
        let mut it = out.into_iter();
        for _ in 0..items.len() {
            res.push((0..n).filter_map(|_| it.next()).collect());
        }
        Ok(res)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// transformers' TopK + TopP warpers, literally (full ascending sort).
    fn hf_probs(logits: &Tensor, p: &SamplingParams) -> Tensor {
        let mut l = logits / p.temperature;
        if p.top_k > 0 {
            let (vals, _) = l.topk(p.top_k as i64, -1, true, true);
            let kth = vals.narrow(1, p.top_k as i64 - 1, 1);
            l = l.masked_fill(&l.lt_tensor(&kth), f64::NEG_INFINITY);
        }
        if p.top_p < 1.0 {
            let (sorted, idx) = l.sort(-1, false);
            let cum = sorted.softmax(-1, Kind::Float).cumsum(-1, Kind::Float);
            let remove = cum.le(1.0 - p.top_p);
            let last = remove.size()[1] - 1;
            let _ = remove.narrow(1, last, 1).fill_(0);
            let remove = remove.scatter(1, &idx, &remove);
            l = l.masked_fill(&remove, f64::NEG_INFINITY);
        }
        l.softmax(-1, Kind::Float)
    }

    #[test]
    fn support_matches_transformers_warpers() {
        tch::manual_seed(0);
        for scale in [0.1, 1.0, 5.0] {
            let logits = Tensor::randn([3, 3000], (Kind::Float, tch::Device::Cpu)) * scale;
            for (t, tp, tk) in [(1.0, 0.9, 0), (0.7, 0.95, 50), (1.3, 1.0, 10), (1.0, 0.5, 0)] {
                let p = SamplingParams { n: 1, temperature: t, top_p: tp, top_k: tk, max_new_tokens: 1, seed: 0, stop_ids: vec![] };
                let want = hf_probs(&logits, &p);
                let (vals, idx) = support(&logits, &p);
                let got = match idx {
                    Some(i) => Tensor::zeros_like(&want).scatter(1, &i, &vals),
                    None => vals,
                };
                let got = &got / got.sum_dim_intlist(-1, true, Kind::Float);
                let d = f64::try_from((got - &want).abs().max()).unwrap();
                assert!(d < 1e-5, "scale {scale} t {t} top_p {tp} top_k {tk}: {d}");
            }
        }
    }
}
