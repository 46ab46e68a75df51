//! Exact solids: constructive solid geometry over extruded profiles (prisms).
//!
//! A `Prism` is a planar `Profile` in a `Frame` swept along the frame normal
//! between `w0` and `w1`. A [`Solid`] is a CSG tree of prisms. Everything that the
//! metrics and the renderer need is computed on this exact representation: point
//! membership, ray/solid intervals, bounding boxes; no meshing anywhere. Shapes
//! from another kernel enter as a [`Mesh`] leaf (see `mesh.rs`), with the same
//! queries.

use std::sync::Arc;

use super::mesh::Mesh;
use super::profile::{Loop, Profile, Seg};
use super::vec::{Aabb, Frame, P2, V3, p2, v3};

/// A profile extruded along its frame normal from `w0` to `w1` (`w0 < w1`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Prism {
    pub(crate) frame: Frame,
    pub(crate) profile: Profile,
    pub(crate) w0: f64,
    pub(crate) w1: f64,
    pub(crate) aabb: Aabb,
}

/// CSG tree over the prisms of a [`Solid`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Prism(usize),
    /// Index into [`Solid::meshes`].
    Mesh(usize),
    Union(Vec<Node>),
    /// First minus the union of the rest.
    Diff(Box<Node>, Vec<Node>),
    Inter(Vec<Node>),
}

/// A leaf of the CSG tree, as [`Node::eval`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leaf {
    Prism(usize),
    Mesh(usize),
}

/// A solid as an exact CSG tree of prisms (and meshes from other kernels).
#[derive(Clone, Debug, PartialEq)]
pub struct Solid {
    pub(crate) prisms: Vec<Prism>,
    /// Mesh leaves: shapes from another kernel (OCCT's tessellation, for the `occt`
    /// executor); empty for a natively executed program.
    pub meshes: Vec<Arc<Mesh>>,
    pub(crate) root: Node,
    /// Conservative bounds (the exact ones come from [`super::integrate`]).
    pub(crate) bounds: Aabb,
}

/// Parameter intervals `(t0, t1)` of a line inside a solid, sorted and disjoint.
pub type Intervals = Vec<(f64, f64)>;

impl Prism {
    pub(crate) fn new(frame: Frame, profile: Profile, w0: f64, w1: f64) -> Prism {
        let mut p = Prism { frame, profile, w0: w0.min(w1), w1: w0.max(w1), aabb: Aabb::EMPTY };
        let mut aabb = Aabb::EMPTY;
        for q in p.feature_points() {
            aabb.add_point(q);
        }
        p.aabb = aabb;
        p
    }

    /// World points where the prism's shape along the world axes changes: loop
    /// vertices and the extreme points of arcs and circles along each world axis and
    /// where the outline seen along z touches them, at both ends of the extrusion.
    pub(crate) fn feature_points(&self) -> Vec<V3> {
        let f = &self.frame;
        let mut pts2 = Vec::new();
        // the last direction: where the profile is tangent to world z seen in the sketch
        // (the outline of a tilted prism seen along z passes there)
        let z = v3(0.0, 0.0, 1.0);
        let outline = p2(-z.dot(f.y), z.dot(f.x));
        for d in [p2(f.x.x, f.y.x), p2(f.x.y, f.y.y), p2(z.dot(f.x), z.dot(f.y)), outline] {
            let n = d.norm();
            let dir = if n > 1e-12 { d * (1.0 / n) } else { p2(1.0, 0.0) };
            for l in &self.profile.loops {
                l.extremes(dir, &mut pts2);
            }
        }
        let mut out = Vec::with_capacity(pts2.len() * 2);
        for w in [self.w0, self.w1] {
            for q in &pts2 {
                out.push(f.to_world(q.x, q.y, w));
            }
        }
        out
    }

