//! `composite`: a weighted sum of other rewards.
//!
//! Why: recipes usually combine a geometric term with a validity term (e.g. IoU plus
//! 0.1 x valid) and want each part logged separately.
//! Value: `sum_i weight_i * value_i`. Parts: `<name>` for each component's value.
//! Edge cases: an empty list is a configuration error; nested composites are allowed.
//! Example: `{ kind = "composite", parts = [{ kind = "iou", weight = 1.0 },
//! { kind = "valid", weight = 0.1 }] }`.

use serde::Deserialize;

use super::{Reward, Rollout, Score, registry::RewardSpec};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompositeConfig {
    pub(crate) parts: Vec<RewardSpec>,
}

pub(crate) struct Composite {
    pub(crate) parts: Vec<(f64, Box<dyn Reward>)>,
    names: Vec<&'static str>,
}

impl Composite {
    pub(crate) fn new(parts: Vec<(f64, Box<dyn Reward>)>) -> Composite {
        // part names live as long as the process: leak once per reward built
        let names = parts.iter().map(|(_, r)| &*Box::leak(r.name().to_string().into_boxed_str())).collect();
        Composite { parts, names }
    }
}

impl Reward for Composite {
    fn name(&self) -> &str {
        "composite"
    }
    fn score(&self, batch: &[Rollout]) -> Vec<Score> {
        let mut out: Vec<Score> = batch.iter().map(|_| Score::new(0.0)).collect();
        for ((w, r), name) in self.parts.iter().zip(&self.names) {
            for (o, s) in out.iter_mut().zip(r.score(batch)) {
                o.value += w * s.value;
                o.parts.push((name, s.value));
                if o.reason.is_none() {
                    o.reason = s.reason;
                }
            }
        }
        out
    }
}
