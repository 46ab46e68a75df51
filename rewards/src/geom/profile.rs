//! Planar profiles: closed loops of lines, circular arcs and full circles, in the
//! 2D coordinates of a sketch plane. A profile is the region enclosed by its loops
//! under the even-odd rule, which is what CadQuery/OCCT build from properly nested
//! wires (outer boundary, holes, islands in holes).
//!
//! An arc is stored by its chord end points plus its circle; the region of a loop with
//! arcs is the chord polygon XOR the circular segments between each chord and its arc,
//! which makes point membership exact without angles.

use super::vec::{P2, p2};

/// One edge of a loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Seg {
    Line {
        a: P2,
        b: P2,
    },
    /// Circular arc from `a` to `b` through the side of the chord that holds `mid`.
    Arc {
        a: P2,
        b: P2,
        mid: P2,
        c: P2,
        r: f64,
    },
}

impl Seg {
    /// Arc through three points, `None` if they are (nearly) collinear or coincident.
    /// "Nearly" as OCCT's `GC_MakeArcOfCircle` has it: measured on the GenCAD scales,
    /// it fails once `2 |(m - a) x (b - a)| / |b - a|^2` (about the turn at the middle
    /// point) is below 7e-9 and succeeds from 2e-8; the cut is at 1e-8.
    // `!(d.abs() > ...)` is deliberate: a NaN determinant must give `None`.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub(crate) fn arc3(a: P2, m: P2, b: P2) -> Option<Seg> {
        let d = 2.0 * ((m - a).cross(b - a));
        let scale = (m - a).norm().max((b - a).norm()).max((b - m).norm());
        if !(d.abs() > 1e-8 * scale * scale) || a.dist(b) <= 1e-12 * scale {
            return None;
        }
        let (am, ab) = (m - a, b - a);
        let (lm, lb) = (am.dot(am), ab.dot(ab));
        let c = a + p2((ab.y * lm - am.y * lb) / d, (am.x * lb - ab.x * lm) / d);
        let r = c.dist(a);
        r.is_finite().then_some(Seg::Arc { a, b, mid: m, c, r })
    }
    pub(crate) fn start(&self) -> P2 {
        match *self {
            Seg::Line { a, .. } | Seg::Arc { a, .. } => a,
        }
    }
    pub(crate) fn end(&self) -> P2 {
        match *self {
            Seg::Line { b, .. } | Seg::Arc { b, .. } => b,
        }
    }
    /// Whether a point known to lie on the arc's circle lies on the arc itself.
    fn on_arc(a: P2, b: P2, mid: P2, q: P2) -> bool {
        let chord = b - a;
        let side_mid = chord.cross(mid - a);
        let side_q = chord.cross(q - a);
        side_q * side_mid >= 0.0 || q.dist(a) < 1e-12 || q.dist(b) < 1e-12
    }
    /// Calls `f(t)` for each parameter `t` where the line `o + t*d` crosses the edge.
    fn line_crossings(&self, o: P2, d: P2, mut f: impl FnMut(f64)) {
        match *self {
            Seg::Line { a, b } => {
                let e = b - a;
                let den = d.cross(e);
                if den.abs() > 1e-300 {
                    let w = a - o;
                    let t = w.cross(e) / den;
                    let u = w.cross(d) / den;
                    if (0.0..=1.0).contains(&u) {
                        f(t);
                    }
                }
            }
            Seg::Arc { a, b, mid, c, r } => circle_line(c, r, o, d, |q, t| {
                if Seg::on_arc(a, b, mid, q) {
                    f(t)
                }
            }),
        }
    }
    /// Length of the edge.
    pub(crate) fn length(&self) -> f64 {
        match *self {
            Seg::Line { a, b } => a.dist(b),
            Seg::Arc { r, .. } => r * self.sweep().abs(),
        }
    }
    /// Signed sweep angle of an arc (counter-clockwise positive); 0 for a line.
    pub(crate) fn sweep(&self) -> f64 {
        match *self {
            Seg::Line { .. } => 0.0,
            Seg::Arc { a, b, mid, c, .. } => {
                let ang = |p: P2| (p.y - c.y).atan2(p.x - c.x);
                let (ta, tm, tb) = (ang(a), ang(mid), ang(b));
                let ccw = |from: f64, to: f64| (to - from).rem_euclid(std::f64::consts::TAU);
                if ccw(ta, tm) <= ccw(ta, tb) { ccw(ta, tb) } else { -ccw(tb, ta) }
            }
        }
    }
    /// Point at arc-length fraction `s` in [0, 1].
    pub(crate) fn point_at(&self, s: f64) -> P2 {
        match *self {
            Seg::Line { a, b } => a + (b - a) * s,
            Seg::Arc { a, c, r, .. } => {
                let t0 = (a.y - c.y).atan2(a.x - c.x) + self.sweep() * s;
                c + p2(t0.cos(), t0.sin()) * r
            }
        }
    }
}

