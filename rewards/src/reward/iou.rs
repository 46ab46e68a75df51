//! `iou`: volumetric IoU between the generated solid and the reference.
//!
//! Why: it is the headline metric of the field (CAD-Coder, cadrille) and a dense,
//! bounded reward. Exact volumes through the CSG trees, see `metrics::iou` for the
//! definition and the three placement modes (`in-place`, `bbox`, `inertia`).
//! Range: [0, 1]; `invalid` (default 0.0) for programs that do not run or when the
//! rollout has no reference.
//! Parts: `iou`.
//! Example: `{ kind = "iou", mode = "bbox", invalid = -0.5 }` in a recipe.

use serde::Deserialize;

use super::{Reward, Rollout, Score, score_each, solids};
use crate::metrics::{IouMode, iou};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IouConfig {
    #[serde(default)]
    pub(crate) mode: IouMode,
    #[serde(default)]
    pub(crate) invalid: f64,
}

pub(crate) struct Iou(pub IouConfig);

impl Reward for Iou {
    fn name(&self) -> &str {
        "iou"
    }
    fn score(&self, batch: &[Rollout]) -> Vec<Score> {
        score_each(batch, |r| match solids(r, self.0.invalid) {
            Ok((a, b)) => {
                let v = iou(a, b, self.0.mode);
                Score::new(v).with("iou", v)
            }
            Err(s) => s,
        })
    }
}