    pub(crate) fn contains(&self, p: V3) -> bool {
        let (lo, hi) = (self.aabb.min, self.aabb.max);
        if p.x < lo.x || p.x > hi.x || p.y < lo.y || p.y > hi.y || p.z < lo.z || p.z > hi.z {
            return false;
        }
        let l = self.frame.to_local(p);
        l.z > self.w0 && l.z < self.w1 && self.profile.contains(p2(l.x, l.y))
    }

    /// Intervals of `t` where `p + t*d` is inside the prism, appended to `out` in order.
    pub(crate) fn ray_intervals(&self, p: V3, d: V3, scratch: &mut Vec<f64>, out: &mut Intervals) {
        if !self.ray_hits_box(p, d) {
            return;
        }
        let lp = self.frame.to_local(p);
        let ld = self.frame.dir_to_local(d);
        let (mut t0, mut t1) = (f64::NEG_INFINITY, f64::INFINITY);
        if ld.z.abs() > 1e-12 {
            let (a, b) = ((self.w0 - lp.z) / ld.z, (self.w1 - lp.z) / ld.z);
            t0 = a.min(b);
            t1 = a.max(b);
        } else if !(lp.z > self.w0 && lp.z < self.w1) {
            return;
        }
        let e = p2(ld.x, ld.y);
        if e.norm() <= 1e-12 {
            if self.profile.contains(p2(lp.x, lp.y)) && t1 > t0 {
                out.push((t0, t1));
            }
            return;
        }
        let start = out.len();
        self.profile.line_intervals(p2(lp.x, lp.y), e, scratch, out);
        // clip the lateral intervals to the slab
        let mut w = start;
        for i in start..out.len() {
            let (a, b) = out[i];
            let (a, b) = (a.max(t0), b.min(t1));
            if b > a {
                out[w] = (a, b);
                w += 1;
            }
        }
        out.truncate(w);
    }

    /// Whether the line `p + t*d` meets the prism's bounding box (a cheap cull).
    fn ray_hits_box(&self, p: V3, d: V3) -> bool {
        let (mut t0, mut t1) = (f64::NEG_INFINITY, f64::INFINITY);
        for k in 0..3 {
            let (o, dk, lo, hi) = (p.get(k), d.get(k), self.aabb.min.get(k), self.aabb.max.get(k));
            if dk.abs() < 1e-300 {
                if o < lo || o > hi {
                    return false;
                }
            } else {
                let (a, b) = ((lo - o) / dk, (hi - o) / dk);
                t0 = t0.max(a.min(b));
                t1 = t1.min(a.max(b));
            }
        }
        // a little slack: the box is exact, so only rounding can separate a grazing hit
        t0 <= t1 + 1e-9 * (1.0 + t1.abs())
    }

    /// Apply `p -> s * R (p - c)` where `R` has orthonormal rows `r`.
    pub(crate) fn transformed(&self, s: f64, r: [V3; 3], c: V3) -> Prism {
        let rot = |v: V3| v3(r[0].dot(v), r[1].dot(v), r[2].dot(v));
        let f = &self.frame;
        let frame = Frame { origin: rot(f.origin - c) * s, x: rot(f.x), y: rot(f.y), z: rot(f.z) };
        let sc = |q: P2| q * s;
        let loops = self
            .profile
            .loops
            .iter()
            .map(|l| match l {
                Loop::Circle { c, r } => Loop::Circle { c: sc(*c), r: r * s },
                Loop::Path(segs) => Loop::Path(
                    segs.iter()
                        .map(|g| match *g {
                            Seg::Line { a, b } => Seg::Line { a: sc(a), b: sc(b) },
                            Seg::Arc { a, b, mid, c, r } => {
                                Seg::Arc { a: sc(a), b: sc(b), mid: sc(mid), c: sc(c), r: r * s }
                            }
                        })
                        .collect(),
                ),
            })
            .collect();
        Prism::new(frame, Profile::new(loops), self.w0 * s, self.w1 * s)
    }
}

