//! One synthetic program's text: the base body, further sketches on faces of the
//! part's bounding box joined by `union` / `cut` / `intersect`, written in GenCAD-Code's
//! style, optionally moved and scaled ([`Placement`]).

use std::fmt::Write as _;

use cadrl_rewards::geom::{Aabb, P2, V3, p2, v3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SynthConfig;
use super::py_repr;
use super::sketch::{Gen, Loop, Seg, SketchPlane, frames_for, inside, tilt};

pub(super) fn q128(x: f64) -> f64 {
    (x * 128.0).round() / 128.0
}

/// Where the emitted program puts the part: world points `p` are written as
/// `(p - centre) * scale`, lengths (sketch coordinates, radii, depths) times `scale`.
/// The generator's own state never changes, so a program can be emitted again, placed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Placement {
    /// Factor on every length.
    pub(super) scale: f64,
    /// The world point written as the origin.
    pub(super) centre: V3,
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
pub(super) fn generate_placed(cfg: &SynthConfig, rng: &mut ChaCha8Rng, at: &Placement) -> String {
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
