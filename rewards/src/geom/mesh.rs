//! Watertight triangle meshes as a CSG leaf, so shapes that come from another
//! kernel (OCCT's tessellation, via the `occt` executor) go through the same
//! metrics, rewards and renderer as the exact prisms.
//!
//! A [`Mesh`] is welded (duplicate vertices merged), checked watertight (every
//! directed edge balanced by as many reverse twins: one, or two each way where solids
//! of a compound touch along an edge) and indexed by a bounding-volume
//! hierarchy. Ray/mesh intervals come from all triangle crossings of the line,
//! sorted, with crossings of the same sense at the same parameter (a shared edge or
//! vertex hit twice) counted once, and the inside taken where the winding number
//! (entries minus exits) is positive, so a grazing hit on a silhouette edge adds
//! nothing. Containment is the majority of three skew rays. For the volume
//! quadrature (rays along z) `Mesh::row` precomputes the cross-section of the mesh
//! with a plane `y = const`: between its segment end points the z-intervals are
//! linear in x, which keeps the quadrature exact for the tessellated shape.

use super::vec::{Aabb, V3, v3};

/// A closed, consistently oriented (outward normals, counter-clockwise) triangle mesh.
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    pub(crate) verts: Vec<V3>,
    pub(crate) tris: Vec<[u32; 3]>,
    /// Per triangle: the id of the B-rep face it tessellates (for rendering edges).
    pub(crate) face: Vec<u32>,
    /// Bounding box of the vertices.
    pub aabb: Aabb,
    /// What the B-rep kernel measured on the exact shape, when the mesh came from one.
    pub brep: Option<BrepProps>,
    nodes: Vec<BNode>,
    order: Vec<u32>,
}

/// Exact measures of the shape a mesh tessellates (OCCT's, for the `occt` executor).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BrepProps {
    /// Volume of the exact shape.
    pub volume: f64,
    /// Surface area of the exact shape.
    pub area: f64,
    /// Bounding box of the exact shape.
    pub bbox: Aabb,
}

#[derive(Clone, Debug, PartialEq)]
struct BNode {
    b: Aabb,
    /// Leaf: `order[start..start + count]`; inner (`count == 0`): children `start`, `start + 1`.
    start: u32,
    count: u32,
}

const LEAF: usize = 4;

/// Cross-section of a mesh with a plane `y = const`, for rays along +z.
#[derive(Default, Debug)]
pub(crate) struct MeshRow {
    /// (xa, za, xb, zb, sense) with xa < xb; sense +1 where the outward normal has
    /// positive z (a +z ray leaves the solid there), -1 where it enters.
    segs: Vec<(f64, f64, f64, f64, f64)>,
    hits: Vec<(f64, f64)>,
}

impl Mesh {
    /// Weld vertices closer than `weld_tol`, drop degenerate triangles, check that
    /// the result is closed and consistently oriented, and index it.
    pub fn new(verts: Vec<V3>, tris: Vec<[u32; 3]>, face: Vec<u32>, weld_tol: f64) -> Result<Mesh, String> {
        if face.len() != tris.len() {
            return Err(format!("{} face ids for {} triangles", face.len(), tris.len()));
        }
        if let Some(v) = verts.iter().find(|v| !v.is_finite()) {
            return Err(format!("non-finite vertex {v:?}"));
        }
        if tris.iter().flatten().any(|&i| i as usize >= verts.len()) {
            return Err(format!("a triangle indexes past the {} vertices", verts.len()));
        }
        let map = weld(&verts, weld_tol);
        let mut out_tris = Vec::with_capacity(tris.len());
        let mut out_face = Vec::with_capacity(tris.len());
        for (t, f) in tris.iter().zip(&face) {
            let t = [map[t[0] as usize], map[t[1] as usize], map[t[2] as usize]];
            if t[0] != t[1] && t[1] != t[2] && t[0] != t[2] {
                out_tris.push(t);
                out_face.push(*f);
            }
        }
        if out_tris.is_empty() {
            return Err("no triangles".into());
        }
        let open = open_edges(&out_tris);
        if open > 0 {
            return Err(format!("the tessellation is not watertight ({open} unmatched edges)"));
        }
        Ok(Mesh::indexed(verts, out_tris, out_face))
    }