impl Solid {
    pub(crate) fn from_prism(p: Prism) -> Solid {
        let bounds = p.aabb;
        Solid { prisms: vec![p], meshes: Vec::new(), root: Node::Prism(0), bounds }
    }

    /// The solid bounded by a closed mesh.
    pub fn from_mesh(m: Mesh) -> Solid {
        let bounds = m.aabb;
        Solid { prisms: Vec::new(), meshes: vec![Arc::new(m)], root: Node::Mesh(0), bounds }
    }

    fn combine(items: Vec<Solid>, make: impl FnOnce(Vec<Node>) -> Node, bounds: Aabb) -> Solid {
        let mut prisms = Vec::new();
        let mut meshes = Vec::new();
        let mut nodes = Vec::new();
        for s in items {
            let (off, moff) = (prisms.len(), meshes.len());
            prisms.extend(s.prisms);
            meshes.extend(s.meshes);
            nodes.push(s.root.offset(off, moff));
        }
        Solid { prisms, meshes, root: make(nodes), bounds }
    }

    pub(crate) fn union(items: Vec<Solid>) -> Solid {
        let bounds = items.iter().fold(Aabb::EMPTY, |b, s| b.union(s.bounds));
        if items.len() == 1 {
            return items.into_iter().next().unwrap_or_else(|| unreachable!());
        }
        Solid::combine(items, Node::Union, bounds)
    }

    pub(crate) fn difference(base: Solid, tools: Vec<Solid>) -> Solid {
        let bounds = base.bounds;
        let mut items = vec![base];
        items.extend(tools);
        Solid::combine(
            items,
            |mut n| {
                let first = n.remove(0);
                Node::Diff(Box::new(first), n)
            },
            bounds,
        )
    }

    pub(crate) fn intersection(items: Vec<Solid>) -> Solid {
        let bounds = items.iter().skip(1).fold(items[0].bounds, |b, s| b.intersect(s.bounds));
        Solid::combine(items, Node::Inter, bounds)
    }

    /// Whether `p` is inside the solid (a point on the boundary may go either way).
    pub fn contains(&self, p: V3) -> bool {
        self.root.contains(self, p)
    }

    /// Membership of the two points `p` and `m` at once, with prism `own`'s
    /// membership given (`own_p`, `own_m`) instead of tested: the surface sampler
    /// knows on which side of prism `own`'s boundary each point lies.
    pub(crate) fn contains_pair(&self, p: V3, m: V3, own: usize, own_p: bool, own_m: bool) -> (bool, bool) {
        self.root.contains_pair(self, p, m, (own, own_p, own_m))
    }

    /// Intervals of `t` where the line `p + t*d` is inside the solid, sorted, disjoint.
    pub fn ray_intervals(&self, p: V3, d: V3, ws: &mut Workspace, out: &mut Intervals) {
        out.clear();
        let mut scratch = std::mem::take(&mut ws.scratch);
        let mut hits = std::mem::take(&mut ws.hits);
        let (prisms, meshes) = (&self.prisms, &self.meshes);
        self.root.eval(
            &mut |leaf, o| match leaf {
                Leaf::Prism(i) => prisms[i].ray_intervals(p, d, &mut scratch, o),
                Leaf::Mesh(i) => meshes[i].ray_intervals(p, d, &mut hits, o),
            },
            ws,
            out,
        );
        ws.scratch = scratch;
        ws.hits = hits;
    }

    /// Like [`Solid::ray_intervals`] with the prisms' intervals supplied by `leaf`.
    pub(crate) fn eval_with(
        &self,
        leaf: &mut dyn FnMut(Leaf, &mut Intervals),
        ws: &mut Workspace,
        out: &mut Intervals,
    ) {
        out.clear();
        self.root.eval(leaf, ws, out);
    }

