//! Exact nearest-neighbour distances between two point clouds, for the Chamfer
//! metric: `sum over p in from of min over q in to |p - q|^2`.
//!
//! Both clouds are sorted along one Morton (Z-order) curve over their common
//! bounding box and cut into leaves of `LEAF` (32) consecutive points, under a
//! complete binary tree of bounding boxes (heap layout, built bottom-up). Queries
//! are answered `GROUP` (32) at a time, one per vector lane: a group of consecutive
//! points of `from` (close together, being consecutive on the curve) starts at
//! the leaf of `to` where the curve passes the group, and climbs to the root,
//! searching each sibling subtree on the way (nearer child first) only where some
//! lane could still find a closer point than its best so far (a per-lane
//! point-to-box test). Each leaf reached is compared with every lane in one
//! branch-free block of `GROUP x LEAF` distances. One walk serves the whole group,
//! and starting where the curve meets it gives every lane a close bound at once.
//!
//! Why not a k-d tree queried point by point (what this replaced): at 8192 points
//! a side those descents took about 3.9 of the metric's 5.4 ms per pair; this
//! takes about 1.2 ms with AVX-512, building both clouds included (the whole
//! metric per instruction set: `benches/score.rs`). Building is a radix sort and
//! one pass over the leaves.
//!
//! The loop is compiled for AVX-512, AVX2 and the baseline, and the widest the
//! CPU has is used ([`Isa::best`]). All run the same operations in the same
//! order per lane (no fused multiply-adds), so they give the same bits.
//!
//! Exact: the result is the true minimum over all target points, computed in f32
//! (the points are stored as f32; equal to brute force to f32 precision).

/// Points per leaf of the tree.
pub(crate) const LEAF: usize = 32;
/// Queries answered together (one lane each).
pub(crate) const GROUP: usize = 32;
/// Clouds are padded to a multiple of this many points.
const PAD: usize = if LEAF > GROUP { LEAF } else { GROUP };
// `min_lanes` halves the lanes; the tree's leaves are whole runs of the padding
const _: () = assert!(GROUP.is_power_of_two() && PAD.is_multiple_of(LEAF) && PAD.is_multiple_of(GROUP));

/// An instruction set the query loop is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Whatever the build targets (SSE2 on x86-64).
    Baseline,
    /// AVX2 (x86-64 only).
    Avx2,
    /// AVX-512F (x86-64 only).
    Avx512,
}