    fn indexed(verts: Vec<V3>, tris: Vec<[u32; 3]>, face: Vec<u32>) -> Mesh {
        let mut aabb = Aabb::EMPTY;
        for t in &tris {
            for &i in t {
                aabb.add_point(verts[i as usize]);
            }
        }
        let mut m = Mesh { verts, tris, face, aabb, brep: None, nodes: Vec::new(), order: Vec::new() };
        m.build_bvh();
        m
    }

    fn tri(&self, i: usize) -> [V3; 3] {
        let t = self.tris[i];
        [self.verts[t[0] as usize], self.verts[t[1] as usize], self.verts[t[2] as usize]]
    }

    fn tri_box(&self, i: usize) -> Aabb {
        let mut b = Aabb::EMPTY;
        for p in self.tri(i) {
            b.add_point(p);
        }
        b
    }

    fn build_bvh(&mut self) {
        let n = self.tris.len();
        let boxes: Vec<Aabb> = (0..n).map(|i| self.tri_box(i)).collect();
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut nodes = vec![BNode { b: Aabb::EMPTY, start: 0, count: 0 }];
        // (node, lo, hi) work list
        let mut work = vec![(0usize, 0usize, n)];
        while let Some((ni, lo, hi)) = work.pop() {
            let b = order[lo..hi].iter().fold(Aabb::EMPTY, |b, &i| b.union(boxes[i as usize]));
            nodes[ni].b = b;
            if hi - lo <= LEAF {
                nodes[ni].start = lo as u32;
                nodes[ni].count = (hi - lo) as u32;
                continue;
            }
            let e = b.extent();
            let axis = if e.x >= e.y && e.x >= e.z {
                0
            } else if e.y >= e.z {
                1
            } else {
                2
            };
            let mid = (lo + hi) / 2;
            order[lo..hi].select_nth_unstable_by(mid - lo, |&a, &c| {
                boxes[a as usize].center().get(axis).total_cmp(&boxes[c as usize].center().get(axis))
            });
            let left = nodes.len();
            nodes.push(BNode { b: Aabb::EMPTY, start: 0, count: 0 });
            nodes.push(BNode { b: Aabb::EMPTY, start: 0, count: 0 });
            nodes[ni].start = left as u32;
            nodes[ni].count = 0;
            work.push((left, lo, mid));
            work.push((left + 1, mid, hi));
        }
        self.nodes = nodes;
        self.order = order;
    }

    /// Calls `f` with every triangle whose box passes `keep`.
    fn visit(&self, keep: impl Fn(&Aabb) -> bool, mut f: impl FnMut(usize)) {
        let mut stack = vec![0usize];
        while let Some(ni) = stack.pop() {
            let nd = &self.nodes[ni];
            if !keep(&nd.b) {
                continue;
            }
            if nd.count > 0 {
                for k in nd.start..nd.start + nd.count {
                    f(self.order[k as usize] as usize);
                }
            } else {
                stack.push(nd.start as usize);
                stack.push(nd.start as usize + 1);
            }
        }
    }

