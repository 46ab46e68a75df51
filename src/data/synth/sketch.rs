//! The sketches of a synthetic program: DeepCAD's sketch planes (clean axes plus the
//! literal vector texts the data set writes), loops as the calls that draw them
//! (`moveTo`, `lineTo`, `threePointArc`, `circle`) on a per-sketch grid, and the
//! random outer shapes and holes ([`Gen::sketch`]). Loops are sampled to polylines only
//! to place holes and features.

use cadrl_rewards::geom::{P2, V3, p2, v3};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{SynthConfig, py_repr};

/// A DeepCAD sketch frame: clean axes for placement, literal text as the data set
/// writes them.
#[derive(Clone, Debug)]
pub(super) struct SketchPlane {
    pub(super) x: V3,
    pub(super) n: V3,
    pub(super) x_txt: String,
    pub(super) n_txt: String,
}

impl SketchPlane {
    pub(super) fn y(&self) -> V3 {
        self.n.cross(self.x)
    }
    pub(super) fn literal(x: [f64; 3], n: [f64; 3], x_txt: &str, n_txt: &str) -> SketchPlane {
        SketchPlane {
            x: v3(x[0], x[1], x[2]),
            n: v3(n[0], n[1], n[2]),
            x_txt: x_txt.into(),
            n_txt: n_txt.into(),
        }
    }
    pub(super) fn vec_txt(v: V3) -> String {
        format!("{}, {}, {}", py_repr(v[0]), py_repr(v[1]), py_repr(v[2]))
    }
}

pub(super) const E: &str = "6.123233995736766e-17";

/// The axis frames of DeepCAD sketches whose normal is `±axis` (`sign`).
pub(super) fn frames_for(axis: usize, sign: f64) -> SketchPlane {
    match (axis, sign > 0.0) {
        (2, true) => SketchPlane::literal([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], "1.0, 0.0, 0.0", "0.0, 0.0, 1.0"),
        (2, false) => SketchPlane::literal(
            [-1.0, 0.0, 0.0],
            [0.0, 0.0, -1.0],
            "-1.0, 1.2246467991473532e-16, 0.0",
            "1.2246467991473532e-16, 0.0, -1.0",
        ),
        (1, false) => SketchPlane::literal(
            [1.0, 0.0, 0.0],
            [0.0, -1.0, 0.0],
            &format!("1.0, {E}, -{E}"),
            &format!("{E}, -1.0, {E}"),
        ),
        (1, true) => SketchPlane::literal(
            [-1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            &format!("-1.0, {E}, -{E}"),
            &format!("{E}, 1.0, {E}"),
        ),
        (0, true) => SketchPlane::literal(
            [0.0, 1.0, 0.0],
            [1.0, 0.0, 0.0],
            &format!("3.749399456654644e-33, 1.0, -{E}"),
            &format!("1.0, 0.0, {E}"),
        ),
        _ => SketchPlane::literal(
            [0.0, -1.0, 0.0],
            [-1.0, 0.0, 0.0],
            &format!("-3.749399456654644e-33, -1.0, -{E}"),
            &format!("-1.0, 0.0, {E}"),
        ),
    }
}

/// Tilt a frame by `k * pi / 128` about its x axis (as in DeepCAD's slightly rotated
/// planes); the clean axes are kept for placement.
pub(super) fn tilt(f: &SketchPlane, k: i32) -> SketchPlane {
    let t = k as f64 * std::f64::consts::PI / 128.0;
    let (s, c) = t.sin_cos();
    let y = f.y();
    let n = f.n * c + y * s;
    let mut out = f.clone();
    out.n_txt = SketchPlane::vec_txt(n);
    out.x_txt = SketchPlane::vec_txt(f.x);
    out
}

#[derive(Clone, Debug)]
pub(super) enum Seg {
    Line(P2),
    Arc(P2, P2),
}

#[derive(Clone, Debug)]
pub(super) enum Loop {
    Closed { start: P2, segs: Vec<Seg> },
    Circle { c: P2, r: f64 },
}

impl Loop {
    /// A polyline through the loop (arcs sampled), closed implicitly.
    pub(super) fn polyline(&self) -> Vec<P2> {
        match self {
            Loop::Circle { c, r } => (0..24)
                .map(|i| {
                    let a = i as f64 * std::f64::consts::TAU / 24.0;
                    p2(c[0] + r * a.cos(), c[1] + r * a.sin())
                })
                .collect(),
            Loop::Closed { start, segs } => {
                let mut out = vec![*start];
                let mut cur = *start;
                for s in segs {
                    match s {
                        Seg::Line(p) => {
                            out.push(*p);
                            cur = *p;
                        }
                        Seg::Arc(m, e) => {
                            out.extend(arc_points(cur, *m, *e, 8));
                            cur = *e;
                        }
                    }
                }
                out
            }
        }
    }
}

/// Points along the arc a -> m -> e (excluding a, including e).
pub(super) fn arc_points(a: P2, m: P2, e: P2, n: usize) -> Vec<P2> {
    let d = 2.0 * (a[0] * (m[1] - e[1]) + m[0] * (e[1] - a[1]) + e[0] * (a[1] - m[1]));
    if d.abs() < 1e-12 {
        return vec![m, e];
    }
    let sq = |p: P2| p[0] * p[0] + p[1] * p[1];
    let ux = (sq(a) * (m[1] - e[1]) + sq(m) * (e[1] - a[1]) + sq(e) * (a[1] - m[1])) / d;
    let uy = (sq(a) * (e[0] - m[0]) + sq(m) * (a[0] - e[0]) + sq(e) * (m[0] - a[0])) / d;
    let r = ((a[0] - ux).powi(2) + (a[1] - uy).powi(2)).sqrt();
    let ang = |p: P2| (p[1] - uy).atan2(p[0] - ux);
    let (a0, am, a1) = (ang(a), ang(m), ang(e));
    let tau = std::f64::consts::TAU;
    let norm = |x: f64| x.rem_euclid(tau);
    // Direction: counter-clockwise if m lies on the ccw sweep from a to e.
    let ccw = norm(am - a0) < norm(a1 - a0);
    let sweep = if ccw { norm(a1 - a0) } else { -norm(a0 - a1) };
    (1..=n)
        .map(|i| a0 + sweep * i as f64 / n as f64)
        .map(|t| p2(ux + r * t.cos(), uy + r * t.sin()))
        .collect()
}

pub(super) fn inside(poly: &[P2], q: P2) -> bool {
    let mut c = false;
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        if (a[1] > q[1]) != (b[1] > q[1]) && q[0] < a[0] + (q[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]) {
            c = !c;
        }
    }
    c
}

