//! Uniform random points on the boundary of a CSG solid.
//!
//! Candidates are drawn uniformly (by area) on the boundary of every prism — caps by
//! rejection inside the profile, sides by arc length and height — and kept when the
//! solid's membership differs on the two sides of the surface there, i.e. the point
//! is on the boundary of the CSG result and not buried inside it or cut away.
//! Mesh leaves are sampled by triangle area; a solid that is one mesh keeps every
//! candidate (its whole surface is boundary).
//!
//! The two-sided test is cheap where it can be: the sampled prism's own membership
//! on either side is known without testing it (a cap point was drawn inside the
//! profile, so the inner side is in the prism and the outer side is not; a side
//! point needs only the 2-D profile test at the two offsets), and the rest of the
//! CSG tree is evaluated once for both offset points. A solid of one prism thus
//! tests nothing for cap points. Random numbers come from xoshiro256++ (fast,
//! deterministic for a seed on every platform).

use super::profile::{Loop, Seg};
use super::solid::{Prism, Solid};
use super::vec::{P2, V3, p2};

struct Side {
    /// Cumulative lateral length of each edge (circles count as one edge).
    cum: Vec<f64>,
    edges: Vec<EdgeRef>,
    /// Per edge: whether the profile is on the `+normal` side of it, where that is
    /// the same all along the edge (no other edge overlaps it); `None` where the
    /// sampler must test each point.
    inside_plus: Vec<Option<bool>>,
}

#[derive(Clone, Copy)]
enum EdgeRef {
    /// End points and the unit left normal.
    Line(P2, P2, P2),
    /// Centre, radius, start angle, signed sweep (a full circle sweeps 2 pi).
    Arc(P2, f64, f64, f64),
}

impl EdgeRef {
    /// The point at fraction `t` of the edge and the unit normal there (left of a
    /// line, away from the centre for an arc).
    fn at(&self, t: f64) -> (P2, P2) {
        match *self {
            EdgeRef::Line(a, b, n) => (a + (b - a) * t, n),
            EdgeRef::Arc(c, r, a0, sweep) => {
                let a = a0 + t * sweep;
                let d = p2(a.cos(), a.sin());
                (c + d * r, d)
            }
        }
    }
}

/// Above this many edges a prism's sides are tested point by point instead of
/// checking every pair of edges for overlap.
const MAX_PAIRED_EDGES: usize = 64;

fn sides(p: &Prism, eps: f64) -> Side {
    let mut cum = Vec::new();
    let mut edges = Vec::new();
    let mut acc = 0.0;
    for l in &p.profile.loops {
        match l {
            Loop::Circle { c, r } => {
                acc += std::f64::consts::TAU * r;
                cum.push(acc);
                edges.push(EdgeRef::Arc(*c, *r, 0.0, std::f64::consts::TAU));
            }
            Loop::Path(segs) => {
                for s in segs {
                    acc += s.length();
                    cum.push(acc);
                    edges.push(match *s {
                        Seg::Line { a, b } => {
                            let d = b - a;
                            let n = d.norm().max(1e-300);
                            EdgeRef::Line(a, b, p2(-d.y / n, d.x / n))
                        }
                        Seg::Arc { a, c, r, .. } => {
                            EdgeRef::Arc(c, r, (a.y - c.y).atan2(a.x - c.x), s.sweep())
                        }
                    });
                }
            }
        }
    }
    // Under the even-odd rule, crossing one edge flips membership; the side the
    // profile is on stays the same along an edge unless another edge runs along
    // it (the interpreter refuses crossing edges). Decide it once at the middle.
    let tol = 1e-9 * (p.profile.max - p.profile.min).norm().max(1e-300);
    let paired = edges.len() <= MAX_PAIRED_EDGES;
    let inside_plus = (0..edges.len())
        .map(|k| {
            if !paired || (0..edges.len()).any(|j| j != k && overlap(&edges[k], &edges[j], tol)) {
                return None;
            }
            let (m, nrm) = edges[k].at(0.5);
            let (plus, minus) = sides_at(p, m, nrm, eps);
            (plus != minus).then_some(plus)
        })
        .collect();
    Side { cum, edges, inside_plus }
}

/// Profile membership just off an edge point, on the `+normal` and `-normal` sides.
fn sides_at(p: &Prism, pt: P2, nrm: P2, eps: f64) -> (bool, bool) {
    (p.profile.contains(pt + nrm * eps), p.profile.contains(pt - nrm * eps))
}

/// Whether two edges run along each other for a stretch (collinear lines whose
/// spans overlap, or arcs on the same circle), within `tol`.
fn overlap(a: &EdgeRef, b: &EdgeRef, tol: f64) -> bool {
    match (*a, *b) {
        (EdgeRef::Line(p, q, n), EdgeRef::Line(u, v, _)) => {
            let off = |x: P2| (x - p).dot(n).abs();
            if off(u) > tol || off(v) > tol {
                return false;
            }
            let d = q - p;
            let len2 = d.dot(d).max(1e-300);
            let (s, t) = ((u - p).dot(d) / len2, (v - p).dot(d) / len2);
            let (lo, hi) = (s.min(t), s.max(t));
            hi.min(1.0) - lo.max(0.0) > tol / len2.sqrt()
        }
        (EdgeRef::Arc(c1, r1, ..), EdgeRef::Arc(c2, r2, ..)) => c1.dist(c2) <= tol && (r1 - r2).abs() <= tol,
        _ => false,
    }
}

