//! Building preference pairs from the scored candidates of one image.
//!
//! Strategies (`[[stage]] kind = "sample"`, `pairs = ...`):
//! - `best-vs-worst`: the highest-reward candidate against the lowest, if their gap is
//!   above `margin` (one pair per image at most);
//! - `all-above-margin`: every (i, j) with `r_i - r_j > margin`, largest gaps first;
//! - `threshold`: every candidate with `r >= threshold` against every one below it,
//!   largest gaps first;
//! - `vs-greedy`: the policy's greedy program (decoded by the sample stage as one more
//!   candidate) anchors up to two pairs: the best sample against it and it against the
//!   worst sample, each if the gap is above `margin` (a reference added by
//!   `include_reference` counts as a sample). Evaluation decodes greedily, so these pairs
//!   push the probability mass that evaluation reads.
//!
//! All strategies keep at most `max_pairs_per_image` pairs, never pair two identical
//! programs, and leave invalid programs out unless `invalid_as_rejected` (an invalid
//! program is never chosen). Ties are broken by candidate index, so the result is
//! deterministic.

use serde::{Deserialize, Serialize};

use crate::recipe::PairStrategy;

/// One scored candidate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Scored {
    pub(crate) text: String,
    pub(crate) reward: f64,
    pub(crate) valid: bool,
}

/// A pair of candidate indices (chosen, rejected).
pub(crate) type Pair = (usize, usize);

/// Settings of the pair builder.
#[derive(Clone, Debug)]
pub(crate) struct PairRule {
    pub(crate) strategy: PairStrategy,
    pub(crate) margin: f64,
    pub(crate) threshold: f64,
    pub(crate) invalid_as_rejected: bool,
    pub(crate) max_pairs: usize,
}

