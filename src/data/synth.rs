//! Seeded generator of GenCAD-Code-style programs.
//!
//! Programs are written exactly in the data set's style (comments, `wp_sketchN`,
//! `loopK=`, `solidN=`, `solid=solid.union(...)`, Python `repr` floats, DeepCAD's
//! sketch-plane vectors with their `6.123233995736766e-17` terms) inside DeepCAD's
//! normalised frame: plane origins and extrude depths are multiples of 1/128 and the
//! part lies roughly in [-0.75, 0.75]^3; sketch coordinates sit on a per-sketch grid
//! of `size / d` (d in 19, 38, 57, 76, 95), which gives DeepCAD's long decimals.
//!
//! The first sketch makes the base body; each further sketch is drawn on a face of
//! the part's bounding box and unioned (a boss, extruded outward), cut (a pocket or
//! hole, extruded inward) or intersected. Every program is executed natively and kept
//! only if it is `Valid`, has volume above [`SynthConfig::min_volume`] and every
//! bounding-box side above [`SynthConfig::min_extent`]; it is then rendered.
//!
//! Generation is deterministic: sample `i` of seed `s` uses ChaCha8 seeded with `s`
//! on stream `i`, retrying (on the same stream) until a program passes.
//!
//! Geometry is the rewards crate's (`V3`, `P2`, `Aabb`); what is defined here is what
//! the program text needs: a `SketchPlane` (clean axes plus the literal vector texts
//! DeepCAD writes) and loops as the calls that draw them (`moveTo`, `lineTo`,
//! `threePointArc`, `circle`), sampled to polylines only to place holes and features.

use std::fmt::Write as _;
use std::sync::Arc;

use cadrl_rewards::exec::{Outcome, execute_native};
use cadrl_rewards::geom::{Aabb, MassProps, P2, Solid, V3, mass_props, p2, v3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Probabilities of the boolean that joins a further sketch to the part: relative
/// weights (finite, >= 0, not all 0), normalised by their sum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpMix {
    /// A boss extruded outward from a face of the part (default 0.68).
    pub union: f64,
    /// A pocket or hole extruded inward (default 0.3).
    pub cut: f64,
    /// An intersection with the part (default 0.02).
    pub intersect: f64,
}

impl Default for OpMix {
    fn default() -> Self {
        OpMix { union: 0.68, cut: 0.3, intersect: 0.02 }
    }
}

/// Difficulty knobs. The defaults are tuned so that sketches per program and the
/// API-call histogram per program match the 17 GenCAD-Code fixtures (see the report
/// in `cadrl data stats`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    /// Sketches (extruded bodies) per program, inclusive range.
    pub sketches: [usize; 2],
    /// Probability of one more sketch after each (geometric, capped by `sketches`).
    pub more_sketch_prob: f64,
    /// Segments per closed polygonal loop (closing segment included), inclusive range.
    pub segments: [usize; 2],
    /// Probability that a closed outer loop has arcs (slot, rounded rectangle,
    /// arc-ended or arc-sided shape).
    pub arc_prob: f64,
    /// Probability that an outer loop is a circle.
    pub circle_prob: f64,
    /// Probability that an outer loop gets holes (inner loops).
    pub hole_prob: f64,
    /// Probability of each further hole after the first (geometric).
    pub more_hole_prob: f64,
    /// Most holes in one sketch.
    pub max_holes: usize,
    /// Probability that a hole is a circle (else a square or hexagon).
    pub circle_hole_prob: f64,
    /// How each further sketch joins the part.
    pub ops: OpMix,
    /// Probability that the base sketch is on a vertical plane (DeepCAD's XZ/YZ
    /// frames); further sketches follow the face they sit on.
    pub rotated_plane_prob: f64,
    /// Probability that a further sketch plane is tilted off the axes by k*pi/128.
    pub tilted_plane_prob: f64,
    /// Probability of a two-sided extrude (half `extrude(d, both=True)`, half
    /// GenCAD's rebuilt workplane with `extrude(-d2)` and a union).
    pub two_sided_prob: f64,
    /// Smallest accepted volume.
    pub min_volume: f64,
    /// Smallest accepted bounding-box side.
    pub min_extent: f64,
    /// Tries per sample before giving up.
    pub max_attempts: u32,
    /// Round every float literal of the program to this many decimals before it is
    /// validated and rendered (0 = Python's shortest repr, as GenCAD-Code writes them,
    /// e.g. `0.6186266447368421`). Fewer digits make programs shorter and leave fewer
    /// tokens that no picture can predict: a small model trained from scratch spends its
    /// loss on the shape instead of on noise digits.
    pub decimals: u32,
    /// Scale every part so that the longest side of its bounding box is `fit`, centred on
    /// the origin (0 = off: parts keep the generator's sizes and positions). A render is
    /// framed to the part's bounding box, so without this neither size nor position is in
    /// the picture; with it, nearly every number of the program is (up to `decimals`).
    pub fit: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            sketches: [1, 5],
            more_sketch_prob: 0.42,
            segments: [4, 12],
            arc_prob: 0.4,
            circle_prob: 0.14,
            hole_prob: 0.22,
            more_hole_prob: 0.4,
            max_holes: 4,
            circle_hole_prob: 0.85,
            ops: OpMix::default(),
            rotated_plane_prob: 0.45,
            tilted_plane_prob: 0.04,
            two_sided_prob: 0.12,
            min_volume: 1e-4,
            min_extent: 2e-3,
            max_attempts: 200,
            decimals: 0,
            fit: 0.0,
        }
    }
}

