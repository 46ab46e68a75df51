//! Batched generation with a KV cache: one prefill per prompt (a left-padded batch), its
//! cache shared by the prompt's candidates, then token-by-token decoding with temperature / top-k / top-p sampling (transformers'
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

pub use cadrl_backend::GenerateOptions;

/// One generated sequence (stop token included when reached).
#[derive(Debug, Clone)]
pub struct RawCandidate {
    /// The sampled token ids, prompt excluded.
    pub token_ids: Vec<i64>,
    /// Log-prob of each sampled token under the model's own distribution (temperature 1,
    /// no top-k/top-p), one per id.
    pub logprobs: Vec<f32>,
}

/// Probabilities `[B, V]` after temperature and top-k (transformers' order).
pub fn tempered_probs(logits: &Tensor, p: &GenerateOptions) -> Tensor {
    let mut l = logits / p.temperature;
    let v = l.size()[1];
    if p.top_k > 0 && (p.top_k as i64) < v {
        let (vals, _) = l.topk(p.top_k as i64, -1, true, true);
        let kth = vals.narrow(1, p.top_k as i64 - 1, 1);
        l = l.masked_fill(&l.lt_tensor(&kth), f64::NEG_INFINITY);
    }
    l.softmax(-1, Kind::Float)
}

/// Top-p support of one probability row, with transformers' semantics: the smallest set of
/// most likely tokens whose mass reaches `top_p` (a token is kept while the mass of the more
/// likely ones is below `top_p`). Expected O(V) by quickselect, no full sort.
pub fn top_p_support(row: &[f32], top_p: f64) -> Vec<(f32, u32)> {
    let mut items: Vec<(f32, u32)> =
        row.iter().enumerate().filter(|(_, p)| **p > 0.0).map(|(i, &p)| (p, i as u32)).collect();
    if top_p >= 1.0 {
        return items;
    }
    let desc = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    let (mut lo, mut hi, mut acc) = (0usize, items.len(), 0f64);
    while hi - lo > 32 {
        let mid = (lo + hi) / 2;
        items[lo..hi].select_nth_unstable_by(mid - lo, desc);
        let m: f64 = items[lo..mid].iter().map(|x| x.0 as f64).sum();
        if acc + m >= top_p {
            hi = mid;
        } else {
            acc += m;
            lo = mid;
        }
    }
    items[lo..hi].sort_unstable_by(desc);
    let mut end = lo;
    while end < hi && acc < top_p {
        acc += items[end].0 as f64;
        end += 1;
    }
    items.truncate(end.max(1));
    items
}

/// Draw one token from (unnormalised) weighted ids.
fn draw(items: &[(f32, u32)], rng: &mut ChaCha8Rng) -> i64 {
    let total: f64 = items.iter().map(|x| x.0 as f64).sum();
    let u = rng.random::<f64>() * total;
    let mut acc = 0f64;
    for &(p, i) in items {
        acc += p as f64;
        if acc > u {
            return i as i64;
        }
    }
    items.last().map_or(0, |x| x.1 as i64)
}

/// Generate `p.n` candidates for each (image, prompt ids) pair; a candidate ends at one of
/// `stop_ids` (included) or after `p.max_new_tokens`.
pub fn generate(
    model: &QwenVl,
    items: &[(&ProcessedImage, Vec<i64>)],
    p: &GenerateOptions,
    stop_ids: &[i64],
    pad_id: i64,
) -> Result<Vec<Vec<RawCandidate>>> {
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
        let e = model.embed_batch(&batch, Some(&feats))?;
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
        let mut out: Vec<RawCandidate> =
            (0..b).map(|_| RawCandidate { token_ids: vec![], logprobs: vec![] }).collect();
        let mut done = vec![false; b as usize];
        for step in 0..p.max_new_tokens {
            let lp = logits.log_softmax(-1, Kind::Float);
            let chosen: Vec<i64> = if p.temperature <= 0.0 {
                Vec::<i64>::try_from(logits.argmax(-1, false).to_device(tch::Device::Cpu))?
            } else {
                let probs = tempered_probs(&logits, p).to_device(tch::Device::Cpu).contiguous();
                let v = probs.size()[1] as usize;
                let mut host = vec![0f32; b as usize * v];
                probs.copy_data(&mut host, b as usize * v);
                (0..b as usize)
                    .map(|r| draw(&top_p_support(&host[r * v..(r + 1) * v], p.top_p), &mut rngs[r]))
                    .collect()
            };
            let idx = Tensor::from_slice(&chosen).to_device(model.device).unsqueeze(1);
            let clp =
                Vec::<f32>::try_from(lp.gather(1, &idx, false).squeeze_dim(1).to_device(tch::Device::Cpu))?;
            for r in 0..b as usize {
                if done[r] {
                    continue;
                }
                out[r].token_ids.push(chosen[r]);
                out[r].logprobs.push(clp[r]);
                if stop_ids.contains(&chosen[r]) {
                    done[r] = true;
                }
            }
            if done.iter().all(|&d| d) || step + 1 == p.max_new_tokens {
                break;
            }
            let pos: Vec<i64> = next_pos.iter().map(|&x| x + step as i64).collect();
            let pos = Tensor::from_slice(&pos)
                .to_device(model.device)
                .view([1, b, 1])
                .expand([3, b, 1], false)
                .contiguous();
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
    fn hf_probs(logits: &Tensor, p: &GenerateOptions) -> Tensor {
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
                let p = GenerateOptions { temperature: t, top_p: tp, top_k: tk, ..Default::default() };
                let want = hf_probs(&logits, &p);
                let probs = tempered_probs(&logits, &p);
                let got = Tensor::zeros_like(&want);
                for r in 0..3 {
                    let row = Vec::<f32>::try_from(probs.get(r)).unwrap();
                    for (pr, i) in top_p_support(&row, p.top_p) {
                        let _ = got.get(r).get(i as i64).fill_(pr as f64);
                    }
                }
                let got = &got / got.sum_dim_intlist(-1, true, Kind::Float);
                let d = f64::try_from((got - &want).abs().max()).unwrap();
                assert!(d < 1e-5, "scale {scale} t {t} top_p {tp} top_k {tk}: {d}");
            }
        }
    }
}