    /// Intervals of `t` where the line `p + t*d` is inside the mesh, appended in order.
    pub(crate) fn ray_intervals(&self, p: V3, d: V3, hits: &mut Vec<(f64, f64)>, out: &mut Vec<(f64, f64)>) {
        hits.clear();
        let inv = v3(1.0 / d.x, 1.0 / d.y, 1.0 / d.z);
        let scale = self.aabb.diagonal().max(1e-300);
        let eps_bary = 1e-12;
        self.visit(
            |b| line_hits_box(p, d, inv, b, 1e-9 * scale),
            |i| {
                let [a, b, c] = self.tri(i);
                let (e1, e2) = (b - a, c - a);
                let n = e1.cross(e2);
                let dn = n.dot(d);
                if dn == 0.0 {
                    return;
                }
                let pv = d.cross(e2);
                let det = e1.dot(pv);
                if det == 0.0 {
                    return;
                }
                let tv = p - a;
                let u = tv.dot(pv) / det;
                let qv = tv.cross(e1);
                let v = d.dot(qv) / det;
                if u < -eps_bary || v < -eps_bary || u + v > 1.0 + eps_bary {
                    return;
                }
                let t = e2.dot(qv) / det;
                hits.push((t, if dn > 0.0 { 1.0 } else { -1.0 }));
            },
        );
        let dl = d.norm().max(1e-300);
        winding_intervals(hits, 1e-9 * scale / dl, out);
    }

    /// Whether `p` is inside: the majority of three skew lines through it.
    pub(crate) fn contains(&self, p: V3) -> bool {
        let (lo, hi) = (self.aabb.min, self.aabb.max);
        if p.x < lo.x || p.x > hi.x || p.y < lo.y || p.y > hi.y || p.z < lo.z || p.z > hi.z {
            return false;
        }
        const DIRS: [V3; 3] =
            [v3(0.5773, 0.5774, 0.5773), v3(-0.6123, 0.3501, 0.7089), v3(0.2213, -0.8897, 0.3993)];
        let (mut hits, mut iv) = (Vec::new(), Vec::new());
        let mut votes = 0;
        for d in DIRS {
            iv.clear();
            self.ray_intervals(p, d, &mut hits, &mut iv);
            if iv.iter().any(|&(a, b)| a < 0.0 && b > 0.0) {
                votes += 1;
            }
        }
        votes >= 2
    }

    /// Cross-section with the plane `y` (which should avoid vertex ys) into `row`.
    pub(crate) fn row(&self, y: f64, row: &mut MeshRow) {
        row.segs.clear();
        if y <= self.aabb.min.y || y >= self.aabb.max.y {
            return;
        }
        self.visit(
            |b| b.min.y <= y && b.max.y >= y,
            |i| {
                let [a, b, c] = self.tri(i);
                let n = (b - a).cross(c - a);
                if n.z == 0.0 {
                    return;
                }
                let mut pts = [(0.0, 0.0); 2];
                let mut k = 0;
                for (p, q) in [(a, b), (b, c), (c, a)] {
                    if (p.y < y) != (q.y < y) && k < 2 {
                        let s = (y - p.y) / (q.y - p.y);
                        pts[k] = (p.x + s * (q.x - p.x), p.z + s * (q.z - p.z));
                        k += 1;
                    }
                }
                if k == 2 && pts[0].0 != pts[1].0 {
                    let (l, r) = if pts[0].0 < pts[1].0 { (pts[0], pts[1]) } else { (pts[1], pts[0]) };
                    row.segs.push((l.0, l.1, r.0, r.1, n.z.signum()));
                }
            },
        );
    }

    /// The x-coordinates where the row's z-intervals change slope.
    pub(crate) fn row_breaks(row: &MeshRow, out: &mut Vec<f64>) {
        out.extend(row.segs.iter().flat_map(|s| [s.0, s.2]));
    }

    /// The x-coordinates where a face of one row crosses a face of the other: there the
    /// intersection or union of two meshes' intervals kinks although neither row does.
    pub(crate) fn row_crossings(a: &MeshRow, b: &MeshRow, out: &mut Vec<f64>) {
        for &(xa0, za0, xa1, za1, _) in &a.segs {
            let sa = (za1 - za0) / (xa1 - xa0);
            for &(xb0, zb0, xb1, zb1, _) in &b.segs {
                let (lo, hi) = (xa0.max(xb0), xa1.min(xb1));
                if lo >= hi {
                    continue;
                }
                let sb = (zb1 - zb0) / (xb1 - xb0);
                if sa == sb {
                    continue;
                }
                // za0 + sa (x - xa0) = zb0 + sb (x - xb0)
                let x = (zb0 - za0 + sa * xa0 - sb * xb0) / (sa - sb);
                if x > lo && x < hi {
                    out.push(x);
                }
            }
        }
    }

