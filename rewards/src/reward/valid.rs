//! `valid`: whether the program parses and runs to a non-empty solid.
//!
//! Why: syntax and execution validity is the first thing SFT has to learn, and a
//! cheap shaping term next to geometric rewards (the valid-syntax rate, VSR).
//! Range: 1.0 for a valid program, `invalid` (default 0.0) otherwise.
//! Parts: `syntax_ok` (parsed as Python) and `exec_ok` (ran to a solid), each 0 or 1.
//! Edge cases: `Unsupported` programs (valid CadQuery outside the native subset)
//! count as parsed but not executed; use the `auto` executor to run them for real.
//! Example: `import cadquery as cq\nsolid = cq.Workplane("XY").box(1, 1, 1)` -> 1.0.

use serde::Deserialize;

use super::{Reward, Rollout, Score, score_each};
use crate::exec::Outcome;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidConfig {
    /// Score of a program that does not run to a solid.
    #[serde(default)]
    pub(crate) invalid: f64,
}

pub(crate) struct Valid(pub ValidConfig);

impl Reward for Valid {
    fn name(&self) -> &str {
        "valid"
    }
    fn score(&self, batch: &[Rollout]) -> Vec<Score> {
        score_each(batch, |r| {
            let syntax_ok = !matches!(r.outcome, Outcome::SyntaxError(_));
            let s = match r.outcome {
                Outcome::Valid(_) => Score::new(1.0),
                other => Score::penalty(self.0.invalid, other.reason().unwrap_or_default()),
            };
            s.with("syntax_ok", syntax_ok as u8 as f64).with("exec_ok", r.outcome.is_valid() as u8 as f64)
        })
    }
}