    /// The same solid under `p -> s * R (p - c)`.
    pub(crate) fn transformed(&self, s: f64, r: [V3; 3], c: V3) -> Solid {
        let prisms: Vec<Prism> = self.prisms.iter().map(|p| p.transformed(s, r, c)).collect();
        let meshes: Vec<Arc<Mesh>> = self.meshes.iter().map(|m| Arc::new(m.transformed(s, r, c))).collect();
        let bounds = self.root.bounds(&prisms, &meshes);
        Solid { prisms, meshes, root: self.root.clone(), bounds }
    }
}

/// Reusable buffers for ray queries.
#[derive(Default, Debug)]
pub struct Workspace {
    scratch: Vec<f64>,
    hits: Vec<(f64, f64)>,
    pool: Vec<Intervals>,
}

impl Workspace {
    fn take(&mut self) -> Intervals {
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v
    }
    fn give(&mut self, v: Intervals) {
        self.pool.push(v);
    }
}

impl Node {
    fn offset(self, off: usize, moff: usize) -> Node {
        match self {
            Node::Prism(i) => Node::Prism(i + off),
            Node::Mesh(i) => Node::Mesh(i + moff),
            Node::Union(v) => Node::Union(v.into_iter().map(|n| n.offset(off, moff)).collect()),
            Node::Diff(a, v) => Node::Diff(
                Box::new(a.offset(off, moff)),
                v.into_iter().map(|n| n.offset(off, moff)).collect(),
            ),
            Node::Inter(v) => Node::Inter(v.into_iter().map(|n| n.offset(off, moff)).collect()),
        }
    }

    fn bounds(&self, prisms: &[Prism], meshes: &[Arc<Mesh>]) -> Aabb {
        match self {
            Node::Prism(i) => prisms[*i].aabb,
            Node::Mesh(i) => meshes[*i].aabb,
            Node::Union(v) => v.iter().fold(Aabb::EMPTY, |b, n| b.union(n.bounds(prisms, meshes))),
            Node::Diff(a, _) => a.bounds(prisms, meshes),
            Node::Inter(v) => v
                .iter()
                .skip(1)
                .fold(v[0].bounds(prisms, meshes), |b, n| b.intersect(n.bounds(prisms, meshes))),
        }
    }

    fn contains(&self, s: &Solid, p: V3) -> bool {
        match self {
            Node::Prism(i) => s.prisms[*i].contains(p),
            Node::Mesh(i) => s.meshes[*i].contains(p),
            Node::Union(v) => v.iter().any(|n| n.contains(s, p)),
            Node::Diff(a, v) => a.contains(s, p) && !v.iter().any(|n| n.contains(s, p)),
            Node::Inter(v) => v.iter().all(|n| n.contains(s, p)),
        }
    }

    fn contains_pair(&self, s: &Solid, p: V3, m: V3, own: (usize, bool, bool)) -> (bool, bool) {
        let any = |v: &[Node]| {
            let (mut a, mut b) = (false, false);
            for n in v {
                let (x, y) = n.contains_pair(s, p, m, own);
                (a, b) = (a || x, b || y);
                if a && b {
                    break;
                }
            }
            (a, b)
        };
        match self {
            Node::Prism(i) if *i == own.0 => (own.1, own.2),
            Node::Prism(i) => (s.prisms[*i].contains(p), s.prisms[*i].contains(m)),
            Node::Mesh(i) => (s.meshes[*i].contains(p), s.meshes[*i].contains(m)),
            Node::Union(v) => any(v),
            Node::Diff(a, v) => {
                let (x, y) = a.contains_pair(s, p, m, own);
                if !x && !y {
                    return (false, false);
                }
                let (cx, cy) = any(v);
                (x && !cx, y && !cy)
            }
            Node::Inter(v) => {
                let (mut a, mut b) = (true, true);
                for n in v {
                    let (x, y) = n.contains_pair(s, p, m, own);
                    (a, b) = (a && x, b && y);
                    if !a && !b {
                        break;
                    }
                }
                (a, b)
            }
        }
    }

