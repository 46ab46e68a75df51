//! Chamfer distance between two solids, as cadrille reports it.
//!
//! Each shape is centred on its bounding box and scaled so its longest side is 1
//! (cadrille's unit-cube normalisation); 8192 points are sampled uniformly on each
//! surface; the distance is
//! `mean_{p in A} min_{q in B} |p - q|^2 + mean_{q in B} min_{p in A} |p - q|^2`
//! (squared distances, averaged each way, summed). Papers print it multiplied by
//! 1000. Sampling uses a fixed seed, so the value is deterministic.
//!
//! Range: [0, 6] in the unit cube. Identical shapes give the sampling floor, not 0:
//! two independent samplings of a surface of area A give about 2A / (pi n), 4.7e-4
//! (0.47 x 1000) for a cube. Translation and scale do not matter (normalisation).
//! Degenerate shapes (no surface) give `None`.
//! Example: a cube against a 1 x 1 x 0.5 box gives about 0.043 (43 x 1000).

use crate::geom::sample::sample_surface;
use crate::geom::{Solid, exact_bbox};

use super::nearest::{Cloud, Isa};
use super::normalize::unit_box;

/// Surface samples per shape (cadrille's `n_points`).
pub const CHAMFER_POINTS: usize = 8192;

/// Chamfer distance between `a` and `b` after normalisation (not multiplied by 1000).
pub fn chamfer(a: &Solid, b: &Solid) -> Option<f64> {
    chamfer_with(a, b, CHAMFER_POINTS, 0)
}

/// [`chamfer`] with `n` samples a shape; `a` is sampled with `seed`, `b` with
/// `seed + 1`.
pub(crate) fn chamfer_with(a: &Solid, b: &Solid, n: usize, seed: u64) -> Option<f64> {
    let pa = normalized_samples(a, n, seed)?;
    let pb = normalized_samples(b, n, seed.wrapping_add(1))?;
    chamfer_points(&pa, &pb)
}

/// The samples [`chamfer`] draws on its second shape (the reference), to score many
/// candidates against one reference without sampling it again for each.
pub(crate) fn reference_samples(b: &Solid) -> Option<Vec<[f64; 3]>> {
    normalized_samples(b, CHAMFER_POINTS, 1)
}

/// `chamfer(a, b)` given `reference_samples(b)`: the same value, bit for bit.
pub(crate) fn chamfer_against(a: &Solid, b_samples: &[[f64; 3]]) -> Option<f64> {
    chamfer_points(&normalized_samples(a, CHAMFER_POINTS, 0)?, b_samples)
}

/// `n` surface samples of `s`, centred on its exact bounding box and scaled so
/// that the box's longest side is 1 (`None` for a degenerate box or surface).
pub fn normalized_samples(s: &Solid, n: usize, seed: u64) -> Option<Vec<[f64; 3]>> {
    let (c, k) = unit_box(&exact_bbox(s), 1.0)?;
    let pts = sample_surface(s, n, seed);
    (!pts.is_empty()).then(|| {
        pts.into_iter()
            .map(|p| {
                let q = (p - c) * k;
                [q.x, q.y, q.z]
            })
            .collect()
    })
}

/// The Chamfer sum of two point sets: mean squared nearest distance from `a` to
/// `b` plus from `b` to `a` (exact nearest neighbours, see `nearest.rs`); `None`
/// if either is empty or not finite.
pub fn chamfer_points(a: &[[f64; 3]], b: &[[f64; 3]]) -> Option<f64> {
    chamfer_points_on(a, b, Isa::best())
}

/// [`chamfer_points`] on a given instruction set (the same value on each; for
/// benchmarks). `None` also if this CPU lacks `isa`.
pub fn chamfer_points_on(a: &[[f64; 3]], b: &[[f64; 3]], isa: Isa) -> Option<f64> {
    let (ca, cb) = Cloud::pair(a, b)?;
    Some(ca.sum_nearest_sq_on(&cb, isa)? / a.len() as f64 + cb.sum_nearest_sq_on(&ca, isa)? / b.len() as f64)
}