/// A closed loop.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Loop {
    Circle { c: P2, r: f64 },
    Path(Vec<Seg>),
}

/// Even-odd region of one or more loops in a sketch plane.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct Profile {
    pub(crate) loops: Vec<Loop>,
    pub(crate) min: P2,
    pub(crate) max: P2,
}

impl Loop {
    /// Signed area (counter-clockwise positive).
    pub(crate) fn signed_area(&self) -> f64 {
        match self {
            Loop::Circle { r, .. } => std::f64::consts::PI * r * r,
            Loop::Path(segs) => {
                // Green's theorem: a line contributes a x b / 2, an arc with centre c,
                // radius r and signed sweep phi contributes (c x (b - a) + r^2 phi) / 2.
                let mut area = 0.0;
                for s in segs {
                    area += match *s {
                        Seg::Line { a, b } => 0.5 * a.cross(b),
                        Seg::Arc { a, b, c, r, .. } => 0.5 * (c.cross(b - a) + r * r * s.sweep()),
                    };
                }
                area
            }
        }
    }
    pub(crate) fn perimeter(&self) -> f64 {
        match self {
            Loop::Circle { r, .. } => std::f64::consts::TAU * r,
            Loop::Path(segs) => segs.iter().map(Seg::length).sum(),
        }
    }
    /// Even-odd parity of `q` with respect to this loop.
    pub(crate) fn contains(&self, q: P2) -> bool {
        match *self {
            Loop::Circle { c, r } => (q - c).dot(q - c) < r * r,
            Loop::Path(ref segs) => {
                let mut inside = false;
                for s in segs {
                    let (a, b) = (s.start(), s.end());
                    if (a.y > q.y) != (b.y > q.y) {
                        let x = a.x + (q.y - a.y) * (b.x - a.x) / (b.y - a.y);
                        if x > q.x {
                            inside = !inside;
                        }
                    }
                    if let Seg::Arc { a, b, mid, c, r } = *s {
                        // inside the circular segment between chord and arc?
                        if (q - c).dot(q - c) < r * r {
                            let chord = b - a;
                            if chord.cross(q - a) * chord.cross(mid - a) > 0.0 {
                                inside = !inside;
                            }
                        }
                    }
                }
                inside
            }
        }
    }
    /// Parameters `t` where the line `o + t*d` crosses the loop's edges.
    pub(crate) fn line_crossings(&self, o: P2, d: P2, out: &mut Vec<f64>) {
        match *self {
            Loop::Circle { c, r } => circle_line(c, r, o, d, |_, t| out.push(t)),
            Loop::Path(ref segs) => {
                for s in segs {
                    s.line_crossings(o, d, |t| out.push(t));
                }
            }
        }
    }
    /// Extreme coordinates of the loop along the in-plane direction `dir` (unit).
    pub(crate) fn extremes(&self, dir: P2, out: &mut Vec<P2>) {
        match *self {
            Loop::Circle { c, r } => {
                out.push(c + dir * r);
                out.push(c + dir * -r);
            }
            Loop::Path(ref segs) => {
                for s in segs {
                    out.push(s.start());
                    if let Seg::Arc { a, b, mid, c, r } = *s {
                        for q in [c + dir * r, c + dir * -r] {
                            if Seg::on_arc(a, b, mid, q) {
                                out.push(q);
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Loop {
    /// Points where the loop is tangent to a line perpendicular to `dir` (unit):
    /// the extremes of its circles and arcs along `dir`. Chord lengths behave like a
    /// square root there.
    pub(crate) fn tangents(&self, dir: P2, out: &mut Vec<P2>) {
        match *self {
            Loop::Circle { c, r } => out.extend([c + dir * r, c + dir * -r]),
            Loop::Path(ref segs) => {
                for s in segs {
                    if let Seg::Arc { a, b, mid, c, r } = *s {
                        out.extend(
                            [c + dir * r, c + dir * -r].into_iter().filter(|q| Seg::on_arc(a, b, mid, *q)),
                        );
                    }
                }
            }
        }
    }
}

fn circle_line(c: P2, r: f64, o: P2, d: P2, mut f: impl FnMut(P2, f64)) {
    let dd = d.dot(d);
    if dd <= 1e-300 {
        return;
    }
    let w = o - c;
    let b = w.dot(d) / dd;
    let cc = (w.dot(w) - r * r) / dd;
    let disc = b * b - cc;
    if disc < 0.0 {
        return;
    }
    let s = disc.sqrt();
    for t in [-b - s, -b + s] {
        f(o + d * t, t);
    }
}

impl Profile {
    pub(crate) fn new(loops: Vec<Loop>) -> Profile {
        let mut pts = Vec::new();
        for l in &loops {
            l.extremes(p2(1.0, 0.0), &mut pts);
            l.extremes(p2(0.0, 1.0), &mut pts);
        }
        let mut min = p2(f64::INFINITY, f64::INFINITY);
        let mut max = p2(f64::NEG_INFINITY, f64::NEG_INFINITY);
        for p in pts {
            min = p2(min.x.min(p.x), min.y.min(p.y));
            max = p2(max.x.max(p.x), max.y.max(p.y));
        }
        Profile { loops, min, max }
    }
    /// Even-odd membership.
    pub(crate) fn contains(&self, q: P2) -> bool {
        if q.x < self.min.x || q.x > self.max.x || q.y < self.min.y || q.y > self.max.y {
            return false;
        }
        let mut inside = false;
        for l in &self.loops {
            if l.contains(q) {
                inside = !inside;
            }
        }
        inside
    }
    /// Area of the even-odd region, assuming properly nested, non-crossing loops.
    pub(crate) fn area(&self) -> f64 {
        // Nesting depth decides the sign: even depth adds, odd depth subtracts.
        let mut total = 0.0;
        for (i, l) in self.loops.iter().enumerate() {
            let probe = loop_probe_point(l);
            let depth = self.loops.iter().enumerate().filter(|(j, o)| *j != i && o.contains(probe)).count();
            let a = l.signed_area().abs();
            total += if depth % 2 == 0 { a } else { -a };
        }
        total
    }
    /// Intervals `[t0, t1]` of the line `o + t*d` that lie inside the region.
    pub(crate) fn line_intervals(&self, o: P2, d: P2, scratch: &mut Vec<f64>, out: &mut Vec<(f64, f64)>) {
        scratch.clear();
        for l in &self.loops {
            l.line_crossings(o, d, scratch);
        }
        if scratch.len() < 2 {
            return;
        }
        scratch.sort_unstable_by(f64::total_cmp);
        let mut prev = scratch[0];
        for &t in &scratch[1..] {
            if t > prev {
                // membership holds between crossings; test off the middle, which for a
                // circle's chord is always on the line through its centre, where an
                // arc's chord often lies (the even-odd test cannot tell its side)
                let m = o + d * (prev + (t - prev) * 0.381_966);
                if self.contains(m) {
                    match out.last_mut() {
                        Some(last) if last.1 >= prev => last.1 = t,
                        _ => out.push((prev, t)),
                    }
                }
                prev = t;
            }
        }
    }
}

/// A point on a loop (used to find nesting depth). Taken off the axis directions and off
/// a segment's middle: a circle's point at angle 0 lies on the line of an arc's chord as
/// often as GenCAD puts a circle's centre at the height where a side meets an arc, and
/// the even-odd test cannot tell the side of a point on a chord (found by `cadrl
/// difftest`: such a hole was taken for a separate part, its volume 1.8 % off).
pub(crate) fn loop_probe_point(l: &Loop) -> P2 {
    const ANGLE: f64 = 1.1;
    match l {
        Loop::Circle { c, r } => *c + p2(r * ANGLE.cos(), r * ANGLE.sin()),
        Loop::Path(segs) => segs.first().map(|s| s.point_at(0.381_966)).unwrap_or_default(),
    }
}

/// Whether two edges intersect at a point that is not a shared end point.
pub(crate) fn segs_cross(s: &Seg, t: &Seg, tol: f64) -> bool {
    let mut hits = Vec::new();
    seg_seg_points(s, t, &mut hits);
    let ends = [s.start(), s.end(), t.start(), t.end()];
    hits.iter().any(|h| ends.iter().all(|e| e.dist(*h) > tol))
}

/// Points where two edges meet (appended to `out`; tangent points may repeat).
pub(crate) fn seg_seg_points(s: &Seg, t: &Seg, out: &mut Vec<P2>) {
    // Parametrise `s` as a line/circle and test the other against it.
    match (*s, *t) {
        (Seg::Line { a, b }, other) | (other, Seg::Line { a, b }) => {
            let d = b - a;
            other.line_crossings(a, d, |tt| {
                if (0.0..=1.0).contains(&tt) {
                    out.push(a + d * tt);
                }
            });
        }
        (
            Seg::Arc { a: a1, b: b1, mid: m1, c: c1, r: r1 },
            Seg::Arc { a: a2, b: b2, mid: m2, c: c2, r: r2 },
        ) => {
            let dc = c2 - c1;
            let dist = dc.norm();
            if dist < 1e-300 || dist > r1 + r2 || dist < (r1 - r2).abs() {
                return;
            }
            let x = (dist * dist + r1 * r1 - r2 * r2) / (2.0 * dist);
            let h = (r1 * r1 - x * x).max(0.0).sqrt();
            let base = c1 + dc * (x / dist);
            let perp = p2(-dc.y / dist, dc.x / dist);
            for q in [base + perp * h, base + perp * -h] {
                if Seg::on_arc(a1, b1, m1, q) && Seg::on_arc(a2, b2, m2, q) {
                    out.push(q);
                }
            }
        }
    }
}