    /// The z-intervals of the row at `x` (strictly between break points).
    pub(crate) fn row_intervals(&self, row: &mut MeshRow, x: f64, out: &mut Vec<(f64, f64)>) {
        row.hits.clear();
        for &(xa, za, xb, zb, s) in &row.segs {
            if x > xa && x < xb {
                row.hits.push((za + (zb - za) * (x - xa) / (xb - xa), s));
            }
        }
        let tol = 1e-9 * self.aabb.diagonal().max(1e-300);
        let mut hits = std::mem::take(&mut row.hits);
        winding_intervals(&mut hits, tol, out);
        row.hits = hits;
    }

    /// The B-rep face nearest to `p` within `tol`, if any (for the renderer).
    pub(crate) fn face_near(&self, p: V3, tol: f64) -> Option<(f64, u32)> {
        let mut best: Option<(f64, u32)> = None;
        self.visit(
            |b| {
                p.x >= b.min.x - tol
                    && p.x <= b.max.x + tol
                    && p.y >= b.min.y - tol
                    && p.y <= b.max.y + tol
                    && p.z >= b.min.z - tol
                    && p.z <= b.max.z + tol
            },
            |i| {
                let d = point_triangle_dist(p, self.tri(i));
                if d <= tol && best.is_none_or(|(bd, _)| d < bd) {
                    best = Some((d, self.face[i]));
                }
            },
        );
        best
    }

    /// Total surface area and, per triangle, the cumulative area (for sampling).
    pub(crate) fn cumulative_areas(&self) -> Vec<f64> {
        let mut acc = 0.0;
        (0..self.tris.len())
            .map(|i| {
                let [a, b, c] = self.tri(i);
                acc += 0.5 * (b - a).cross(c - a).norm();
                acc
            })
            .collect()
    }

    /// A point on triangle `i` at barycentric `(r1, r2)` uniform in [0,1)^2, and its unit normal.
    pub(crate) fn point_on(&self, i: usize, r1: f64, r2: f64) -> (V3, V3) {
        let [a, b, c] = self.tri(i);
        let s = r1.sqrt();
        let p = a * (1.0 - s) + b * (s * (1.0 - r2)) + c * (s * r2);
        let n = (b - a).cross(c - a).normalized().unwrap_or(v3(0.0, 0.0, 1.0));
        (p, n)
    }

    /// Volume by the divergence theorem (exact for the mesh).
    pub fn volume(&self) -> f64 {
        (0..self.tris.len())
            .map(|i| {
                let [a, b, c] = self.tri(i);
                a.dot(b.cross(c)) / 6.0
            })
            .sum()
    }

    /// The same mesh under `p -> s * R (p - c)` (R with orthonormal rows `r`).
    pub(crate) fn transformed(&self, s: f64, r: [V3; 3], c: V3) -> Mesh {
        let verts = self
            .verts
            .iter()
            .map(|&p| {
                let q = p - c;
                v3(r[0].dot(q), r[1].dot(q), r[2].dot(q)) * s
            })
            .collect();
        // a reflection (det R < 0) would flip orientation; the callers pass rotations
        Mesh::indexed(verts, self.tris.clone(), self.face.clone())
    }
}

/// Sort `(t, sense)` crossings, count same-sense crossings within `tol` once, and
/// append the intervals where entries minus exits is positive.
fn winding_intervals(hits: &mut [(f64, f64)], tol: f64, out: &mut Vec<(f64, f64)>) {
    hits.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut w = 0i32;
    let mut start = 0.0;
    let mut last: Option<(f64, f64)> = None;
    for &(t, s) in hits.iter() {
        if let Some((lt, ls)) = last
            && ls == s
            && (t - lt).abs() <= tol * (1.0 + t.abs())
        {
            continue;
        }
        last = Some((t, s));
        let before = w;
        w += if s < 0.0 { 1 } else { -1 };
        if before <= 0 && w > 0 {
            start = t;
        } else if before > 0 && w <= 0 && t > start {
            match out.last_mut() {
                Some(l) if start <= l.1 => l.1 = l.1.max(t),
                _ => out.push((start, t)),
            }
        }
    }
}

