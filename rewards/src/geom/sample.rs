//! Uniform random points on the boundary of a CSG solid.
//!
//! Candidates are drawn uniformly (by area) on the boundary of every prism — caps by
//! rejection inside the profile, sides by arc length and height — and kept when the
//! solid's membership differs on the two sides of the surface there, i.e. the point
//! is on the boundary of the CSG result and not buried inside it or cut away.
//! Mesh leaves are sampled by triangle area; a solid that is one mesh keeps every
//! candidate (its whole surface is boundary).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::profile::{Loop, Seg};
use super::solid::{Prism, Solid};
use super::vec::{P2, V3, p2};

struct Side {
    /// Cumulative lateral length of each edge (circles count as one edge).
    cum: Vec<f64>,
    edges: Vec<EdgeRef>,
}

#[derive(Clone, Copy)]
enum EdgeRef {
    Line(P2, P2),
    /// Centre, radius, start angle, signed sweep (a full circle sweeps 2 pi).
    Arc(P2, f64, f64, f64),
}

fn sides(p: &Prism) -> Side {
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
                        Seg::Line { a, b } => EdgeRef::Line(a, b),
                        Seg::Arc { a, c, r, .. } => EdgeRef::Arc(c, r, (a.y - c.y).atan2(a.x - c.x), s.sweep()),
                    });
                }
            }
        }
    }
    Side { cum, edges }
}

/// `n` points on the boundary of `s` (fewer only if the boundary is degenerate).
pub fn sample_surface(s: &Solid, n: usize, seed: u64) -> Vec<V3> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scale = s.bounds.diagonal().max(1e-12);
    let eps = 1e-7 * scale;
    let sides: Vec<Side> = s.prisms.iter().map(sides).collect();
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
        let u = rng.random::<f64>() * total;
        let i = weights.partition_point(|w| w.0 < u).min(weights.len() - 1);
        if i >= n_prisms {
            let (m, cum) = (&s.meshes[i - n_prisms], &mesh_cum[i - n_prisms]);
            let Some(&area) = cum.last() else { continue };
            let r = rng.random::<f64>() * area;
            let k = cum.partition_point(|c| *c < r).min(cum.len() - 1);
            let (q, normal) = m.point_on(k, rng.random::<f64>(), rng.random::<f64>());
            if only_mesh || s.contains(q + normal * eps) != s.contains(q - normal * eps) {
                out.push(q);
            }
            continue;
        }
        let p = &s.prisms[i];
        let (_, cap, lat) = weights[i];
        let f = &p.frame;
        let pick = rng.random::<f64>() * (2.0 * cap + lat);
        let (q, normal) = if pick < 2.0 * cap {
            // a cap: rejection sample inside the profile
            let (mn, mx) = (p.profile.min, p.profile.max);
            let mut found = None;
            for _ in 0..64 {
                let c = p2(mn.x + rng.random::<f64>() * (mx.x - mn.x), mn.y + rng.random::<f64>() * (mx.y - mn.y));
                if p.profile.contains(c) {
                    found = Some(c);
                    break;
                }
            }
            let Some(c) = found else { continue };
            let w = if pick < cap { p.w0 } else { p.w1 };
            (f.to_world(c.x, c.y, w), f.z)
        } else {
            let sd = &sides[i];
            let Some(&len) = sd.cum.last() else { continue };
            let t = rng.random::<f64>() * len;
            let k = sd.cum.partition_point(|c| *c < t).min(sd.edges.len() - 1);
            let frac = rng.random::<f64>();
            let (pt, nrm) = match sd.edges[k] {
                EdgeRef::Line(a, b) => {
                    let d = b - a;
                    let n = d.norm().max(1e-300);
                    (a + d * frac, p2(-d.y / n, d.x / n))
                }
                EdgeRef::Arc(c, r, a0, sweep) => {
                    let a = a0 + frac * sweep;
                    let d = p2(a.cos(), a.sin());
                    (c + d * r, d)
                }
            };
            let w = p.w0 + rng.random::<f64>() * (p.w1 - p.w0);
            (f.to_world(pt.x, pt.y, w), f.x * nrm.x + f.y * nrm.y)
        };
        if s.contains(q + normal * eps) != s.contains(q - normal * eps) {
            out.push(q);
        }
    }
    out
}