impl Isa {
    /// Whether this CPU can run it.
    pub fn available(self) -> bool {
        match self {
            Isa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest one this CPU runs.
    pub fn best() -> Isa {
        [Isa::Avx512, Isa::Avx2].into_iter().find(|i| i.available()).unwrap_or(Isa::Baseline)
    }
}

/// A point cloud sorted in Morton order under a complete tree of bounding boxes.
pub(crate) struct Cloud {
    /// Coordinates in curve order (leaf `l` is `l * LEAF..(l + 1) * LEAF`),
    /// padded to a multiple of `PAD` by repeating the last point.
    xs: Vec<f32>,
    ys: Vec<f32>,
    zs: Vec<f32>,
    /// Number of real points.
    n: usize,
    /// Leaves in the tree (a power of two; leaves past the cloud's are empty).
    leaves: usize,
    /// Heap-ordered boxes (node 1 is the root, node `k` has children `2k, 2k + 1`,
    /// leaf `l` is node `leaves + l`); empty nodes have `lo > hi`.
    lo: Vec<[f32; 3]>,
    hi: Vec<[f32; 3]>,
    /// The box the Morton codes are computed in.
    frame: ([f64; 3], [f64; 3]),
    /// Morton code of each leaf's first point.
    starts: Vec<u32>,
    /// Morton code of every (padded) point.
    codes: Vec<u32>,
}

impl Cloud {
    /// `None` for an empty cloud or one with a coordinate that is not finite or
    /// beyond the f32 range.
    #[cfg(test)]
    pub(crate) fn new(pts: &[[f64; 3]]) -> Option<Cloud> {
        Cloud::in_frame(pts, bounds(&[pts])?)
    }

    /// Two clouds sorted along the same Morton curve (over their common bounding
    /// box), so that each can start a query group where the other's curve passes
    /// the group. `None` if either is refused by [`Cloud::new`].
    pub(crate) fn pair(a: &[[f64; 3]], b: &[[f64; 3]]) -> Option<(Cloud, Cloud)> {
        let frame = bounds(&[a, b])?;
        Some((Cloud::in_frame(a, frame)?, Cloud::in_frame(b, frame)?))
    }

    // `!(v.abs() <= ...)` is deliberate: a NaN coordinate must be refused too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn in_frame(pts: &[[f64; 3]], (mn, mx): ([f64; 3], [f64; 3])) -> Option<Cloud> {
        let n = pts.len();
        if n == 0 || pts.iter().flatten().any(|v| !(v.abs() <= f32::MAX as f64)) {
            return None;
        }
        let scale = [0, 1, 2].map(|k| if mx[k] > mn[k] { CELLS / (mx[k] - mn[k]) } else { 0.0 });
        // (Morton code << 32 | index), sorted by code
        let keys: Vec<u64> = pts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // in the frame, so in [0, CELLS] (a NaN becomes 0; the cloud is refused)
                let c = [0, 1, 2].map(|k| (((p[k] - mn[k]) * scale[k]) as u32).min(CELLS as u32 - 1));
                (((spread(c[0]) | (spread(c[1]) << 1) | (spread(c[2]) << 2)) as u64) << 32) | i as u64
            })
            .collect();
        let keys = radix_sort(keys);
        let nleaves = n.div_ceil(LEAF);
        let leaves = nleaves.next_power_of_two();
        let padded = n.div_ceil(PAD) * PAD;
        let key = |i: usize| keys[i.min(n - 1)];
        let (mut xs, mut ys, mut zs) = (vec![0.0f32; padded], vec![0.0f32; padded], vec![0.0f32; padded]);
        for (i, ((x, y), z)) in xs.iter_mut().zip(ys.iter_mut()).zip(zs.iter_mut()).enumerate() {
            let p = pts[key(i) as u32 as usize];
            (*x, *y, *z) = (p[0] as f32, p[1] as f32, p[2] as f32);
        }
        let mut lo = vec![[f32::INFINITY; 3]; 2 * leaves];
        let mut hi = vec![[f32::NEG_INFINITY; 3]; 2 * leaves];
        for l in 0..nleaves {
            let r = l * LEAF..(l + 1) * LEAF;
            let node = leaves + l;
            for (k, col) in [&xs, &ys, &zs].into_iter().enumerate() {
                let (mut a, mut b) = (f32::INFINITY, f32::NEG_INFINITY);
                for &v in &col[r.clone()] {
                    a = if v < a { v } else { a };
                    b = if v > b { v } else { b };
                }
                (lo[node][k], hi[node][k]) = (a, b);
            }
        }
        for node in (1..leaves).rev() {
            let (a, b) = (2 * node, 2 * node + 1);
            lo[node] = [0, 1, 2].map(|k| lo[a][k].min(lo[b][k]));
            hi[node] = [0, 1, 2].map(|k| hi[a][k].max(hi[b][k]));
        }
        let sorted: Vec<u32> = (0..padded).map(|i| (key(i) >> 32) as u32).collect();
        let starts = (0..nleaves).map(|l| sorted[l * LEAF]).collect();
        Some(Cloud { xs, ys, zs, n, leaves, lo, hi, frame: (mn, mx), starts, codes: sorted })
    }

    /// Sum over the points of `self` of the squared distance to the nearest point
    /// of `to`, on the widest instruction set this CPU has.
    #[cfg(test)]
    pub(crate) fn sum_nearest_sq(&self, to: &Cloud) -> f64 {
        self.sum_nearest_sq_on(to, Isa::best()).unwrap_or_else(|| self.sum_nearest_sq_any(to))
    }

    /// [`Cloud::sum_nearest_sq`] on a given instruction set; `None` if this CPU
    /// lacks it. Every set gives the same value.
    pub(crate) fn sum_nearest_sq_on(&self, to: &Cloud, isa: Isa) -> Option<f64> {
        if !isa.available() {
            return None;
        }
        match isa {
            Isa::Baseline => Some(self.sum_nearest_sq_any(to)),
            // SAFETY: the CPU supports the instruction set (checked above).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Some(unsafe { self.sum_nearest_sq_avx2(to) }),
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Some(unsafe { self.sum_nearest_sq_avx512(to) }),
            #[cfg(not(target_arch = "x86_64"))]
            _ => None,
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn sum_nearest_sq_avx512(&self, to: &Cloud) -> f64 {
        self.sum_nearest_sq_any(to)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn sum_nearest_sq_avx2(&self, to: &Cloud) -> f64 {
        self.sum_nearest_sq_any(to)
    }

    /// The query loop, inlined into each instruction-set variant above.
    #[inline(always)]
    fn sum_nearest_sq_any(&self, to: &Cloud) -> f64 {
        let mut total = 0.0f64;
        let mut stack: Vec<u32> = Vec::with_capacity(64);
        for g in 0..self.n.div_ceil(GROUP) {
            let r = g * GROUP..(g + 1) * GROUP;
            let q =
                Group { xs: lane(&self.xs[r.clone()]), ys: lane(&self.ys[r.clone()]), zs: lane(&self.zs[r]) };
            // start at the leaf of `to` where the common Morton curve passes the
            // middle of this group (the root when the clouds have different curves)
            let start = (to.frame == self.frame).then(|| {
                let mid = self.codes[(g * GROUP + GROUP / 2).min(self.n - 1)];
                to.starts.partition_point(|&c| c <= mid).saturating_sub(1)
            });
            let best = to.nearest_group(&q, start, &mut stack);
            let real = (self.n - g * GROUP).min(GROUP);
            total += best[..real].iter().map(|&d| d as f64).sum::<f64>();
        }
        total
    }

    /// Squared nearest distances for the lanes of `q`, starting from leaf `start`
    /// (from the root without one).
    #[inline(always)]
    fn nearest_group(&self, q: &Group, start: Option<usize>, stack: &mut Vec<u32>) -> [f32; GROUP] {
        let mut best = [f32::INFINITY; GROUP];
        let mut node = start.map_or(1, |l| self.leaves + l);
        stack.clear();
        stack.push(node as u32);
        self.descend(q, stack, &mut best);
        // climb: at each level, search the sibling subtree where a lane can improve
        while node > 1 {
            stack.clear();
            stack.push((node ^ 1) as u32);
            self.descend(q, stack, &mut best);
            node /= 2;
        }
        best
    }

    /// Search the subtrees on `stack` (nearer child first).
    #[inline(always)]
    fn descend(&self, q: &Group, stack: &mut Vec<u32>, best: &mut [f32; GROUP]) {
        while let Some(mut node) = stack.pop() {
            if !q.needs(self.lo[node as usize], self.hi[node as usize], best) {
                continue;
            }
            loop {
                let node_u = node as usize;
                if node_u >= self.leaves {
                    let at = (node_u - self.leaves) * LEAF;
                    q.update(&self.xs[at..at + LEAF], &self.ys[at..at + LEAF], &self.zs[at..at + LEAF], best);
                    break;
                }
                let (a, b) = (2 * node_u, 2 * node_u + 1);
                let da = q.reach(self.lo[a], self.hi[a], best);
                let db = q.reach(self.lo[b], self.hi[b], best);
                let (near, dn, far, df) = if da <= db { (a, da, b, db) } else { (b, db, a, da) };
                if df < f32::INFINITY {
                    stack.push(far as u32);
                }
                if dn == f32::INFINITY {
                    break;
                }
                node = near as u32;
            }
        }
    }
}

/// Bounding box of the points of several clouds (NaN coordinates are skipped:
/// [`Cloud::new`] refuses them); `None` if it is empty or not finite.
fn bounds(clouds: &[&[[f64; 3]]]) -> Option<([f64; 3], [f64; 3])> {
    let (mut mn, mut mx) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for p in clouds.iter().flat_map(|c| c.iter()) {
        for k in 0..3 {
            // comparisons rather than f64::min/max, so that the loop vectorises
            mn[k] = if p[k] < mn[k] { p[k] } else { mn[k] };
            mx[k] = if p[k] > mx[k] { p[k] } else { mx[k] };
        }
    }
    mn.iter().chain(&mx).all(|v| v.is_finite()).then_some((mn, mx))
}

/// Query points in lanes.
struct Group {
    xs: [f32; GROUP],
    ys: [f32; GROUP],
    zs: [f32; GROUP],
}

impl Group {
    /// Smallest squared distance from a lane to the box `lo..hi` among the lanes
    /// for which the box could hold a closer point than their best (infinite when
    /// none can, or the box is empty).
    #[inline(always)]
    fn reach(&self, lo: [f32; 3], hi: [f32; 3], best: &[f32; GROUP]) -> f32 {
        if lo[0] > hi[0] {
            return f32::INFINITY;
        }
        let mut d = [0.0f32; GROUP];
        for j in 0..GROUP {
            let gx = gap(lo[0], hi[0], self.xs[j]);
            let gy = gap(lo[1], hi[1], self.ys[j]);
            let gz = gap(lo[2], hi[2], self.zs[j]);
            let e = gx * gx + gy * gy + gz * gz;
            d[j] = if e < best[j] { e } else { f32::INFINITY };
        }
        min_lanes(d)
    }

    #[inline(always)]
    fn needs(&self, lo: [f32; 3], hi: [f32; 3], best: &[f32; GROUP]) -> bool {
        self.reach(lo, hi, best) < f32::INFINITY
    }

    /// Lower each lane's best squared distance with a leaf of target points.
    // Fixed-width lane loop, kept indexed so that it vectorises (benchmarked hot path).
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn update(&self, xs: &[f32], ys: &[f32], zs: &[f32], best: &mut [f32; GROUP]) {
        for ((&x, &y), &z) in xs.iter().zip(ys).zip(zs) {
            for j in 0..GROUP {
                let (dx, dy, dz) = (self.xs[j] - x, self.ys[j] - y, self.zs[j] - z);
                let d = dx * dx + dy * dy + dz * dz;
                best[j] = if d < best[j] { d } else { best[j] };
            }
        }
    }
}

/// Distance from `v` to the interval `lo..hi` (0 inside), branch-free.
#[inline(always)]
fn gap(lo: f32, hi: f32, v: f32) -> f32 {
    let a = lo - v;
    let b = v - hi;
    let m = if a > b { a } else { b };
    if m > 0.0 { m } else { 0.0 }
}

/// Smallest of the lane values.
#[inline(always)]
fn min_lanes(d: [f32; GROUP]) -> f32 {
    let mut m = d;
    let mut w = GROUP / 2;
    while w > 0 {
        for j in 0..w {
            m[j] = if m[j] < m[j + w] { m[j] } else { m[j + w] };
        }
        w /= 2;
    }
    m[0]
}

#[inline(always)]
fn lane(s: &[f32]) -> [f32; GROUP] {
    let mut out = [0.0; GROUP];
    out.copy_from_slice(s);
    out
}

/// Morton cells per axis (8 bits each: ample to order a few thousand points).
const CELLS: f64 = 256.0;

/// Spread the low 8 bits of `v` to every third bit (Morton interleave).
fn spread(v: u32) -> u32 {
    let mut x = v & 0xff;
    x = (x | (x << 8)) & 0x0000_f00f;
    x = (x | (x << 4)) & 0x000c_30c3;
    (x | (x << 2)) & 0x0024_9249
}

/// Sort keys by their bits 32..56 (stable LSD radix sort, 2 passes of 12 bits;
/// both histograms are counted in one pass).
fn radix_sort(mut keys: Vec<u64>) -> Vec<u64> {
    let mut count = vec![[0u32; 4096]; 2];
    for &k in &keys {
        count[0][((k >> 32) & 0xfff) as usize] += 1;
        count[1][((k >> 44) & 0xfff) as usize] += 1;
    }
    let mut tmp = vec![0u64; keys.len()];
    for (pass, c) in count.iter_mut().enumerate() {
        let mut at = 0;
        for v in c.iter_mut() {
            (*v, at) = (at, at + *v);
        }
        let shift = 32 + 12 * pass;
        for &k in &keys {
            let b = ((k >> shift) & 0xfff) as usize;
            tmp[c[b] as usize] = k;
            c[b] += 1;
        }
        std::mem::swap(&mut keys, &mut tmp);
    }
    keys
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Cloud, Isa, radix_sort, spread};

    fn rng(mut s: u64) -> impl FnMut() -> f64 {
        move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn brute(from: &[[f64; 3]], to: &[[f64; 3]]) -> f64 {
        from.iter()
            .map(|q| {
                to.iter()
                    .map(|p| (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f64>())
                    .fold(f64::INFINITY, f64::min)
            })
            .sum()
    }

    #[test]
    fn sums_match_brute_force_for_near_far_and_ragged_clouds() {
        let mut r = rng(12345);
        // a curved sheet, a far blob, a tiny cloud, a cloud with a ragged last leaf
        let sheet: Vec<[f64; 3]> = (0..3001).map(|_| [r(), r() * 0.3, (r() * 6.0).sin()]).collect();
        let blob: Vec<[f64; 3]> = (0..517).map(|_| [5.0 + r(), -3.0 + r(), 2.0 + r() * 0.01]).collect();
        let tiny: Vec<[f64; 3]> = vec![[0.5, 0.1, 0.2]];
        let line: Vec<[f64; 3]> = (0..99).map(|i| [i as f64 * 0.01, 0.0, 0.0]).collect();
        let clouds = [&sheet, &blob, &tiny, &line];
        for a in clouds {
            for b in clouds {
                let want = brute(a, b);
                // separate curves (searched from the root) and a shared one (searched
                // from where the curve meets each group)
                let (sa, sb) = (Cloud::new(a).unwrap(), Cloud::new(b).unwrap());
                let (pa, pb) = Cloud::pair(a, b).unwrap();
                for got in [sa.sum_nearest_sq(&sb), pa.sum_nearest_sq(&pb)] {
                    // stored as f32: equal to f32 precision
                    assert!(
                        (got - want).abs() <= 1e-5 * want + 1e-9,
                        "{got} vs {want} ({} -> {})",
                        a.len(),
                        b.len()
                    );
                }
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let mut r = rng(99);
        let a: Vec<[f64; 3]> = (0..4099).map(|_| [r(), r() * 0.3, (r() * 6.0).sin()]).collect();
        let b: Vec<[f64; 3]> = (0..2500).map(|_| [r() * 2.0, r(), r() * 0.1]).collect();
        let (ca, cb) = Cloud::pair(&a, &b).unwrap();
        let base = ca.sum_nearest_sq_on(&cb, Isa::Baseline).unwrap();
        assert!((base - brute(&a, &b)).abs() <= 1e-5 * base);
        for isa in [Isa::Avx2, Isa::Avx512] {
            if let Some(v) = ca.sum_nearest_sq_on(&cb, isa) {
                assert_eq!(v.to_bits(), base.to_bits(), "{isa:?}");
            }
        }
        assert_eq!(ca.sum_nearest_sq(&cb).to_bits(), base.to_bits());
    }

    #[test]
    fn empty_or_non_finite_clouds_are_refused() {
        assert!(Cloud::new(&[]).is_none());
        assert!(Cloud::new(&[[0.0, f64::NAN, 0.0]]).is_none());
        assert!(Cloud::new(&[[0.0, f64::INFINITY, 0.0]]).is_none());
        assert!(Cloud::new(&[[0.0, 1e300, 0.0]]).is_none());
        assert!(Cloud::pair(&[[0.0; 3]], &[]).is_none());
    }

    #[test]
    fn radix_sort_orders_keys_by_morton_code() {
        let mut r = rng(7);
        let keys: Vec<u64> = (0..5000u64).map(|i| ((r() * (1u64 << 24) as f64) as u64) << 32 | i).collect();
        let sorted = radix_sort(keys.clone());
        assert!(sorted.windows(2).all(|w| w[0] >> 32 <= w[1] >> 32));
        // stable, and a permutation
        assert!(sorted.windows(2).all(|w| w[0] >> 32 < w[1] >> 32 || w[0] < w[1]));
        let mut a = keys;
        a.sort_unstable();
        let mut b = sorted;
        b.sort_unstable();
        assert_eq!(a, b);
        assert_eq!(spread(0b11), 0b1001);
        assert_eq!(spread(0xff), 0x0024_9249);
    }
}
