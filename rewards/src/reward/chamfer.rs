//! `chamfer`: surface closeness between the generated solid and the reference.
//!
//! Why: IoU is blind to thin features and gives no gradient between disjoint shapes;
//! Chamfer distance (cadrille's definition, see `metrics::chamfer`) still ranks them.
//! Value: `1 / (1 + 1000 * cd)`, so 1 for identical shapes and 0.5 at the
//! conventional "CD x 1000 = 1"; `invalid` (default 0.0) for programs that do not run.
//! Parts: `cd_x1000` (the distance as papers print it).
//! Example: a cube against a 1 x 1 x 0.5 box -> cd_x1000 ~ 43 -> value ~ 0.023; the
//! same shape scores ~ 1 / (1 + 0.47) because of sampling noise.
//! Cost: each distinct reference of a batch is sampled once, so the K candidates of
//! one image pay for their own samples and the nearest-neighbour search only.

use serde::Deserialize;

use std::collections::HashMap;

use rayon::prelude::*;

use super::{Reward, Rollout, Score, score_each, solids};
use crate::geom::Solid;
use crate::metrics::chamfer::{chamfer_against, reference_samples};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChamferConfig {
    #[serde(default)]
    pub(crate) invalid: f64,
}

pub(crate) struct Chamfer(pub ChamferConfig);

impl Reward for Chamfer {
    fn name(&self) -> &str {
        "chamfer"
    }
    fn score(&self, batch: &[Rollout]) -> Vec<Score> {
        // The K candidates of one image share their reference: sample each distinct
        // reference once (the same samples `chamfer` would draw, so the same values).
        // keyed by address: the same reference object, not merely an equal shape
        let key = |b: &Solid| b as *const Solid as usize;
        let mut index: HashMap<usize, usize> = HashMap::new();
        let mut refs: Vec<&Solid> = Vec::new();
        for b in batch.iter().filter_map(|r| r.reference) {
            index.entry(key(b)).or_insert_with(|| {
                refs.push(b);
                refs.len() - 1
            });
        }
        let samples: Vec<Option<Vec<[f64; 3]>>> = refs.par_iter().map(|b| reference_samples(b)).collect();
        score_each(batch, |r| match solids(r, self.0.invalid) {
            Ok((a, b)) => {
                let pb = index.get(&key(b)).and_then(|&i| samples[i].as_deref());
                let cd = pb.and_then(|pb| chamfer_against(a, pb));
                match cd {
                    Some(cd) => Score::new(1.0 / (1.0 + 1000.0 * cd)).with("cd_x1000", 1000.0 * cd),
                    None => Score::penalty(self.0.invalid, "degenerate surface"),
                }
            }
            Err(s) => s,
        })
    }
}