pub(super) fn dist_poly(poly: &[P2], q: P2) -> f64 {
    let n = poly.len();
    let mut best = f64::INFINITY;
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let l2 = dx * dx + dy * dy;
        let t = if l2 > 0.0 { (((q[0] - a[0]) * dx + (q[1] - a[1]) * dy) / l2).clamp(0.0, 1.0) } else { 0.0 };
        let (px, py) = (a[0] + t * dx - q[0], a[1] + t * dy - q[1]);
        best = best.min((px * px + py * py).sqrt());
    }
    best
}

/// A sketch's loops plus the local bounding box of the outer loop.
pub(super) struct Sketch {
    pub(super) loops: Vec<Loop>,
    pub(super) min: P2,
    pub(super) max: P2,
}

pub(super) struct Gen<'a> {
    pub(super) cfg: &'a SynthConfig,
    pub(super) rng: ChaCha8Rng,
}

impl Gen<'_> {
    pub(super) fn p(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }
    pub(super) fn u(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.rng.random::<f64>()
    }
    pub(super) fn i(&mut self, a: usize, b: usize) -> usize {
        self.rng.random_range(a..=b.max(a))
    }

    /// Outer loop + holes, fitting about `w x h` (local units), on a grid of `size / d`.
    pub(super) fn sketch(&mut self, w: f64, h: f64) -> Sketch {
        let d = [19.0, 38.0, 57.0, 76.0, 95.0][self.i(0, 4)];
        let size = w.max(h);
        let g = size / d;
        let kw = ((w / g).round() as i64).max(2);
        let kh = ((h / g).round() as i64).max(2);
        let gx = |k: i64| k as f64 * g;
        let (wq, hq) = (gx(kw), gx(kh));
        let cfg = self.cfg;
        let outer = if self.p(cfg.circle_prob) {
            let kr = (kw.min(kh) / 2).max(1);
            let r = gx(kr);
            if self.p(0.5) { Loop::Circle { c: p2(r, 0.0), r } } else { Loop::Circle { c: p2(r, r), r } }
        } else if self.p(cfg.arc_prob) {
            self.arc_shape(wq, hq, g, kw, kh)
        } else {
            self.polygon(kw, kh, g)
        };
        let poly = outer.polyline();
        let (mut min, mut max) = (p2(f64::INFINITY, f64::INFINITY), p2(f64::NEG_INFINITY, f64::NEG_INFINITY));
        for p in &poly {
            for k in 0..2 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        let mut loops = vec![outer.clone()];
        if self.p(cfg.hole_prob) {
            let mut holes: Vec<(P2, f64)> = Vec::new();
            let want = {
                let mut n = 1;
                while n < cfg.max_holes && self.p(cfg.more_hole_prob) {
                    n += 1;
                }
                n
            };
            let concentric = matches!(outer, Loop::Circle { .. }) && self.p(0.6);
            for _ in 0..want * 12 {
                if holes.len() >= want {
                    break;
                }
                let c = if concentric && holes.is_empty() {
                    match outer {
                        Loop::Circle { c, .. } => c,
                        Loop::Closed { .. } => p2(0.0, 0.0),
                    }
                } else {
                    let kx = self.rng.random_range(0..=((max[0] - min[0]) / g) as i64);
                    let ky = self.rng.random_range(0..=((max[1] - min[1]) / g) as i64);
                    p2(min[0] + gx(kx), min[1] + gx(ky))
                };
                if !inside(&poly, c) {
                    continue;
                }
                let mut room = dist_poly(&poly, c);
                for (hc, hr) in &holes {
                    room = room.min(((hc[0] - c[0]).powi(2) + (hc[1] - c[1]).powi(2)).sqrt() - hr);
                }
                let kr = ((room * self.u(0.25, 0.75)) / g * 4.0).floor() / 4.0;
                if kr < 0.5 {
                    continue;
                }
                let r = kr * g;
                holes.push((c, r));
                if self.p(cfg.circle_hole_prob) {
                    loops.push(Loop::Circle { c, r });
                } else {
                    let sides = if self.p(0.6) { 4 } else { 6 };
                    let off = if sides == 4 { std::f64::consts::FRAC_PI_4 } else { 0.0 };
                    let pts: Vec<P2> = (0..sides)
                        .map(|i| {
                            let a = off + i as f64 * std::f64::consts::TAU / sides as f64;
                            p2(c[0] + r * 0.95 * a.cos(), c[1] + r * 0.95 * a.sin())
                        })
                        .collect();
                    loops.push(Loop::Closed {
                        start: pts[0],
                        segs: pts[1..].iter().map(|p| Seg::Line(*p)).collect(),
                    });
                }
            }
        }
        Sketch { loops, min, max }
    }

    /// A straight-edged outer loop on the grid, starting DeepCAD-style at (w, 0) and
    /// running counter-clockwise back to (0, 0).
    pub(super) fn polygon(&mut self, kw: i64, kh: i64, g: f64) -> Loop {
        let gx = |k: i64| k as f64 * g;
        let [lo, hi] = self.cfg.segments;
        let segs = self.i(lo.max(3), hi.max(lo.max(3)));
        let r: f64 = self.rng.random();
        if segs <= 4 || r < 0.55 {
            if segs == 3 || r < 0.06 {
                // Right triangle or trapezoid.
                let t = self.rng.random_range(0..kw / 2 + 1);
                if t == 0 || segs == 3 {
                    return Loop::Closed {
                        start: p2(gx(kw), 0.0),
                        segs: vec![Seg::Line(p2(0.0, gx(kh))), Seg::Line(p2(0.0, 0.0))],
                    };
                }
                return Loop::Closed {
                    start: p2(gx(kw), 0.0),
                    segs: vec![
                        Seg::Line(p2(gx(t), gx(kh))),
                        Seg::Line(p2(0.0, gx(kh))),
                        Seg::Line(p2(0.0, 0.0)),
                    ],
                };
            }
            return Loop::Closed {
                start: p2(gx(kw), 0.0),
                segs: vec![
                    Seg::Line(p2(gx(kw), gx(kh))),
                    Seg::Line(p2(0.0, gx(kh))),
                    Seg::Line(p2(0.0, 0.0)),
                ],
            };
        }
        if r < 0.68 {
            // Regular or irregular convex polygon around the centre.
            let n = segs.min(8);
            let (cx, cy) = (gx(kw / 2), gx(kh / 2));
            let (rx, ry) = (gx(kw / 2), gx(kh / 2));
            let regular = self.p(0.6);
            let pts: Vec<P2> = (0..n)
                .map(|i| {
                    let mut a = i as f64 * std::f64::consts::TAU / n as f64;
                    if !regular {
                        a += self.u(-0.25, 0.25) * std::f64::consts::TAU / n as f64;
                    }
                    p2(cx + rx * a.cos(), cy + ry * a.sin())
                })
                .collect();
            return Loop::Closed { start: pts[0], segs: pts[1..].iter().map(|p| Seg::Line(*p)).collect() };
        }
        // Step (histogram) profile: flat bottom, stepped top (L, U, T, stairs, combs):
        // 2 * steps + 2 segments, steps of roughly even width.
        let steps = ((segs.saturating_sub(2)) / 2).clamp(2, ((kw / 2) as usize).max(2));
        let mut bounds = vec![0i64];
        for i in 1..steps {
            let x = (kw as f64 * (i as f64 + self.u(-0.25, 0.25)) / steps as f64).round() as i64;
            bounds.push(x.clamp(bounds[i - 1] + 1, kw - (steps - i) as i64));
        }
        bounds.push(kw);
        let nst = bounds.len() - 1;
        let low = ((kh as f64 * self.u(0.2, 0.7)).round() as i64).clamp(1, (kh - 1).max(1));
        let first_high = self.p(0.5);
        let mut hs: Vec<i64> = (0..nst).map(|i| if (i % 2 == 0) == first_high { kh } else { low }).collect();
        if nst > 2 && self.p(0.3) {
            // Stairs: monotone heights.
            hs = (0..nst).map(|i| (kh * (i as i64 + 1) / nst as i64).max(1)).collect();
            if self.p(0.5) {
                hs.reverse();
            }
        }
        let mut pts: Vec<P2> = vec![p2(gx(kw), gx(hs[nst - 1]))];
        for i in (0..nst).rev() {
            pts.push(p2(gx(bounds[i]), gx(hs[i])));
            if i > 0 {
                pts.push(p2(gx(bounds[i]), gx(hs[i - 1])));
            }
        }
        pts.push(p2(0.0, 0.0));
        Loop::Closed { start: p2(gx(kw), 0.0), segs: pts.into_iter().map(Seg::Line).collect() }
    }

    /// An outer loop with arcs.
    pub(super) fn arc_shape(&mut self, w: f64, h: f64, g: f64, kw: i64, kh: i64) -> Loop {
        let r: f64 = self.rng.random();
        let s2 = std::f64::consts::FRAC_1_SQRT_2;
        if r < 0.3 {
            // Slot: straight sides, semicircular ends (00152464's style).
            let rad = h / 2.0;
            let len = (w - h).max(g * 2.0);
            return Loop::Closed {
                start: p2(len, 0.0),
                segs: vec![
                    Seg::Arc(p2(len + rad, rad), p2(len, h)),
                    Seg::Line(p2(0.0, h)),
                    Seg::Arc(p2(-rad, rad), p2(0.0, 0.0)),
                ],
            };
        }
        if r < 0.6 {
            // Rounded rectangle.
            let kr = (kw.min(kh) as f64 * self.u(0.08, 0.3)).floor().max(1.0);
            let f = kr * g;
            let arc = |cx: f64, cy: f64, a0: f64, e: P2| {
                let am = a0 + std::f64::consts::FRAC_PI_4;
                let _ = s2;
                Seg::Arc(p2(cx + f * am.cos(), cy + f * am.sin()), e)
            };
            let pi = std::f64::consts::PI;
            return Loop::Closed {
                start: p2(w - f, 0.0),
                segs: vec![
                    arc(w - f, f, -pi / 2.0, p2(w, f)),
                    Seg::Line(p2(w, h - f)),
                    arc(w - f, h - f, 0.0, p2(w - f, h)),
                    Seg::Line(p2(f, h)),
                    arc(f, h - f, pi / 2.0, p2(0.0, h - f)),
                    Seg::Line(p2(0.0, f)),
                    arc(f, f, pi, p2(f, 0.0)),
                ],
            };
        }
        // Rectangle with the top edge an outward arc (a tab / door shape), sometimes
        // with rounded bottom corners too; or a rectangle with an inward bite.
        let sag = h.min(w) * self.u(0.1, 0.5);
        if r < 0.85 {
            return Loop::Closed {
                start: p2(w, 0.0),
                segs: vec![
                    Seg::Line(p2(w, h)),
                    Seg::Arc(p2(w / 2.0, h + sag.min(w / 2.0)), p2(0.0, h)),
                    Seg::Line(p2(0.0, 0.0)),
                ],
            };
        }
        let bite = (h * self.u(0.1, 0.45)).min(w / 2.0);
        Loop::Closed {
            start: p2(w, 0.0),
            segs: vec![
                Seg::Line(p2(w, h)),
                Seg::Arc(p2(w / 2.0, h - bite), p2(0.0, h)),
                Seg::Line(p2(0.0, 0.0)),
            ],
        }
    }
}
