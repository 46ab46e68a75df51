//! The GenCAD-Code image style, by ray casting the exact CSG on the CPU.
//!
//! What the data set's 448x448 renders look like (measured on the fixture images):
//! white background, every face the same flat grey (141, 141, 138), black one-pixel
//! B-rep edges, an orthographic isometric view from (+1, -1, +1) with z up (OCCT's
//! `V3d_XposYnegZpos`), and the part's projected bounding box centred in the frame
//! and scaled to fit a 400 x 300 pixel box.
//!
//! Edges are drawn where the visible surface changes from one face to another. Faces
//! are keyed by their underlying surface (plane, or cylinder axis and radius), so
//! coplanar faces of fused solids merge as CadQuery's `clean()` merges them.

use image::{Rgb, RgbImage};

use crate::geom::profile::{Loop, Seg};
use crate::geom::{Solid, V3, Workspace, v3};

/// Side of the square image [`render`] makes, in pixels.
pub const SIZE: u32 = 448;
/// RGB of every face.
pub const FACE: [u8; 3] = [141, 141, 138];
/// RGB of the edges.
pub const EDGE: [u8; 3] = [0, 0, 0];
/// RGB of the background.
pub const BACKGROUND: [u8; 3] = [255, 255, 255];
/// The projected bounding box is fitted into this many pixels (width, height).
pub(crate) const FIT: (f64, f64) = (400.0, 300.0);

/// Orthographic isometric camera: eye direction (+1, -1, +1), z up.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// Unit direction of the image's +x (to the right), in world coordinates.
    pub right: V3,
    /// Unit direction of the image's up, in world coordinates.
    pub up: V3,
    /// Direction the rays travel (from the eye into the scene).
    pub forward: V3,
}

impl Default for View {
    fn default() -> Self {
        let s2 = std::f64::consts::SQRT_2;
        let s3 = 3f64.sqrt();
        let s6 = 6f64.sqrt();
        View {
            right: v3(1.0 / s2, 1.0 / s2, 0.0),
            up: v3(-1.0 / s6, 1.0 / s6, 2.0 / s6),
            forward: v3(-1.0 / s3, 1.0 / s3, -1.0 / s3),
        }
    }
}

/// Identity of the surface a ray hits, for edge detection.
type FaceKey = (usize, i64, i64, i64, i64);

/// Quantise a surface parameter. DeepCAD coordinates are multiples of 1/128, which
/// land exactly on half-integers of a 1e6 grid; an offset away from 0 and 0.5 keeps rounding
/// noise from flipping the key.
fn quant(x: f64) -> i64 {
    (x * 1e6 + 0.261_7).floor() as i64
}

/// Render `s` in the GenCAD-Code style.
pub fn render(s: &Solid) -> RgbImage {
    render_with(s, View::default(), SIZE)
}

/// Render `s` seen along `view` into a `size` x `size` image, in the same style and
/// framing as [`render`] (the fit box scales with `size`).
pub fn render_with(s: &Solid, view: View, size: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(size, size, Rgb(BACKGROUND));
    let Some((cu, cv, scale)) = framing(s, &view, size) else { return img };
    let n = size as usize;
    let mut keys: Vec<Option<FaceKey>> = vec![None; n * n];
    let mut ws = Workspace::default();
    let mut iv = Vec::new();
    let depth = 4.0 * s.bounds.diagonal().max(1e-9);
    let center = s.bounds.center();
    let half = (size as f64 - 1.0) / 2.0;
    // Only pixels inside the projection of the conservative bounds can hit anything.
    let (mut c0, mut c1, mut r0, mut r1) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    let b = s.bounds;
    for i in 0..8 {
        let c = v3(
            if i & 1 == 0 { b.min.x } else { b.max.x },
            if i & 2 == 0 { b.min.y } else { b.max.y },
            if i & 4 == 0 { b.min.z } else { b.max.z },
        );
        let col = (c.dot(view.right) - cu) * scale + half;
        let row = half - (c.dot(view.up) - cv) * scale;
        c0 = c0.min(col);
        c1 = c1.max(col);
        r0 = r0.min(row);
        r1 = r1.max(row);
    }
    let clamp = |x: f64| (x.max(0.0) as usize).min(n - 1);
    let (cols, rows) =
        (clamp(c0.floor() - 1.0)..=clamp(c1.ceil() + 1.0), clamp(r0.floor() - 1.0)..=clamp(r1.ceil() + 1.0));
    for row in rows {
        for col in cols.clone() {
            let u = cu + (col as f64 - half) / scale;
            let v = cv - (row as f64 - half) / scale;
            let origin =
                center + view.right * (u - center.dot(view.right)) + view.up * (v - center.dot(view.up))
                    - view.forward * depth;
            s.ray_intervals(origin, view.forward, &mut ws, &mut iv);
            if let Some(&(t0, _)) = iv.iter().find(|(a, b)| b > a && *b > 0.0) {
                let hit = origin + view.forward * t0.max(0.0);
                keys[row * n + col] = Some(face_key(s, hit, scale));
            }
        }
    }
    for row in 0..n {
        for col in 0..n {
            let k = keys[row * n + col];
            if k.is_none() {
                continue;
            }
            let right = if col + 1 < n { keys[row * n + col + 1] } else { None };
            let down = if row + 1 < n { keys[(row + 1) * n + col] } else { None };
            let left = if col > 0 { keys[row * n + col - 1] } else { None };
            let upk = if row > 0 { keys[(row - 1) * n + col] } else { None };
            // one-pixel lines: the pixel on the near side of a face change, and every
            // silhouette pixel next to the background
            let edge = right != k || down != k || left.is_none() || upk.is_none();
            img.put_pixel(col as u32, row as u32, Rgb(if edge { EDGE } else { FACE }));
        }
    }
    img
}