/// One accepted synthetic sample.
#[derive(Clone, Debug)]
pub struct SynthSample {
    /// Its index within the seed (the ChaCha8 stream it was drawn from).
    pub index: u64,
    /// The program (binds the result to `solid`).
    pub code: String,
    /// The program's solid, executed natively.
    pub solid: Arc<Solid>,
    /// The solid's volume (DeepCAD's normalised units, cubed; scaled by `fit` when set).
    pub volume: f64,
    /// The GenCAD-Code-style render of the solid.
    pub image: image::RgbImage,
    /// Programs generated and rejected before this one.
    pub rejected: u32,
}

/// Python's `repr` of a float (shortest round-trip digits, scientific below 1e-4
/// and from 1e16).
pub(crate) fn py_repr(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{x:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            if n <= exp + 1 {
                out.push_str(&digits);
                out.push_str(&"0".repeat((exp + 1 - n) as usize));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..(exp + 1) as usize]);
                out.push('.');
                out.push_str(&digits[(exp + 1) as usize..]);
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

fn q128(x: f64) -> f64 {
    (x * 128.0).round() / 128.0
}

/// A DeepCAD sketch frame: clean axes for placement, literal text as the data set
/// writes them.
#[derive(Clone, Debug)]
struct SketchPlane {
    x: V3,
    n: V3,
    x_txt: String,
    n_txt: String,
}

impl SketchPlane {
    fn y(&self) -> V3 {
        self.n.cross(self.x)
    }
    fn literal(x: [f64; 3], n: [f64; 3], x_txt: &str, n_txt: &str) -> SketchPlane {
        SketchPlane {
            x: v3(x[0], x[1], x[2]),
            n: v3(n[0], n[1], n[2]),
            x_txt: x_txt.into(),
            n_txt: n_txt.into(),
        }
    }
    fn vec_txt(v: V3) -> String {
        format!("{}, {}, {}", py_repr(v[0]), py_repr(v[1]), py_repr(v[2]))
    }
}

const E: &str = "6.123233995736766e-17";

/// The axis frames of DeepCAD sketches whose normal is `±axis` (`sign`).
fn frames_for(axis: usize, sign: f64) -> SketchPlane {
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
fn tilt(f: &SketchPlane, k: i32) -> SketchPlane {
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
enum Seg {
    Line(P2),
    Arc(P2, P2),
}

#[derive(Clone, Debug)]
enum Loop {
    Closed { start: P2, segs: Vec<Seg> },
    Circle { c: P2, r: f64 },
}

impl Loop {
    /// A polyline through the loop (arcs sampled), closed implicitly.
    fn polyline(&self) -> Vec<P2> {
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
fn arc_points(a: P2, m: P2, e: P2, n: usize) -> Vec<P2> {
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

fn inside(poly: &[P2], q: P2) -> bool {
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

fn dist_poly(poly: &[P2], q: P2) -> f64 {
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
struct Sketch {
    loops: Vec<Loop>,
    min: P2,
    max: P2,
}

struct Gen<'a> {
    cfg: &'a SynthConfig,
    rng: ChaCha8Rng,
}

impl Gen<'_> {
    fn p(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }
    fn u(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.rng.random::<f64>()
    }
    fn i(&mut self, a: usize, b: usize) -> usize {
        self.rng.random_range(a..=b.max(a))
    }

    /// Outer loop + holes, fitting about `w x h` (local units), on a grid of `size / d`.
    fn sketch(&mut self, w: f64, h: f64) -> Sketch {
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
    fn polygon(&mut self, kw: i64, kh: i64, g: f64) -> Loop {
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
    fn arc_shape(&mut self, w: f64, h: f64, g: f64, kw: i64, kh: i64) -> Loop {
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

impl SynthConfig {
    /// Every knob out of its range, as `knob: problem` (empty when the knobs are usable).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = vec![];
        let probs = [
            ("more_sketch_prob", self.more_sketch_prob),
            ("arc_prob", self.arc_prob),
            ("circle_prob", self.circle_prob),
            ("hole_prob", self.hole_prob),
            ("more_hole_prob", self.more_hole_prob),
            ("circle_hole_prob", self.circle_hole_prob),
            ("rotated_plane_prob", self.rotated_plane_prob),
            ("tilted_plane_prob", self.tilted_plane_prob),
            ("two_sided_prob", self.two_sided_prob),
        ];
        for (k, p) in probs {
            if !(0.0..=1.0).contains(&p) {
                out.push(format!("{k}: {p} is not a probability (0..=1)"));
            }
        }
        let o = &self.ops;
        if [o.union, o.cut, o.intersect].iter().any(|w| !(w.is_finite() && *w >= 0.0))
            || o.union + o.cut + o.intersect <= 0.0
        {
            out.push("ops: weights must be finite, >= 0 and not all 0".into());
        }
        for (k, [lo, hi], min) in [("sketches", self.sketches, 1), ("segments", self.segments, 3)] {
            if lo < min || lo > hi {
                out.push(format!("{k}: [{lo}, {hi}] must be a range [min, max] with min >= {min}"));
            }
        }
        if self.decimals > 15 {
            out.push(format!("decimals: {} is more than a float holds (0..=15)", self.decimals));
        }
        if !(self.fit.is_finite() && self.fit >= 0.0) {
            out.push(format!("fit: {} must be >= 0 (0 = off)", self.fit));
        }
        for (k, v) in [("min_volume", self.min_volume), ("min_extent", self.min_extent)] {
            if !(v.is_finite() && v >= 0.0) {
                out.push(format!("{k}: {v} must be >= 0"));
            }
        }
        out
    }
}

/// Where the emitted program puts the part: world points `p` are written as
/// `(p - centre) * scale`, lengths (sketch coordinates, radii, depths) times `scale`.
/// The generator's own state never changes, so a program can be emitted again, placed.
#[derive(Clone, Copy, Debug)]
struct Placement {
    /// Factor on every length.
    scale: f64,
    /// The world point written as the origin.
    centre: V3,
}

impl Placement {
    /// The generator's own frame (no move, no scale).
    const IDENTITY: Placement = Placement { scale: 1.0, centre: v3(0.0, 0.0, 0.0) };

    fn len(&self, x: f64) -> String {
        py_repr(x * self.scale)
    }

    fn point(&self, p: V3, i: usize) -> String {
        py_repr((p[i] - self.centre[i]) * self.scale)
    }

    fn p2(&self, p: P2) -> String {
        format!("{}, {}", self.len(p[0]), self.len(p[1]))
    }
}

fn write_loop(out: &mut String, k: usize, wp: &str, l: &Loop, at: &Placement) {
    let _ = write!(out, "loop{k}={wp}");
    match l {
        Loop::Circle { c, r } => {
            let _ = write!(out, ".moveTo({}).circle({})", at.p2(*c), at.len(*r));
        }
        Loop::Closed { start, segs } => {
            let _ = write!(out, ".moveTo({})", at.p2(*start));
            for s in segs {
                match s {
                    Seg::Line(p) => {
                        let _ = write!(out, ".lineTo({})", at.p2(*p));
                    }
                    Seg::Arc(m, e) => {
                        let _ = write!(out, ".threePointArc(({}), ({}))", at.p2(*m), at.p2(*e));
                    }
                }
            }
            out.push_str(".close()");
        }
    }
    out.push('\n');
}

/// The world bounding box of a prism (clean frames), tracked while building the part
/// (approximate for cuts).
fn prism_box(o: V3, f: &SketchPlane, u: [f64; 2], v: [f64; 2], w: [f64; 2]) -> Aabb {
    let y = f.y();
    let mut b = Aabb::EMPTY;
    for uu in u {
        for vv in v {
            for ww in w {
                b.add_point(o + (f.x * uu + (y * vv + f.n * ww)));
            }
        }
    }
    b
}

/// The base sketch: frame, origin, outer polyline, hole polylines.
type BaseSketch = (SketchPlane, V3, Vec<P2>, Vec<Vec<P2>>);

/// Generate one program text (not validated).
pub fn generate_program(cfg: &SynthConfig, rng: &mut ChaCha8Rng) -> String {
    generate_placed(cfg, rng, &Placement::IDENTITY)
}

/// [`generate_program`] with the part moved and scaled as `at` says (the same random
/// draws, so the same part).
fn generate_placed(cfg: &SynthConfig, rng: &mut ChaCha8Rng, at: &Placement) -> String {
    let mut g = Gen { cfg, rng: ChaCha8Rng::from_rng(rng) };
    let [smin, smax] = cfg.sketches;
    let mut n_sk = smin.max(1);
    while n_sk < smax.max(1) && g.p(cfg.more_sketch_prob) {
        n_sk += 1;
    }
    let mut out = String::from("import cadquery as cq\n");
    let mut part = Aabb::EMPTY;
    let mut loop_id = 0usize;
    let mut base_axis = 2usize;
    // The base sketch: frame, origin, outer polyline, hole polylines.
    let mut base: Option<BaseSketch> = None;
    for si in 0..n_sk {
        let wp = format!("wp_sketch{si}");
        let (frame, origin, sk, depth, both, op);
        if si == 0 {
            // Base body.
            let (axis, sign) = if g.p(cfg.rotated_plane_prob) {
                if g.p(0.8) { (1, if g.p(0.85) { -1.0 } else { 1.0 }) } else { (0, 1.0) }
            } else {
                (2, 1.0)
            };
            base_axis = axis;
            frame = frames_for(axis, sign);
            // DeepCAD normalises the part to [-0.75, 0.75]^3: the largest side is
            // often the full 1.5.
            let big = if g.p(0.45) { 1.5 } else { q128(g.u(0.6, 1.5)) };
            let small = if g.p(0.25) { big } else { q128(g.u(0.08, 1.0) * big).max(0.05) };
            let (w, h) = if g.p(0.5) { (big, small) } else { (small, big) };
            sk = g.sketch(w, h);
            let d = q128(if g.p(0.5) { g.u(0.015, 0.25) } else { g.u(0.1, 0.75) }).max(1.0 / 128.0);
            both = g.p(cfg.two_sided_prob);
            depth = d;
            // Centre the part near the origin.
            let w_range = if both { [-d, d] } else { [0.0, d] };
            let b0 =
                prism_box(V3::default(), &frame, [sk.min[0], sk.max[0]], [sk.min[1], sk.max[1]], w_range);
            let mut o = V3::default();
            for k in 0..3 {
                let c = 0.5 * (b0.min[k] + b0.max[k]);
                let half = 0.5 * (b0.max[k] - b0.min[k]);
                let slack = (0.75 - half).max(0.0);
                o[k] = q128(-c + g.u(-slack, slack) * 0.5);
            }
            origin = o;
            op = "";
            part = prism_box(origin, &frame, [sk.min[0], sk.max[0]], [sk.min[1], sk.max[1]], w_range);
            base = Some((
                frame.clone(),
                origin,
                sk.loops[0].polyline(),
                sk.loops[1..].iter().map(Loop::polyline).collect(),
            ));
        } else {
            let r: f64 = g.rng.random();
            let o = &cfg.ops;
            let tot = (o.union + o.cut + o.intersect).max(1e-9);
            op = if r < o.union / tot {
                "union"
            } else if r < (o.union + o.cut) / tot {
                "cut"
            } else {
                "intersect"
            };
            // A face of the part's box: mostly across the base's extrude axis.
            let axis = if g.p(0.7) { base_axis } else { [0usize, 1, 2][g.i(0, 2)] };
            let hi = g.p(0.5);
            let face = if hi { part.max[axis] } else { part.min[axis] };
            let out_sign = if hi { 1.0 } else { -1.0 };
            // SketchPlane normal either way along the axis.
            let nsign = if g.p(0.5) { 1.0 } else { -1.0 };
            let mut fr = frames_for(axis, nsign);
            let (b, c) = ((axis + 1) % 3, (axis + 2) % 3);
            let ext = [part.max[b] - part.min[b], part.max[c] - part.min[c]];
            // Local in-plane axes along world b / c (up to sign).
            let y = fr.y();
            let xb = if fr.x[b].abs() > 0.5 { b } else { c };
            let yb = if xb == b { c } else { b };
            let (fw, fh) = (ext[if xb == b { 0 } else { 1 }], ext[if xb == b { 1 } else { 0 }]);
            let frac = if op == "cut" { g.u(0.15, 0.7) } else { g.u(0.2, 0.8) };
            let w = (fw * frac).max(0.02);
            let h = (fh * if g.p(0.5) { frac } else { g.u(0.15, 0.8) }).max(0.02);
            sk = g.sketch(w, h);
            let (sw, sh) = (sk.max[0] - sk.min[0], sk.max[1] - sk.min[1]);
            // World position of the profile's box on the face; on the base's own
            // faces, retry until the profile's centre lies over the base's material
            // (not in a notch or a hole) so that bosses sit on it and cuts bite.
            let mut o = V3::default();
            for _ in 0..8 {
                let lo_b = part.min[xb] + g.u(0.0, 1.0) * (fw - sw).max(0.0);
                let lo_c = part.min[yb] + g.u(0.0, 1.0) * (fh - sh).max(0.0);
                // Local min corner maps to world min if the local axis points +, else max.
                o[xb] = if fr.x[xb] > 0.0 { lo_b - sk.min[0] } else { lo_b + sw + sk.min[0] };
                o[yb] = if y[yb] > 0.0 { lo_c - sk.min[1] } else { lo_c + sh + sk.min[1] };
                let Some((bf, bo, outer, holes)) = &base else { break };
                if axis != base_axis {
                    break;
                }
                let mid = [0.5 * (sk.min[0] + sk.max[0]), 0.5 * (sk.min[1] + sk.max[1])];
                let c = o + (fr.x * mid[0] + y * mid[1]);
                let rel = [c[0] - bo[0], c[1] - bo[1], c[2] - bo[2]];
                let by = bf.y();
                let q = p2(
                    rel[0] * bf.x[0] + rel[1] * bf.x[1] + rel[2] * bf.x[2],
                    rel[0] * by[0] + rel[1] * by[1] + rel[2] * by[2],
                );
                if inside(outer, q) && !holes.iter().any(|h| inside(h, q)) {
                    break;
                }
            }
            o[xb] = q128(o[xb]);
            o[yb] = q128(o[yb]);
            let thick = part.max[axis] - part.min[axis];
            let inward = -out_sign;
            let (dir, d) = match op {
                "union" => (out_sign, q128(g.u(0.05, 0.5) * thick.max(0.2)).max(1.0 / 128.0)),
                "cut" => (
                    inward,
                    q128(if g.p(0.5) { thick + 1.0 / 64.0 } else { g.u(0.2, 0.9) * thick }).max(1.0 / 128.0),
                ),
                _ => (inward, q128(g.u(0.5, 1.0) * thick).max(1.0 / 128.0)),
            };
            // Start on the face: round outward for cuts, inward for bosses.
            o[axis] = match op {
                "union" => (face * 128.0 - out_sign * 0.49).round() / 128.0,
                _ => (face * 128.0 + out_sign * 0.49).round() / 128.0,
            };
            origin = o;
            // Depth sign along the frame normal.
            depth = d * dir * nsign;
            both = g.p(cfg.two_sided_prob * 0.5);
            if g.p(cfg.tilted_plane_prob) {
                fr = tilt(&fr, if g.p(0.5) { 1 } else { -1 });
            }
            frame = fr;
            let w_range = if both {
                [-depth.abs(), depth.abs()]
            } else if depth > 0.0 {
                [0.0, depth]
            } else {
                [depth, 0.0]
            };
            if op == "union" {
                let pb = prism_box(origin, &frame, [sk.min[0], sk.max[0]], [sk.min[1], sk.max[1]], w_range);
                part = part.union(pb);
            }
        }
        // Emit.
        let plane = format!(
            "{wp} = cq.Workplane(cq.Plane(cq.Vector({}, {}, {}), cq.Vector({}), cq.Vector({})))\n",
            at.point(origin, 0),
            at.point(origin, 1),
            at.point(origin, 2),
            frame.x_txt,
            frame.n_txt
        );
        let first_loop = loop_id;
        let mut loops_txt = String::new();
        for l in &sk.loops {
            write_loop(&mut loops_txt, loop_id, &wp, l, at);
            loop_id += 1;
        }
        let adds: String = (first_loop..loop_id).map(|k| format!(".add(loop{k})")).collect();
        let _ = writeln!(out, "# Generating a workplane for sketch {si}");
        out.push_str(&plane);
        out.push_str(&loops_txt);
        // Two-sided: half symmetric (`both=True`), half GenCAD's rebuilt workplane.
        let asym = both && g.p(0.5);
        if both && !asym {
            let _ = writeln!(out, "solid{si}={wp}{adds}.extrude({}, both=True)", at.len(depth.abs()));
        } else {
            let _ = writeln!(out, "solid{si}={wp}{adds}.extrude({})", at.len(depth));
        }
        let target = if asym && si > 0 { "solid_temp" } else { "solid" };
        if si == 0 || asym {
            let _ = writeln!(out, "{target}=solid{si}");
        } else {
            let _ = writeln!(out, "solid=solid.{op}(solid{si})");
        }
        if asym {
            let d2 = -q128(depth.abs() * g.u(0.3, 1.0)).max(1.0 / 128.0) * depth.signum();
            out.push_str(&plane);
            for (k, l) in (first_loop..).zip(&sk.loops) {
                write_loop(&mut out, k, &wp, l, at);
            }
            let _ = writeln!(out, "solid{si}={wp}{adds}.extrude({})", at.len(d2));
            let _ = writeln!(out, "{target}={target}.union(solid{si})");
            if si > 0 {
                let _ = writeln!(out, "solid=solid.{op}(solid_temp)");
            }
            if si == 0 {
                // The base grows the other way too.
                let pb = prism_box(
                    origin,
                    &frame,
                    [sk.min[0], sk.max[0]],
                    [sk.min[1], sk.max[1]],
                    [d2.min(0.0), d2.max(0.0)],
                );
                part = part.union(pb);
            }
        }
    }
    out
}

/// Why a generated program was rejected (for tuning), or the accepted solid with its
/// mass properties (volume, exact bounding box).
pub fn check(cfg: &SynthConfig, code: &str) -> Result<(Arc<Solid>, MassProps), String> {
    match execute_native(code, "solid") {
        Outcome::Valid(s) => {
            let m = mass_props(&s);
            let b = m.bbox;
            let ext = [b.max.x - b.min.x, b.max.y - b.min.y, b.max.z - b.min.z];
            if m.volume.is_nan() || m.volume <= cfg.min_volume {
                return Err(format!("volume {}", m.volume));
            }
            if ext.iter().any(|e| e.is_nan() || *e <= cfg.min_extent) {
                return Err(format!("degenerate bbox {ext:?}"));
            }
            if [b.min.x, b.min.y, b.min.z, b.max.x, b.max.y, b.max.z].iter().any(|v| v.abs() > 1.5) {
                return Err("outside [-1.5, 1.5]^3".into());
            }
            Ok((s, m))
        }
        o => Err(o.reason().unwrap_or_default()),
    }
}

/// `code` with every float literal (digits with a `.` or an exponent, not part of a
/// name) rounded to `decimals` places and written back as Python's repr (`0.619`,
/// `1.0`; a value that rounds to zero is `0.0`, keeping any sign outside it).
fn round_literals(code: &str, decimals: u32) -> String {
    let b = code.as_bytes();
    let scale = 10f64.powi(decimals.min(15) as i32);
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < b.len() {
        let in_name = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if !b[i].is_ascii_digit() || in_name {
            let ch = code[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8().max(1);
            continue;
        }
        let start = i;
        let mut float = false;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            float = true;
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                float = true;
                i = j;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        let lit = &code[start..i];
        match lit.parse::<f64>() {
            Ok(x) if float && x.is_finite() => out.push_str(&py_repr((x * scale).round() / scale + 0.0)),
            _ => out.push_str(lit),
        }
    }
    out
}

/// Generate, validate and render sample `index` of `seed` (deterministic).
pub fn sample(cfg: &SynthConfig, seed: u64, index: u64) -> Option<SynthSample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    for attempt in 0..cfg.max_attempts.max(1) {
        let replay = rng.clone();
        let mut code = generate_program(cfg, &mut rng);
        if cfg.fit > 0.0 {
            // Emit the same part again, centred and scaled by its exact bounding box.
            let Ok((_, m)) = check(cfg, &code) else { continue };
            let b = m.bbox;
            let side = (b.max.x - b.min.x).max(b.max.y - b.min.y).max(b.max.z - b.min.z);
            let centre = v3((b.min.x + b.max.x) / 2.0, (b.min.y + b.max.y) / 2.0, (b.min.z + b.max.z) / 2.0);
            code = generate_placed(cfg, &mut replay.clone(), &Placement { scale: cfg.fit / side, centre });
        }
        if cfg.decimals > 0 {
            code = round_literals(&code, cfg.decimals);
        }
        if let Ok((solid, MassProps { volume, .. })) = check(cfg, &code) {
            let image = cadrl_rewards::render::render(&solid);
            // A blank or nearly blank render teaches nothing.
            let ink = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
            if ink < 400 {
                continue;
            }
            return Some(SynthSample { index, code, solid, volume, image, rejected: attempt });
        }
    }
    None
}

/// Samples `start..start + n` of `seed`, in parallel (rayon), in index order.
pub fn generate(cfg: &SynthConfig, seed: u64, start: u64, n: u64) -> Vec<SynthSample> {
    (start..start + n).into_par_iter().filter_map(|i| sample(cfg, seed, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cadrl_rewards::geom::exact_bbox;

    #[test]
    fn literals_round_to_decimals() {
        let code = "wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.6796875, 3.749399456654644e-33, 1.0), x))\n\
                    loop0=wp_sketch0.moveTo(0.6186266447368421, 0.0).circle(0.6186266447368421)\n\
                    solid0=wp_sketch0.add(loop0).extrude(-1.5e-5, both=True)\n";
        let want = "wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.68, 0.0, 1.0), x))\n\
                    loop0=wp_sketch0.moveTo(0.619, 0.0).circle(0.619)\n\
                    solid0=wp_sketch0.add(loop0).extrude(-0.0, both=True)\n";
        let got = round_literals(code, 3);
        assert_eq!(got, want);
        // names keep their digits; integers are left alone
        assert_eq!(round_literals("solid12=f(3, 2.26)", 1), "solid12=f(3, 2.3)");
    }

    #[test]
    fn rounded_synthetic_programs_stay_valid_and_short() {
        let cfg = SynthConfig { decimals: 3, ..SynthConfig::default() };
        let full = SynthConfig::default();
        let (mut short, mut long) = (0, 0);
        for i in 0..12 {
            let s = sample(&cfg, 7, i).expect("a valid rounded sample");
            assert!(check(&cfg, &s.code).is_ok());
            for lit in s.code.split(|c: char| !(c.is_ascii_digit() || c == '.')).filter(|t| t.contains('.')) {
                let frac = lit.split('.').nth(1).unwrap_or("");
                assert!(frac.len() <= 3, "{lit} in\n{}", s.code);
            }
            short += s.code.len();
            long += sample(&full, 7, i).expect("a valid sample").code.len();
        }
        assert!(short * 10 < long * 8, "rounded programs are shorter: {short} vs {long} bytes");
    }

    #[test]
    fn fitted_parts_are_the_same_parts_centred_and_scaled() {
        let free = SynthConfig::default();
        let fit = SynthConfig { fit: 1.5, ..SynthConfig::default() };
        for i in 0..10 {
            let (a, b) =
                (sample(&free, 3, i).expect("a sample"), sample(&fit, 3, i).expect("a fitted sample"));
            let (ba, bb) = (exact_bbox(&a.solid), exact_bbox(&b.solid));
            let side = |x: &cadrl_rewards::geom::vec::Aabb| {
                [x.max.x - x.min.x, x.max.y - x.min.y, x.max.z - x.min.z]
            };
            let (sa, sb) = (side(&ba), side(&bb));
            let longest = sb.iter().cloned().fold(0.0, f64::max);
            assert!((longest - 1.5).abs() < 1e-9, "sample {i}: longest side {longest}\n{}", b.code);
            for c in [bb.min.x + bb.max.x, bb.min.y + bb.max.y, bb.min.z + bb.max.z] {
                assert!(c.abs() < 1e-9, "sample {i}: not centred\n{}", b.code);
            }
            let k = 1.5 / sa.iter().cloned().fold(0.0, f64::max);
            for (x, y) in sa.iter().zip(&sb) {
                assert!((x * k - y).abs() < 1e-9, "sample {i}: proportions {sa:?} vs {sb:?}");
            }
            assert!((a.volume * k.powi(3) - b.volume).abs() < 1e-6 * b.volume, "sample {i}: volume");
        }
    }

    #[test]
    fn knobs_out_of_range_are_named() {
        assert!(SynthConfig::default().problems().is_empty());
        let bad = SynthConfig {
            arc_prob: 1.5,
            segments: [5, 4],
            fit: -1.0,
            decimals: 20,
            ..SynthConfig::default()
        };
        let p = bad.problems().join("\n");
        for k in ["arc_prob", "segments", "fit", "decimals"] {
            assert!(p.contains(k), "{k} not named in\n{p}");
        }
    }

    #[test]
    fn unknown_knobs_are_rejected() {
        let e = serde_json::from_value::<SynthConfig>(serde_json::json!({"arc_prob": 0.1, "arcs_prob": 0.2}))
            .expect_err("a misspelt knob");
        assert!(e.to_string().contains("arcs_prob"), "{e}");
        assert!(serde_json::from_value::<SynthConfig>(serde_json::json!({"ops": {"unoin": 1.0}})).is_err());
    }

    #[test]
    fn repr_matches_python() {
        for (x, s) in [
            (0.546875, "0.546875"),
            (1.0421052631578949, "1.0421052631578949"),
            (6.123233995736766e-17, "6.123233995736766e-17"),
            (1.0, "1.0"),
            (-0.75, "-0.75"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (123456789012345.0, "123456789012345.0"),
            (0.7312500000000001, "0.7312500000000001"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(py_repr(x), s);
        }
    }

    #[test]
    fn generated_programs_are_mostly_valid() {
        let cfg = SynthConfig::default();
        let mut ok = 0;
        let mut why = std::collections::BTreeMap::<String, usize>::new();
        for i in 0..200u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            rng.set_stream(i);
            let code = generate_program(&cfg, &mut rng);
            match check(&cfg, &code) {
                Ok(_) => ok += 1,
                Err(e) => *why.entry(e.chars().take(60).collect()).or_default() += 1,
            }
        }
        assert!(ok >= 180, "{ok}/200 valid; {why:#?}");
    }
}