/// Pairs for one image's candidates; `greedy` is the index of the greedy program among
/// them (`vs-greedy` makes no pair without one; the others treat it as any candidate).
pub(crate) fn build(c: &[Scored], greedy: Option<usize>, rule: &PairRule) -> Vec<Pair> {
    let chosen_ok = |i: usize| c[i].valid;
    let rejected_ok = |i: usize| c[i].valid || rule.invalid_as_rejected;
    let gap = |(i, j): Pair| c[i].reward - c[j].reward;
    // a pair is usable when each side may take its role, the texts differ and the gap is
    // above the margin
    let usable = |(i, j): Pair| {
        i != j
            && chosen_ok(i)
            && rejected_ok(j)
            && c[i].text.trim() != c[j].text.trim()
            && gap((i, j)) > rule.margin
    };
    // the best chosen-able and the worst rejected-able candidate, `skip` left out
    let best = |skip: Option<usize>| {
        (0..c.len())
            .filter(|&i| Some(i) != skip && chosen_ok(i))
            .max_by(|&a, &b| c[a].reward.total_cmp(&c[b].reward).then(b.cmp(&a)))
    };
    let worst = |skip: Option<usize>| {
        (0..c.len())
            .filter(|&i| Some(i) != skip && rejected_ok(i))
            .min_by(|&a, &b| c[a].reward.total_cmp(&c[b].reward).then(a.cmp(&b)))
    };
    let mut cands: Vec<Pair> = vec![];
    match rule.strategy {
        PairStrategy::BestVsWorst => {
            if let (Some(b), Some(w)) = (best(None), worst(None))
                && usable((b, w))
            {
                cands.push((b, w));
            }
        }
        PairStrategy::VsGreedy => {
            let Some(g) = greedy else { return vec![] };
            if let Some(b) = best(Some(g))
                && usable((b, g))
            {
                cands.push((b, g));
            }
            if let Some(w) = worst(Some(g))
                && usable((g, w))
            {
                cands.push((g, w));
            }
        }
        PairStrategy::Threshold => {
            for i in (0..c.len()).filter(|&i| c[i].reward >= rule.threshold) {
                for j in (0..c.len()).filter(|&j| c[j].reward < rule.threshold) {
                    if usable((i, j)) {
                        cands.push((i, j));
                    }
                }
            }
        }
        PairStrategy::AllAboveMargin => {
            for i in 0..c.len() {
                for j in 0..c.len() {
                    if usable((i, j)) {
                        cands.push((i, j));
                    }
                }
            }
        }
    }
    cands.sort_by(|&a, &b| gap(b).total_cmp(&gap(a)).then(a.cmp(&b)));
    // a program appears in at most one pair per side, so one candidate cannot dominate
    let mut out: Vec<Pair> = vec![];
    for p in cands {
        if out.len() >= rule.max_pairs {
            break;
        }
        let one_per_side = matches!(rule.strategy, PairStrategy::AllAboveMargin | PairStrategy::Threshold);
        if one_per_side && out.iter().any(|q| q.0 == p.0 || q.1 == p.1) {
            continue;
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str, reward: f64, valid: bool) -> Scored {
        Scored { text: text.into(), reward, valid }
    }

    fn rule(strategy: PairStrategy) -> PairRule {
        PairRule { strategy, margin: 0.0, threshold: 0.5, invalid_as_rejected: true, max_pairs: 4 }
    }

    #[test]
    fn best_vs_worst_takes_the_extremes() {
        let c = [s("a", 0.2, true), s("b", 0.9, true), s("c", 0.0, false), s("d", 0.5, true)];
        assert_eq!(build(&c, None, &rule(PairStrategy::BestVsWorst)), vec![(1, 2)]);
        let mut r = rule(PairStrategy::BestVsWorst);
        r.invalid_as_rejected = false;
        assert_eq!(build(&c, None, &r), vec![(1, 0)]);
        r.margin = 0.8;
        assert!(build(&c, None, &r).is_empty(), "gap 0.7 is below the margin");
    }

    #[test]
    fn identical_programs_and_ties_make_no_pair() {
        let c = [s("x", 0.9, true), s(" x ", 0.1, true)];
        assert!(build(&c, None, &rule(PairStrategy::BestVsWorst)).is_empty());
        let c = [s("x", 0.5, true), s("y", 0.5, true)];
        assert!(build(&c, None, &rule(PairStrategy::AllAboveMargin)).is_empty());
    }

    #[test]
    fn threshold_splits_and_invalid_is_never_chosen() {
        let c = [s("a", 0.8, true), s("b", 0.6, true), s("c", 0.1, true), s("d", 0.0, false)];
        let p = build(&c, None, &rule(PairStrategy::Threshold));
        assert_eq!(p, vec![(0, 3), (1, 2)]);
        assert!(p.iter().all(|&(i, _)| c[i].valid));
    }

    #[test]
    fn all_above_margin_caps_and_spreads() {
        let c: Vec<Scored> = (0..6).map(|i| s(&format!("p{i}"), i as f64 / 10.0, true)).collect();
        let mut r = rule(PairStrategy::AllAboveMargin);
        r.max_pairs = 2;
        assert_eq!(build(&c, None, &r), vec![(5, 0), (4, 1)]);
    }

    #[test]
    fn vs_greedy_anchors_on_the_greedy_program() {
        // samples 0..3, greedy last
        let c = [s("a", 0.2, true), s("b", 0.9, true), s("c", 0.0, false), s("g", 0.5, true)];
        let mut r = rule(PairStrategy::VsGreedy);
        assert_eq!(build(&c, Some(3), &r), vec![(3, 2), (1, 3)], "largest gap first");
        r.invalid_as_rejected = false;
        assert_eq!(build(&c, Some(3), &r), vec![(1, 3), (3, 0)]);
        r.margin = 0.35;
        assert_eq!(build(&c, Some(3), &r), vec![(1, 3)], "greedy - worst = 0.3 is below the margin");
        assert!(build(&c, None, &r).is_empty(), "no greedy program, no pair");
        // a greedy program that is the best makes no (best, greedy) pair, nor one with itself
        let c = [s("a", 0.2, true), s("g", 0.9, true)];
        r.margin = 0.0;
        assert_eq!(build(&c, Some(1), &r), vec![(1, 0)]);
        // an invalid greedy program is rejected only when invalid programs may be
        let c = [s("a", 0.6, true), s("b", 0.1, true), s("g", 0.0, false)];
        r.invalid_as_rejected = false;
        assert!(build(&c, Some(2), &r).is_empty());
        r.invalid_as_rejected = true;
        assert_eq!(build(&c, Some(2), &r), vec![(0, 2)]);
        // the same text as greedy is no pair
        let c = [s("g", 0.9, true), s("g", 0.9, true)];
        assert!(build(&c, Some(1), &r).is_empty());
    }
}
