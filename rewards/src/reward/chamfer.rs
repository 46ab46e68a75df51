//! `chamfer`: surface closeness between the generated solid and the reference.
//!
//! Why: IoU is blind to thin features and gives no gradient between disjoint shapes;
//! Chamfer distance (cadrille's definition, see `metrics::chamfer`) still ranks them.
//! Value: `1 / (1 + 1000 * cd)`, so 1 for identical shapes and 0.5 at the
//! conventional "CD x 1000 = 1"; `invalid` (default 0.0) for programs that do not run.
//! Parts: `cd_x1000` (the distance as papers print it).
//! Example: a cube against a 1 x 1 x 0.5 box -> cd_x1000 ~ 43 -> value ~ 0.023; the
//! same shape scores ~ 1 / (1 + 0.47) because of sampling noise.

use serde::Deserialize;

use super::{Reward, Rollout, Score, score_each, solids};
use crate::metrics::chamfer;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChamferConfig {
    #[serde(default)]
    pub invalid: f64,
}

pub struct Chamfer(pub ChamferConfig);

impl Reward for Chamfer {
    fn name(&self) -> &str {
        "chamfer"
    }
    fn score(&self, batch: &[Rollout]) -> Vec<Score> {
        score_each(batch, |r| match solids(r, self.0.invalid) {
            Ok((a, b)) => match chamfer(a, b) {
                Some(cd) => Score::new(1.0 / (1.0 + 1000.0 * cd)).with("cd_x1000", 1000.0 * cd),
                None => Score::penalty(self.0.invalid, "degenerate surface"),
            },
            Err(s) => s,
        })
    }
}