    /// Evaluate the tree along one ray, with `leaf(l, out)` giving leaf l's intervals.
    pub(crate) fn eval(
        &self,
        leaf: &mut dyn FnMut(Leaf, &mut Intervals),
        ws: &mut Workspace,
        out: &mut Intervals,
    ) {
        match self {
            Node::Prism(i) => leaf(Leaf::Prism(*i), out),
            Node::Mesh(i) => leaf(Leaf::Mesh(*i), out),
            Node::Union(v) => {
                let mut acc = ws.take();
                for n in v {
                    let mut part = ws.take();
                    n.eval(leaf, ws, &mut part);
                    if !part.is_empty() {
                        if acc.is_empty() {
                            std::mem::swap(&mut acc, &mut part);
                        } else {
                            let mut merged = ws.take();
                            union_into(&acc, &part, &mut merged);
                            std::mem::swap(&mut acc, &mut merged);
                            ws.give(merged);
                        }
                    }
                    ws.give(part);
                }
                out.extend_from_slice(&acc);
                ws.give(acc);
            }
            Node::Diff(a, v) => {
                let mut acc = ws.take();
                a.eval(leaf, ws, &mut acc);
                for n in v {
                    if acc.is_empty() {
                        break;
                    }
                    let mut part = ws.take();
                    n.eval(leaf, ws, &mut part);
                    if !part.is_empty() {
                        let mut res = ws.take();
                        difference_into(&acc, &part, &mut res);
                        std::mem::swap(&mut acc, &mut res);
                        ws.give(res);
                    }
                    ws.give(part);
                }
                out.extend_from_slice(&acc);
                ws.give(acc);
            }
            Node::Inter(v) => {
                let mut acc = ws.take();
                v[0].eval(leaf, ws, &mut acc);
                for n in &v[1..] {
                    if acc.is_empty() {
                        break;
                    }
                    let mut part = ws.take();
                    n.eval(leaf, ws, &mut part);
                    let mut res = ws.take();
                    intersect_into(&acc, &part, &mut res);
                    std::mem::swap(&mut acc, &mut res);
                    ws.give(res);
                    ws.give(part);
                }
                out.extend_from_slice(&acc);
                ws.give(acc);
            }
        }
    }
}

/// Union of two sorted disjoint interval lists.
pub(crate) fn union_into(a: &[(f64, f64)], b: &[(f64, f64)], out: &mut Intervals) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = if j >= b.len() || (i < a.len() && a[i].0 <= b[j].0) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        match out.last_mut() {
            Some(last) if next.0 <= last.1 => last.1 = last.1.max(next.1),
            _ => out.push(next),
        }
    }
}

/// Intersection of two sorted disjoint interval lists.
pub(crate) fn intersect_into(a: &[(f64, f64)], b: &[(f64, f64)], out: &mut Intervals) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if hi > lo + sliver(lo) {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
    }
}

/// Pieces shorter than this (relative to the ray parameter) are rounding slivers
/// left where a tool's face coincides with the base's face, not material.
fn sliver(t: f64) -> f64 {
    1e-9 * (1.0 + t.abs())
}

/// `a` minus `b` for sorted disjoint interval lists.
pub(crate) fn difference_into(a: &[(f64, f64)], b: &[(f64, f64)], out: &mut Intervals) {
    out.clear();
    let mut j = 0;
    for &(mut lo, hi) in a {
        while j < b.len() && b[j].1 <= lo {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].0 < hi {
            if b[k].0 > lo + sliver(lo) {
                out.push((lo, b[k].0));
            }
            lo = lo.max(b[k].1);
            k += 1;
        }
        if hi > lo + sliver(lo) {
            out.push((lo, hi));
        }
    }
}

pub(crate) fn total_length(iv: &[(f64, f64)]) -> f64 {
    iv.iter().map(|(a, b)| b - a).sum()
}
