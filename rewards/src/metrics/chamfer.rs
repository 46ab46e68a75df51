//! Chamfer distance between two solids, as cadrille reports it.
//!
//! Each shape is centred on its bounding box and scaled so its longest side is 1
//! (cadrille's unit-cube normalisation); 8192 points are sampled uniformly on each
//! surface; the distance is
//! `mean_{p in A} min_{q in B} |p - q|^2 + mean_{q in B} min_{p in A} |p - q|^2`
//! (squared distances, averaged each way, summed). Papers print it multiplied by
//! 1000. Sampling uses a fixed seed, so the value is deterministic.
//!
//! Range: [0, 3·2] in the unit cube; 0 for identical shapes (up to sampling noise,
//! about 1e-5 for 8192 points). Degenerate shapes (no surface) give `None`.
//! Example: two unit cubes, one shifted by 0.1 in x, give about 0.0067 (6.7 x 1000).

use kiddo::{ImmutableKdTree, SquaredEuclidean};

use crate::geom::sample::sample_surface;
use crate::geom::{Solid, mass_props};

use super::normalize::bbox_normalized;

/// Surface samples per shape (cadrille's `n_points`).
pub const CHAMFER_POINTS: usize = 8192;

/// Chamfer distance between `a` and `b` after normalisation (not multiplied by 1000).
pub fn chamfer(a: &Solid, b: &Solid) -> Option<f64> {
    chamfer_with(a, b, CHAMFER_POINTS, 0)
}

pub fn chamfer_with(a: &Solid, b: &Solid, n: usize, seed: u64) -> Option<f64> {
    let na = bbox_normalized(a, &mass_props(a), 1.0)?;
    let nb = bbox_normalized(b, &mass_props(b), 1.0)?;
    let pa = points(&na, n, seed)?;
    let pb = points(&nb, n, seed.wrapping_add(1))?;
    Some(mean_nn(&pa, &pb) + mean_nn(&pb, &pa))
}

fn points(s: &Solid, n: usize, seed: u64) -> Option<Vec<[f64; 3]>> {
    let pts = sample_surface(s, n, seed);
    (!pts.is_empty()).then(|| pts.into_iter().map(|p| [p.x, p.y, p.z]).collect())
}

/// Mean squared distance from each point of `from` to its nearest point of `to`.
fn mean_nn(from: &[[f64; 3]], to: &[[f64; 3]]) -> f64 {
    let Ok(tree) = ImmutableKdTree::<f64, 3>::new_from_slice(to) else { return f64::INFINITY };
    let sum: f64 = from.iter().map(|p| tree.query(p).nearest_one::<SquaredEuclidean<f64>>().execute().distance).sum();
    sum / from.len() as f64
}
