//! The `sample` stage: K programs per training image from the current policy, executed
//! and scored with the recipe's rewards, then made into preference pairs.
//!
//! Writes `candidates.jsonl` (every candidate with its reward, parts and outcome),
//! `pairs.jsonl` (see [`PairRecord`]) and the images the pairs need, then logs
//! `reward/<name>/mean|std`, `reward/total/mean|std`, `sample/valid_rate`,
//! `sample/pairs` and a few programs as text.

use std::io::Write;

use anyhow::{Context, Result};
use cadrl_backend::GenerateOptions;
use serde_json::json;

use super::data::{Dataset, Stream};
use super::pairs::{PairRule, Scored, build};
use super::policy::Policy;
use super::policy::rgb;
use super::rundir::write_atomic;
use super::score::{Scorer, execute_all};
use super::train::PairRecord;
use super::{Cx, Metrics, mix};
use crate::recipe::{PairStrategy, SampleStage};
use cadrl_rewards::exec::execute_native;

fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

pub(crate) fn sample(cx: &mut Cx, pol: &mut Policy, st: &SampleStage, train: &Dataset) -> Result<Metrics> {
    let r = cx.recipe;
    let out = cx.dir.stage_dir(cx.index, "sample");
    std::fs::create_dir_all(out.join("images"))?;
    let scorer = Scorer::new(&r.reward)?;
    let executor = super::eval::build_executor(r)?;
    let rule = PairRule {
        strategy: st.pairs,
        margin: st.margin,
        threshold: st.threshold,
        invalid_as_rejected: st.invalid_as_rejected,
        max_pairs: st.max_pairs_per_image,
    };
    let seed = mix(r.run.seed, 0x5A3 + cx.index as u64);
    let samples = Stream::new(train, seed, 0)?.take(st.images)?;
    let var = r.executor.var.as_str();
    let mut cand_lines = Vec::new();
    let mut pair_lines = Vec::new();
    let (mut totals, mut valid, mut n_cand, mut bad_refs) = (vec![], 0usize, 0usize, 0usize);
    // vs-greedy: the greedy program's reward and how much the best sample beats it
    let with_greedy = st.pairs == PairStrategy::VsGreedy;
    let (mut greedy_rewards, mut best_over_greedy) = (vec![], vec![]);
    let mut parts: Vec<Vec<f64>> = vec![vec![]; scorer.names.len()];
    let mut shown = String::new();
    let bar = cx.log.bar(samples.len() as u64, "sample");
    for (ci, chunk) in samples.chunks(r.generation.batch_images).enumerate() {
        let imgs: Vec<_> = chunk.iter().map(|s| rgb(&s.image)).collect();
        let opts = GenerateOptions {
            prompt: Some(r.model.prompt.clone()),
            n: st.k,
            temperature: r.generation.temperature,
            top_p: r.generation.top_p,
            top_k: r.generation.top_k,
            max_new_tokens: r.generation.max_new_tokens,
            seed: mix(seed, ci as u64),
        };
        let gens = pol.p.generate(&imgs, &opts)?;
        let greedy = if with_greedy {
            let g = GenerateOptions { n: 1, temperature: 0.0, ..opts.clone() };
            pol.p.generate(&imgs, &g)?.into_iter().map(|mut v| v.pop().map(|c| c.text)).collect()
        } else {
            vec![None; chunk.len()]
        };
        for ((s, cands), greedy) in chunk.iter().zip(gens).zip(greedy) {
            bar.inc(1);
            let reference = execute_native(&s.code, var);
            let Some(rsolid) = reference.solid() else {
                bad_refs += 1;
                cx.log.say(&format!(
                    "sample: skipping `{}`: its reference program does not execute ({})",
                    s.id,
                    reference.reason().unwrap_or_default()
                ));
                continue;
            };
            // the K samples, then the greedy program (vs-greedy), then the reference
            let mut texts: Vec<String> = cands.iter().map(|c| c.text.clone()).collect();
            let greedy_at = greedy.map(|g| {
                texts.push(g);
                texts.len() - 1
            });
            let reference_at = st.include_reference.then(|| {
                texts.push(s.code.clone());
                texts.len() - 1
            });
            let outcomes = execute_all(executor.as_ref(), &texts, var)?;
            let scores = scorer.score(&texts, &outcomes, rsolid);
            let scored: Vec<Scored> = texts
                .iter()
                .zip(&outcomes)
                .zip(&scores)
                .map(|((t, o), sc)| Scored { text: t.clone(), reward: sc.value, valid: o.is_valid() })
                .collect();
            for (k, ((sc, o), t)) in scores.iter().zip(&outcomes).zip(&texts).enumerate() {
                let is_ref = reference_at == Some(k);
                let is_greedy = greedy_at == Some(k);
                if !is_ref && !is_greedy {
                    n_cand += 1;
                    valid += usize::from(o.is_valid());
                    totals.push(sc.value);
                    for (i, (_, v)) in sc.parts.iter().enumerate() {
                        if let Some(p) = parts.get_mut(i) {
                            p.push(*v);
                        }
                    }
                }
                let row = json!({"id": s.id, "k": k, "reward": sc.value, "parts": sc.parts.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                    "outcome": o.kind(), "reason": o.reason(), "text": t, "reference": is_ref, "greedy": is_greedy});
                writeln!(cand_lines, "{row}")?;
            }
            if let Some(g) = greedy_at {
                greedy_rewards.push(scored[g].reward);
                let best = scored[..g].iter().map(|c| c.reward).fold(f64::NEG_INFINITY, f64::max);
                if best.is_finite() {
                    best_over_greedy.push(best - scored[g].reward);
                }
            }
            let pairs = build(&scored, greedy_at, &rule);
            if !pairs.is_empty() {
                let rel = format!("images/{}.png", s.id.replace(['/', '\\'], "_"));
                s.image
                    .save_with_format(out.join(&rel), image::ImageFormat::Png)
                    .with_context(|| format!("writing {rel}"))?;
                for (c, j) in pairs {
                    let rec = PairRecord {
                        id: s.id.clone(),
                        image: rel.clone(),
                        prompt: r.model.prompt.clone(),
                        chosen: scored[c].text.clone(),
                        rejected: scored[j].text.clone(),
                        r_chosen: scored[c].reward,
                        r_rejected: scored[j].reward,
                    };
                    writeln!(pair_lines, "{}", serde_json::to_string(&rec)?)?;
                }
            }
            if shown.len() < 4000
                && let Some(best) = scored.iter().max_by(|a, b| a.reward.total_cmp(&b.reward))
            {
                shown.push_str(&format!(
                    "**{}** best reward {:.3}\n\n```python\n{}\n```\n\n",
                    s.id, best.reward, best.text
                ));
            }
        }
    }
    bar.finish_and_clear();
    write_atomic(&out.join("candidates.jsonl"), &cand_lines)?;
    write_atomic(&out.join("pairs.jsonl"), &pair_lines)?;
    let n_pairs = pair_lines.iter().filter(|&&b| b == b'\n').count();
    let g = cx.state.global_step;
    let (tm, ts) = mean_std(&totals);
    let mut m: Vec<(String, f64)> = vec![
        ("reward/total/mean".into(), tm),
        ("reward/total/std".into(), ts),
        ("sample/valid_rate".into(), valid as f64 / n_cand.max(1) as f64),
        ("sample/pairs".into(), n_pairs as f64),
        ("sample/candidates".into(), n_cand as f64),
        ("sample/bad_references".into(), bad_refs as f64),
    ];
    if with_greedy {
        m.push(("sample/greedy_reward_mean".into(), mean_std(&greedy_rewards).0));
        m.push(("sample/best_minus_greedy_mean".into(), mean_std(&best_over_greedy).0));
    }
    for (name, v) in scorer.names.iter().zip(&parts) {
        let (pm, ps) = mean_std(v);
        m.push((format!("reward/{name}/mean"), pm));
        m.push((format!("reward/{name}/std"), ps));
    }
    let refs: Vec<(&str, f64)> = m.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    cx.log.scalars(g, &refs)?;
    cx.log.text("sample/programs", g, &shown)?;
    Ok(m)
}