/// Projected centre (u, v) and pixels per unit. The data set fits the projection of
/// the part's 3D bounding box (its eight corners), not the silhouette: for parts with
/// curved sides the silhouette then fills less than the 400 x 300 box.
fn framing(s: &Solid, view: &View, size: u32) -> Option<(f64, f64, f64)> {
    let b = crate::geom::mass_props(s).bbox;
    if b.is_empty() || !b.min.is_finite() || !b.max.is_finite() {
        return None;
    }
    let (mut u0, mut u1, mut v0, mut v1) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..8 {
        let c = v3(
            if i & 1 == 0 { b.min.x } else { b.max.x },
            if i & 2 == 0 { b.min.y } else { b.max.y },
            if i & 4 == 0 { b.min.z } else { b.max.z },
        );
        let (u, v) = (c.dot(view.right), c.dot(view.up));
        u0 = u0.min(u);
        u1 = u1.max(u);
        v0 = v0.min(v);
        v1 = v1.max(v);
    }
    let (w, h) = ((u1 - u0).max(1e-12), (v1 - v0).max(1e-12));
    let fit = (FIT.0 / w).min(FIT.1 / h) * size as f64 / SIZE as f64;
    Some(((u0 + u1) / 2.0, (v0 + v1) / 2.0, fit))
}

/// Which surface of which prism the point lies on, keyed by the surface geometry.
fn face_key(s: &Solid, p: V3, scale: f64) -> FaceKey {
    let tol = 1.5 / scale;
    let mut best: Option<(f64, FaceKey)> = None;
    let mut consider = |d: f64, key: FaceKey| {
        if d <= tol && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, key));
        }
    };
    for (i, m) in s.meshes.iter().enumerate() {
        if let Some((d, face)) = m.face_near(p, tol) {
            consider(d, (3, i as i64, face as i64, 0, 0));
        }
    }
    for pr in &s.prisms {
        let (lo, hi) = (pr.aabb.min, pr.aabb.max);
        if p.x < lo.x - tol
            || p.x > hi.x + tol
            || p.y < lo.y - tol
            || p.y > hi.y + tol
            || p.z < lo.z - tol
            || p.z > hi.z + tol
        {
            continue;
        }
        let f = &pr.frame;
        let l = f.to_local(p);
        // caps: planes w = w0 and w = w1 (world plane key: normal and offset)
        for w in [pr.w0, pr.w1] {
            let n = f.z;
            let off = f.origin.dot(n) + w;
            let (_, n, off) = canonical(n, off);
            consider((l.z - w).abs(), (0, quant(n.x), quant(n.y), quant(n.z), quant(off)));
        }
        // sides
        for lp in &pr.profile.loops {
            match lp {
                Loop::Circle { c, r } => {
                    let d = ((l.x - c.x).hypot(l.y - c.y) - r).abs();
                    let axis = f.to_world(c.x, c.y, 0.0);
                    consider(
                        d,
                        (
                            1,
                            quant(axis.dot(f.x)),
                            quant(axis.dot(f.y)),
                            quant(*r),
                            quant(f.z.x + 2.0 * f.z.y + 4.0 * f.z.z),
                        ),
                    );
                }
                Loop::Path(segs) => {
                    for sg in segs {
                        match *sg {
                            Seg::Line { a, b } => {
                                let e = b - a;
                                let len = e.norm().max(1e-300);
                                let t =
                                    ((crate::geom::p2(l.x, l.y) - a).dot(e) / (len * len)).clamp(0.0, 1.0);
                                let q = a + e * t;
                                let d = q.dist(crate::geom::p2(l.x, l.y));
                                // world plane of this side
                                let n2 = crate::geom::p2(-e.y / len, e.x / len);
                                let n = f.x * n2.x + f.y * n2.y;
                                let off = f.to_world(a.x, a.y, 0.0).dot(n);
                                let (_, n, off) = canonical(n, off);
                                consider(d, (2, quant(n.x), quant(n.y), quant(n.z), quant(off)));
                            }
                            Seg::Arc { c, r, .. } => {
                                let d = ((l.x - c.x).hypot(l.y - c.y) - r).abs();
                                let axis = f.to_world(c.x, c.y, 0.0);
                                consider(
                                    d,
                                    (
                                        1,
                                        quant(axis.dot(f.x)),
                                        quant(axis.dot(f.y)),
                                        quant(r),
                                        quant(f.z.x + 2.0 * f.z.y + 4.0 * f.z.z),
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    best.map(|(_, k)| k).unwrap_or((9, 0, 0, 0, 0))
}

/// A plane `n . x = off` with a canonical sign of `n`.
fn canonical(n: V3, off: f64) -> (f64, V3, f64) {
    let flip = n.x < -1e-9 || (n.x.abs() <= 1e-9 && (n.y < -1e-9 || (n.y.abs() <= 1e-9 && n.z < 0.0)));
    if flip { (-1.0, -n, -off) } else { (1.0, n, off) }
}