fn line_hits_box(p: V3, d: V3, inv: V3, b: &Aabb, slack: f64) -> bool {
    let (mut t0, mut t1) = (f64::NEG_INFINITY, f64::INFINITY);
    for k in 0..3 {
        let (o, dk, ik, lo, hi) =
            (p.get(k), d.get(k), inv.get(k), b.min.get(k) - slack, b.max.get(k) + slack);
        if dk == 0.0 {
            if o < lo || o > hi {
                return false;
            }
        } else {
            let (a, c) = ((lo - o) * ik, (hi - o) * ik);
            t0 = t0.max(a.min(c));
            t1 = t1.min(a.max(c));
        }
    }
    t0 <= t1
}

/// Map each vertex to a representative: vertices within `tol` (per axis and in
/// distance) share one, transitively.
fn weld(verts: &[V3], tol: f64) -> Vec<u32> {
    let n = verts.len();
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], mut i: u32) -> u32 {
        while parent[i as usize] != i {
            parent[i as usize] = parent[parent[i as usize] as usize];
            i = parent[i as usize];
        }
        i
    }
    let mut idx: Vec<u32> = (0..n as u32).collect();
    idx.sort_unstable_by(|&a, &b| verts[a as usize].x.total_cmp(&verts[b as usize].x));
    for k in 0..n {
        let a = verts[idx[k] as usize];
        for &j in &idx[k + 1..] {
            let b = verts[j as usize];
            if b.x - a.x > tol {
                break;
            }
            if (b - a).norm() <= tol {
                let (ra, rb) = (find(&mut parent, idx[k]), find(&mut parent, j));
                if ra != rb {
                    parent[ra.max(rb) as usize] = ra.min(rb);
                }
            }
        }
    }
    (0..n as u32).map(|i| find(&mut parent, i)).collect()
}

/// Directed edges not balanced by a reverse twin: for each undirected edge, |uses in
/// one direction - uses in the other|. 0 for a closed, consistently oriented surface,
/// including several closed solids that share an edge or a vertex (a compound of
/// solids touching along an edge uses that edge twice each way).
fn open_edges(tris: &[[u32; 3]]) -> usize {
    let mut edges: Vec<(u32, u32, i32)> = tris
        .iter()
        .flat_map(|t| [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])])
        .map(|(a, b)| if a < b { (a, b, 1) } else { (b, a, -1) })
        .collect();
    edges.sort_unstable();
    let mut open = 0;
    let mut i = 0;
    while i < edges.len() {
        let (a, b) = (edges[i].0, edges[i].1);
        let mut bal = 0i32;
        while i < edges.len() && edges[i].0 == a && edges[i].1 == b {
            bal += edges[i].2;
            i += 1;
        }
        open += bal.unsigned_abs() as usize;
    }
    open
}

fn point_triangle_dist(p: V3, [a, b, c]: [V3; 3]) -> f64 {
    let n = (b - a).cross(c - a);
    let nn = n.dot(n);
    if nn > 0.0 {
        // inside the prism over the triangle: the plane distance
        let inside = [(a, b), (b, c), (c, a)].iter().all(|&(u, v)| (v - u).cross(p - u).dot(n) >= 0.0);
        if inside {
            return (p - a).dot(n).abs() / nn.sqrt();
        }
    }
    [(a, b), (b, c), (c, a)]
        .iter()
        .map(|&(u, v)| {
            let e = v - u;
            let l = e.dot(e);
            let t = if l > 0.0 { ((p - u).dot(e) / l).clamp(0.0, 1.0) } else { 0.0 };
            (p - (u + e * t)).norm()
        })
        .fold(f64::INFINITY, f64::min)
}
