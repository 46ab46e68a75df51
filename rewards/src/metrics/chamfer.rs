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
    let tree = KdTree::new(to);
    let sum: f64 = from.iter().map(|p| tree.nearest_sq(p)).sum();
    sum / from.len() as f64
}

/// Leaf size of the k-d tree.
const LEAF: usize = 8;

/// Exact nearest-neighbour search: an implicit k-d tree (median splits on the widest
/// axis, leaves of up to 8 points stored as f32 columns so the leaf scan vectorises).
struct KdTree {
    /// Per node: split axis (3 = leaf) and split value; leaves hold `[start, end)`.
    nodes: Vec<KdNode>,
    xs: Vec<f32>,
    ys: Vec<f32>,
    zs: Vec<f32>,
}

#[derive(Clone, Copy)]
struct KdNode {
    axis: u8,
    split: f32,
    /// Bounding box of the node's points (a tight bound for pruning: surface samples
    /// make flat boxes that the split plane alone bounds poorly).
    lo: [f32; 3],
    hi: [f32; 3],
    /// Inner node: index of the left child (right is `left + 1`). Leaf: first point.
    a: u32,
    /// Leaf: one past the last point.
    b: u32,
}

impl KdTree {
    fn new(pts: &[[f64; 3]]) -> KdTree {
        let mut p: Vec<[f32; 3]> = pts.iter().map(|q| [q[0] as f32, q[1] as f32, q[2] as f32]).collect();
        let empty = KdNode { axis: 3, split: 0.0, lo: [0.0; 3], hi: [0.0; 3], a: 0, b: 0 };
        let mut nodes = vec![empty];
        let mut stack = vec![(0usize, 0usize, p.len())];
        while let Some((node, lo, hi)) = stack.pop() {
            let slice = &mut p[lo..hi];
            let mut mn = [f32::INFINITY; 3];
            let mut mx = [f32::NEG_INFINITY; 3];
            for q in slice.iter() {
                for k in 0..3 {
                    mn[k] = mn[k].min(q[k]);
                    mx[k] = mx[k].max(q[k]);
                }
            }
            if hi - lo <= LEAF {
                nodes[node] = KdNode { axis: 3, split: 0.0, lo: mn, hi: mx, a: lo as u32, b: hi as u32 };
                continue;
            }
            let axis = (0..3).max_by(|&i, &j| (mx[i] - mn[i]).total_cmp(&(mx[j] - mn[j]))).unwrap_or(0);
            let mid = slice.len() / 2;
            slice.select_nth_unstable_by(mid, |u, v| u[axis].total_cmp(&v[axis]));
            let split = slice[mid][axis];
            let left = nodes.len();
            nodes.push(empty);
            nodes.push(empty);
            nodes[node] = KdNode { axis: axis as u8, split, lo: mn, hi: mx, a: left as u32, b: 0 };
            stack.push((left, lo, lo + mid));
            stack.push((left + 1, lo + mid, hi));
        }
        KdTree { nodes, xs: p.iter().map(|q| q[0]).collect(), ys: p.iter().map(|q| q[1]).collect(), zs: p.iter().map(|q| q[2]).collect() }
    }

    /// Squared distance from `q` to the bounding box of node `n`.
    fn box_sq(&self, n: u32, q: [f32; 3]) -> f32 {
        let node = &self.nodes[n as usize];
        let mut d = 0.0;
        for k in 0..3 {
            let e = (node.lo[k] - q[k]).max(q[k] - node.hi[k]).max(0.0);
            d += e * e;
        }
        d
    }

    fn nearest_sq(&self, q: &[f64; 3]) -> f64 {
        let qf = [q[0] as f32, q[1] as f32, q[2] as f32];
        let mut best = f32::INFINITY;
        // explicit stack of (node, lower bound on the squared distance)
        let mut stack: [(u32, f32); 64] = [(0, 0.0); 64];
        let mut top = 1;
        while top > 0 {
            top -= 1;
            let (mut n, bound) = stack[top];
            if bound >= best {
                continue;
            }
            loop {
                let node = self.nodes[n as usize];
                if node.axis == 3 {
                    let (a, b) = (node.a as usize, node.b as usize);
                    best = best.min(min_sq(&self.xs[a..b], &self.ys[a..b], &self.zs[a..b], qf));
                    break;
                }
                let d = qf[node.axis as usize] - node.split;
                let (near, far) = if d < 0.0 { (node.a, node.a + 1) } else { (node.a + 1, node.a) };
                let fd = self.box_sq(far, qf);
                if fd < best && top < stack.len() {
                    stack[top] = (far, fd);
                    top += 1;
                }
                if self.box_sq(near, qf) >= best {
                    break;
                }
                n = near;
            }
        }
        best as f64
    }
}

/// Smallest squared distance from `q` to a run of points (branch-free so it
/// vectorises).
fn min_sq(xs: &[f32], ys: &[f32], zs: &[f32], q: [f32; 3]) -> f32 {
    let mut m = f32::INFINITY;
    for ((x, y), z) in xs.iter().zip(ys).zip(zs) {
        let (dx, dy, dz) = (x - q[0], y - q[1], z - q[2]);
        let d = dx * dx + dy * dy + dz * dz;
        m = if d < m { d } else { m };
    }
    m
}

#[cfg(test)]
mod tests {
    use super::KdTree;

    #[test]
    fn kd_tree_matches_brute_force() {
        let mut s = 12345u64;
        let mut rnd = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let pts: Vec<[f64; 3]> = (0..2000).map(|_| [rnd(), rnd() * 0.3, (rnd() * 6.0).sin()]).collect();
        let grid = KdTree::new(&pts);
        for _ in 0..500 {
            let q = [rnd() * 3.0 - 1.0, rnd() * 2.0 - 0.5, rnd() * 4.0 - 2.0];
            let brute = pts.iter().map(|p| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).fold(f64::INFINITY, f64::min);
            // points are stored as f32: same answer to f32 precision
            let got = grid.nearest_sq(&q);
            assert!((got - brute).abs() <= 1e-5 * brute + 1e-12, "{got} vs {brute}");
        }
    }
}
