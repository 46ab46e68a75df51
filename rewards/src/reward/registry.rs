//! The one registry of rewards by name, used by recipes and the CLI.
//!
//! To add a reward: write `rewards/src/reward/<name>.rs` implementing [`Reward`]
//! with a serde config, and add one line to [`REGISTRY`].

use serde::{Deserialize, Serialize};

use super::Reward;
use super::chamfer::Chamfer;
use super::composite::Composite;
use super::iou::Iou;
use super::valid::Valid;

type Builder = fn(serde_json::Value) -> Result<Box<dyn Reward>, String>;

/// A reward as a recipe names it: `{ kind = "iou", weight = 1.0, mode = "bbox" }` (a
/// recipe's `[[reward]]` table, and a part of `composite`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardSpec {
    /// The reward's name in [`REGISTRY`] (`valid`, `iou`, `chamfer`, `composite`).
    pub kind: String,
    /// Factor on its value where rewards are summed (default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// The other keys: the reward's own configuration (e.g. `mode`, `invalid`).
    #[serde(flatten)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

fn one() -> f64 {
    1.0
}

fn cfg<T: serde::de::DeserializeOwned>(kind: &str, v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("reward `{kind}`: {e}"))
}

/// Name, one-line description, constructor.
pub const REGISTRY: &[(&str, &str, Builder)] = &[
    ("valid", "1 if the program runs to a solid, else the penalty", |v| {
        Ok(Box::new(Valid(cfg("valid", v)?)))
    }),
    ("iou", "volumetric IoU with the reference (in-place | bbox | inertia)", |v| {
        Ok(Box::new(Iou(cfg("iou", v)?)))
    }),
    ("chamfer", "1 / (1 + 1000 * Chamfer distance) to the reference", |v| {
        Ok(Box::new(Chamfer(cfg("chamfer", v)?)))
    }),
    ("composite", "weighted sum of other rewards", build_composite),
];

/// Build a reward from its name and parameters (a JSON object; `{}` for defaults).
pub fn build(kind: &str, params: serde_json::Value) -> Result<Box<dyn Reward>, String> {
    match REGISTRY.iter().find(|(n, _, _)| *n == kind) {
        Some((_, _, b)) => b(params),
        None => {
            let known: Vec<&str> = REGISTRY.iter().map(|(n, _, _)| *n).collect();
            Err(format!("unknown reward `{kind}` (known: {})", known.join(", ")))
        }
    }
}

/// Build a weighted reward from a spec.
pub(crate) fn build_spec(spec: &RewardSpec) -> Result<(f64, Box<dyn Reward>), String> {
    Ok((spec.weight, build(&spec.kind, serde_json::Value::Object(spec.params.clone()))?))
}

fn build_composite(v: serde_json::Value) -> Result<Box<dyn Reward>, String> {
    let c: super::composite::CompositeConfig = cfg("composite", v)?;
    if c.parts.is_empty() {
        return Err("reward `composite`: `parts` is empty".into());
    }
    let parts = c.parts.iter().map(build_spec).collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(Composite::new(parts)))
}