/// `n` points on the boundary of `s` (fewer only if the boundary is degenerate).
// `!(total > 0.0)` is deliberate: a NaN total area must give no points.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn sample_surface(s: &Solid, n: usize, seed: u64) -> Vec<V3> {
    let mut rng = Xoshiro::new(seed);
    let scale = s.bounds.diagonal().max(1e-12);
    let eps = 1e-7 * scale;
    let sides: Vec<Side> = s.prisms.iter().map(|p| sides(p, eps)).collect();
    // boundary area per prism: two caps + lateral
    let mut weights = Vec::new();
    let mut total = 0.0;
    for (p, sd) in s.prisms.iter().zip(&sides) {
        let cap = p.profile.area().abs();
        let lat = sd.cum.last().copied().unwrap_or(0.0) * (p.w1 - p.w0);
        total += 2.0 * cap + lat;
        weights.push((total, cap, lat));
    }
    let n_prisms = weights.len();
    let mesh_cum: Vec<Vec<f64>> = s.meshes.iter().map(|m| m.cumulative_areas()).collect();
    for c in &mesh_cum {
        let a = c.last().copied().unwrap_or(0.0);
        total += a;
        weights.push((total, a, 0.0));
    }
    let only_mesh = matches!(s.root, super::solid::Node::Mesh(_));
    let mut out = Vec::with_capacity(n);
    if !(total > 0.0) {
        return out;
    }
    let max_tries = 200 * n.max(1);
    let mut tries = 0;
    while out.len() < n && tries < max_tries {
        tries += 1;
        let u = rng.unit() * total;
        let i = weights.partition_point(|w| w.0 < u).min(weights.len() - 1);
        if i >= n_prisms {
            let (m, cum) = (&s.meshes[i - n_prisms], &mesh_cum[i - n_prisms]);
            let Some(&area) = cum.last() else { continue };
            let r = rng.unit() * area;
            let k = cum.partition_point(|c| *c < r).min(cum.len() - 1);
            let (q, normal) = m.point_on(k, rng.unit(), rng.unit());
            if only_mesh || s.contains(q + normal * eps) != s.contains(q - normal * eps) {
                out.push(q);
            }
            continue;
        }
        let p = &s.prisms[i];
        let (_, cap, lat) = weights[i];
        let f = &p.frame;
        let pick = rng.unit() * (2.0 * cap + lat);
        let (q, normal, own) = if pick < 2.0 * cap {
            // a cap: rejection sample inside the profile
            let (mn, mx) = (p.profile.min, p.profile.max);
            let mut found = None;
            for _ in 0..64 {
                let c = p2(mn.x + rng.unit() * (mx.x - mn.x), mn.y + rng.unit() * (mx.y - mn.y));
                if p.profile.contains(c) {
                    found = Some(c);
                    break;
                }
            }
            let Some(c) = found else { continue };
            // the normal is the frame's z: at w0 its + side is inside the prism, at
            // w1 its - side is
            let bottom = pick < cap;
            let w = if bottom { p.w0 } else { p.w1 };
            (f.to_world(c.x, c.y, w), f.z, (bottom, !bottom))
        } else {
            let sd = &sides[i];
            let Some(&len) = sd.cum.last() else { continue };
            let t = rng.unit() * len;
            let k = sd.cum.partition_point(|c| *c < t).min(sd.edges.len() - 1);
            let (pt, nrm) = sd.edges[k].at(rng.unit());
            let w = p.w0 + rng.unit() * (p.w1 - p.w0);
            let own = match sd.inside_plus[k] {
                Some(plus) => (plus, !plus),
                None => sides_at(p, pt, nrm, eps),
            };
            if w <= p.w0 || w >= p.w1 || own.0 == own.1 {
                continue;
            }
            (f.to_world(pt.x, pt.y, w), f.x * nrm.x + f.y * nrm.y, own)
        };
        let (inside_p, inside_m) = s.contains_pair(q + normal * eps, q - normal * eps, i, own.0, own.1);
        if inside_p != inside_m {
            out.push(q);
        }
    }
    out
}

/// xoshiro256++ (Blackman and Vigna), seeded through SplitMix64.
struct Xoshiro([u64; 4]);

impl Xoshiro {
    fn new(seed: u64) -> Xoshiro {
        let mut z = seed;
        Xoshiro([0; 4].map(|_| {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        }))
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::Xoshiro;

    #[test]
    fn xoshiro_matches_the_reference_stream() {
        // reference implementation (xoshiro256plusplus.c) from state 1, 2, 3, 4
        let mut r = Xoshiro([1, 2, 3, 4]);
        let got: Vec<u64> = (0..3).map(|_| r.next()).collect();
        assert_eq!(got, [41943041, 58720359, 3588806011781223]);
        let mut u = Xoshiro::new(7);
        assert!((0..1000).map(|_| u.unit()).all(|x| (0.0..1.0).contains(&x)));
    }
}
