//! CadQuery's object model, as far as the interpreter needs it: workplanes with a
//! plane, a stack of objects, a parent and a shared modelling context; edges and
//! wires in world coordinates; faces built from pending wires and extruded.
//!
//! Names and behaviour follow `cadquery/cq.py` (2.x): `add` mutates and returns the
//! same workplane, pending edges and wires live in the context shared by every
//! workplane derived from one `cq.Workplane(...)` call, `extrude` pops *all* pending
//! wires of that context and fuses with the first solid found on the stack or in the
//! parent chain.

use std::cell::RefCell;
use std::rc::Rc;

use crate::geom::{Frame, Loop, P2, Prism, Profile, Seg, Solid, V3, p2};

/// A failure while running a program, before it is turned into an outcome.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Fail {
    /// What Python/CadQuery would raise.
    Exec(String),
    /// Valid CadQuery that this interpreter does not model.
    Unsupported(String),
}

pub(crate) type R<T> = Result<T, Fail>;

pub(crate) fn exec<T>(msg: impl Into<String>) -> R<T> {
    Err(Fail::Exec(msg.into()))
}
pub(crate) fn unsupported<T>(msg: impl Into<String>) -> R<T> {
    Err(Fail::Unsupported(msg.into()))
}

/// An edge in world coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Edge {
    Line { a: V3, b: V3 },
    Arc { a: V3, m: V3, b: V3 },
}

impl Edge {
    pub(crate) fn start(&self) -> V3 {
        match *self {
            Edge::Line { a, .. } | Edge::Arc { a, .. } => a,
        }
    }
    pub(crate) fn end(&self) -> V3 {
        match *self {
            Edge::Line { b, .. } | Edge::Arc { b, .. } => b,
        }
    }
}

/// A wire in world coordinates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Wire {
    Circle { c: V3, r: f64, n: V3 },
    Edges(Vec<Edge>),
}

#[derive(Clone, Debug)]
pub(crate) enum Obj {
    Point(V3),
    Edge(Edge),
    Wire(Rc<Wire>),
    Shape(Rc<Solid>),
}

impl Obj {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Obj::Point(_) => "Vector",
            Obj::Edge(_) => "Edge",
            Obj::Wire(_) => "Wire",
            Obj::Shape(_) => "Compound",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub(crate) pending_edges: Vec<Edge>,
    pub(crate) pending_wires: Vec<Rc<Wire>>,
    /// Local coordinates of the first point of the pending edges.
    pub(crate) first_point: Option<V3>,
}

#[derive(Debug)]
pub(crate) struct Wp {
    pub(crate) plane: Frame,
    pub(crate) objects: RefCell<Vec<Obj>>,
    pub(crate) parent: Option<Rc<Wp>>,
    pub(crate) ctx: Rc<RefCell<Ctx>>,
}

/// Tolerance for coincident points, relative to the model size.
const TOL: f64 = 1e-7;

impl Wp {
    pub(crate) fn root(plane: Frame, obj: Option<Obj>) -> Rc<Wp> {
        Rc::new(Wp {
            plane,
            objects: RefCell::new(obj.into_iter().collect()),
            parent: None,
            ctx: Rc::new(RefCell::new(Ctx::default())),
        })
    }

    pub(crate) fn new_object(self: &Rc<Self>, objects: Vec<Obj>) -> Rc<Wp> {
        Rc::new(Wp {
            plane: self.plane,
            objects: RefCell::new(objects),
            parent: Some(self.clone()),
            ctx: self.ctx.clone(),
        })
    }

    pub(crate) fn to_world(&self, x: f64, y: f64, z: f64) -> V3 {
        self.plane.to_world(x, y, z)
    }

    /// `_findFromPoint`: end of the last edge, the last point, or the plane origin.
    // named after CadQuery's method, not a constructor
    #[allow(clippy::wrong_self_convention)]
    pub(crate) fn from_point(&self) -> R<V3> {
        match self.objects.borrow().last() {
            None => Ok(self.plane.origin),
            Some(Obj::Edge(e)) => Ok(e.end()),
            Some(Obj::Point(p)) => Ok(*p),
            Some(o) => exec(format!("ValueError: Cannot convert object type {} to vector.", o.type_name())),
        }
    }

    fn add_pending_edge(&self, e: Edge) {
        let mut ctx = self.ctx.borrow_mut();
        ctx.pending_edges.push(e);
        if ctx.first_point.is_none() {
            ctx.first_point = Some(self.plane.to_local(e.start()));
        }
    }

    pub(crate) fn line_to(self: &Rc<Self>, x: f64, y: f64, construction: bool) -> R<Rc<Wp>> {
        let a = self.from_point()?;
        let b = self.to_world(x, y, 0.0);
        let e = make_line(a, b)?;
        if !construction {
            self.add_pending_edge(e);
        }
        Ok(self.new_object(vec![Obj::Edge(e)]))
    }

    // `!(cr > ...)` is deliberate: a NaN cross product must fail the check.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub(crate) fn three_point_arc(self: &Rc<Self>, p1: V3, p2: V3, construction: bool) -> R<Rc<Wp>> {
        let a = self.from_point()?;
        let m = self.to_world(p1.x, p1.y, p1.z);
        let b = self.to_world(p2.x, p2.y, p2.z);
        check_finite(&[a, m, b])?;
        let scale = (m - a).norm().max((b - a).norm());
        let cr = (m - a).cross(b - a).norm();
        if !(cr > 1e-9 * scale * scale) {
            return exec(
                "StdFail_NotDone: threePointArc points are collinear or coincident (GC_MakeArcOfCircle)",
            );
        }
        let e = Edge::Arc { a, m, b };
        if !construction {
            self.add_pending_edge(e);
        }
        Ok(self.new_object(vec![Obj::Edge(e)]))
    }

    pub(crate) fn close(self: &Rc<Self>) -> R<Rc<Wp>> {
        let end_world = self.from_point()?;
        let end = self.plane.to_local(end_world);
        let first = self.ctx.borrow().first_point;
        let Some(start) = first else {
            return exec("ValueError: No start point specified - cannot close");
        };
        let mut cur = self.clone();
        if (end - start).norm() > 1e-6 {
            // polyline([endPoint, startPoint]) in local coordinates
            let e = make_line(self.to_world(end.x, end.y, end.z), self.to_world(start.x, start.y, start.z))?;
            self.add_pending_edge(e);
            cur = self.new_object(vec![Obj::Edge(e)]);
        }
        self.ctx.borrow_mut().first_point = None;
        cur.wire(false)
    }

    pub(crate) fn wire(self: &Rc<Self>, construction: bool) -> R<Rc<Wp>> {
        let edges = std::mem::take(&mut self.ctx.borrow_mut().pending_edges);
        if edges.is_empty() {
            return Ok(self.clone());
        }
        for pair in edges.windows(2) {
            let gap = (pair[0].end() - pair[1].start()).norm();
            if gap > TOL * (1.0 + pair[0].end().norm()) {
                return unsupported("wire from edges that are not connected end to start");
            }
        }
        let w = Rc::new(Wire::Edges(edges));
        if !construction {
            self.ctx.borrow_mut().pending_wires.push(w.clone());
        }
        let mut others: Vec<Obj> =
            self.objects.borrow().iter().filter(|o| !matches!(o, Obj::Edge(_))).cloned().collect();
        others.push(Obj::Wire(w));
        Ok(self.new_object(others))
    }

    /// Points that `eachpoint` places shapes at, in world coordinates.
    pub(crate) fn each_point(&self) -> R<Vec<V3>> {
        let objs = self.objects.borrow();
        if objs.is_empty() {
            return Ok(vec![self.plane.origin]);
        }
        objs.iter()
            .map(|o| match o {
                Obj::Point(p) => Ok(*p),
                // `eachpoint` uses `o.Center()`: a wire's or edge's centre of mass (OCCT
                // LinearProperties), so `circle(2).circle(1)` is concentric.
                Obj::Wire(w) => Ok(wire_center(w)),
                Obj::Edge(e) => Ok(edge_center(e).0),
                other => unsupported(format!("placing a shape at the centre of a {}", other.type_name())),
            })
            .collect()
    }

    /// Add pending wires built by `make(local centre)` at every stack point.
    pub(crate) fn each_wire(self: &Rc<Self>, construction: bool, make: impl Fn(V3) -> R<Wire>) -> R<Rc<Wp>> {
        let mut out = Vec::new();
        for p in self.each_point()? {
            let w = Rc::new(make(p)?);
            if !construction {
                self.ctx.borrow_mut().pending_wires.push(w.clone());
            }
            out.push(Obj::Wire(w));
        }
        Ok(self.new_object(out))
    }

    /// `_findType((Solid,), searchStack=True, searchParents=True)`: the solids on this
    /// workplane's stack, or else its parent's, and so on. An empty result (a boolean
    /// that left nothing: an empty compound in CadQuery) holds no solid, so the search
    /// passes over it: `box.intersect(far_away).cut(x)` cuts `x` from `box`.
    pub(crate) fn find_solid(&self) -> Option<Solid> {
        let shapes: Vec<Solid> = self
            .objects
            .borrow()
            .iter()
            .filter_map(|o| if let Obj::Shape(s) = o { Some((**s).clone()) } else { None })
            .filter(|s| !crate::geom::is_empty(s))
            .collect();
        if !shapes.is_empty() {
            return Some(Solid::union(shapes));
        }
        self.parent.as_ref().and_then(|p| p.find_solid())
    }

    /// Shapes on this workplane's stack only (`vals()`), empty results included.
    pub(crate) fn stack_solids(&self) -> Vec<Solid> {
        self.objects
            .borrow()
            .iter()
            .filter_map(|o| if let Obj::Shape(s) = o { Some((**s).clone()) } else { None })
            .collect()
    }

    /// Faces from the context's pending wires (`_getFaces` + `wiresToFaces`), as
    /// profiles in this workplane's frame at height `h` along its normal.
    pub(crate) fn pop_faces(&self) -> R<(Profile, f64)> {
        if self.objects.borrow().iter().any(|o| matches!(o, Obj::Shape(_))) {
            // _getFaces would collect the faces of compounds on the stack instead.
            return unsupported("extruding with a solid on the workplane's stack");
        }
        let wires = std::mem::take(&mut self.ctx.borrow_mut().pending_wires);
        if wires.is_empty() {
            return exec("ValueError: No pending wires present");
        }
        wires_to_profile(&self.plane, &wires)
    }
}

/// Largest coordinate magnitude the native executor models. GenCAD-Code parts live in
/// [-1, 1] and CAD-Recode's in [-100, 100]; far beyond that, f64 geometry (areas,
/// volumes) loses its meaning, so such programs are left to real CadQuery.
pub(crate) const MAX_COORD: f64 = 1e6;

pub(crate) fn check_finite(pts: &[V3]) -> R<()> {
    if !pts.iter().all(|p| p.is_finite()) {
        return exec("Standard_ConstructionError: non-finite coordinate");
    }
    if pts.iter().any(|p| p.x.abs().max(p.y.abs()).max(p.z.abs()) > MAX_COORD) {
        return unsupported(format!("coordinates beyond {MAX_COORD:e}"));
    }
    Ok(())
}

pub(crate) fn make_line(a: V3, b: V3) -> R<Edge> {
    check_finite(&[a, b])?;
    if (b - a).norm() <= TOL * (1.0 + a.norm()) {
        return exec("ValueError: zero-length line (BRepBuilderAPI_MakeEdge: command not done)");
    }
    Ok(Edge::Line { a, b })
}

fn wires_to_profile(frame: &Frame, wires: &[Rc<Wire>]) -> R<(Profile, f64)> {
    // Local coordinates in the workplane frame; all points must share one height.
    let mut heights = Vec::new();
    let mut loops = Vec::new();
    let mut scale: f64 = 0.0;
    for w in wires {
        match &**w {
            Wire::Circle { c, r, n } => {
                if frame.z.cross(*n).norm() > 1e-9 {
                    return unsupported("extruding a circle that does not lie in the workplane's plane");
                }
                let l = frame.to_local(*c);
                heights.push(l.z);
                scale = scale.max(l.x.abs()).max(l.y.abs()).max(*r);
                loops.push(Loop::Circle { c: p2(l.x, l.y), r: *r });
            }
            Wire::Edges(edges) => {
                let first = edges[0].start();
                let last = edges[edges.len() - 1].end();
                if (first - last).norm() > TOL * (1.0 + first.norm()) {
                    return exec("ValueError: Cannot build face(s): wire is not closed");
                }
                let mut segs = Vec::with_capacity(edges.len());
                for (i, e) in edges.iter().enumerate() {
                    let loc = |p: V3| {
                        let l = frame.to_local(p);
                        (p2(l.x, l.y), l.z)
                    };
                    // snap the closing end point exactly onto the loop start
                    let end = if i + 1 == edges.len() { first } else { e.end() };
                    let (a, za) = loc(e.start());
                    let (b, zb) = loc(end);
                    heights.push(za);
                    heights.push(zb);
                    scale = scale.max(a.x.abs()).max(a.y.abs());
                    match *e {
                        Edge::Line { .. } => segs.push(Seg::Line { a, b }),
                        Edge::Arc { m, .. } => {
                            let (mm, zm) = loc(m);
                            heights.push(zm);
                            match Seg::arc3(a, mm, b) {
                                Some(s) => segs.push(s),
                                None => return exec("StdFail_NotDone: degenerate arc"),
                            }
                        }
                    }
                }
                loops.push(Loop::Path(segs));
            }
        }
    }
    let h0 = heights[0];
    let tol = 1e-7 * (1.0 + scale);
    if heights.iter().any(|h| (h - h0).abs() > tol) {
        // Coplanar wires in a plane not parallel to the workplane, or non-planar wires.
        return unsupported("wires that do not lie in a plane parallel to the workplane");
    }
    drop_tiny_circles(&mut loops)?;
    validate_loops(&loops, scale)?;
    Ok((Profile::new(loops), h0))
}

/// OCCT leaves a circle of radius up to 1e-8 out of a face that has other loops (no
/// hole), builds an invalid solid from one of 1e-7, and no face from a lone one of
/// radius 0. Between 1e-8 and 1e-6 the outcome is not modelled.
fn drop_tiny_circles(loops: &mut Vec<Loop>) -> R<()> {
    let tiny = |l: &Loop| matches!(l, Loop::Circle { r, .. } if *r <= 1e-8);
    if loops.iter().all(tiny) {
        return match loops.first() {
            Some(Loop::Circle { r, .. }) if *r == 0.0 => {
                exec("ValueError: Cannot build face(s): wires not planar")
            }
            _ if loops.is_empty() => Ok(()),
            _ => exec(
                "the result is not a valid solid (OCCT builds an invalid one from a circle of radius <= 1e-8)",
            ),
        };
    }
    loops.retain(|l| !tiny(l));
    if loops.iter().any(|l| matches!(l, Loop::Circle { r, .. } if *r < 1e-6)) {
        return unsupported("a circle of radius below 1e-6");
    }
    Ok(())
}

/// Most edges in one sketch on a plane that is not axis-aligned.
pub(crate) const MAX_TILTED_EDGES: usize = 200;

/// Most edges in one sketch the native executor checks and integrates (the checks are
/// quadratic in it); larger sketches are left to real CadQuery.
pub(crate) const MAX_SKETCH_EDGES: usize = 1000;

fn validate_loops(loops: &[Loop], scale: f64) -> R<()> {
    let tol = 1e-9 * (1.0 + scale);
    let edges: usize = loops.iter().map(|l| if let Loop::Path(s) = l { s.len() } else { 1 }).sum();
    if edges > MAX_SKETCH_EDGES {
        return unsupported(format!("a sketch with {edges} edges (more than {MAX_SKETCH_EDGES})"));
    }
    for l in loops {
        let area = l.signed_area();
        if !area.is_finite() {
            return exec("Standard_ConstructionError: non-finite profile");
        }
        if let Loop::Path(segs) = l {
            let n = segs.len();
            for i in 0..n {
                for j in i + 1..n {
                    // Adjacent edges meet at their shared end point; spikes that fold back
                    // on themselves and loops touching themselves at a vertex are fine
                    // (zero area, and OCCT builds a valid face from them).
                    let adjacent = j == i + 1 || (i == 0 && j == n - 1);
                    // an arc can meet its neighbour a second time (it bulges through
                    // it); away from the shared end (a tangent joint's double root is
                    // only good to ~1e-8, so the margin is wide)
                    let arcs = matches!(segs[i], Seg::Arc { .. }) || matches!(segs[j], Seg::Arc { .. });
                    let crosses = if adjacent {
                        arcs && crate::geom::profile::segs_cross(&segs[i], &segs[j], 1e-6 * (1.0 + scale))
                    } else {
                        crate::geom::profile::segs_cross(&segs[i], &segs[j], tol)
                    };
                    if crosses {
                        // OCCT builds a face from it whose validity depends on the case
                        // (often invalid, sometimes a valid solid after the booleans):
                        // not modelled, so `auto` asks CadQuery
                        return unsupported("a sketch loop that crosses itself");
                    }
                }
            }
        }
        if area.abs() <= 1e-12 * (1.0 + scale * scale) {
            // CadQuery extrudes a loop that folds back on itself (or is a line) to a
            // "valid" solid of no volume; not modelled (seed 8000 case 3747)
            return unsupported("a sketch loop of zero area (OCCT builds a zero-volume solid)");
        }
    }
    for i in 0..loops.len() {
        for j in i + 1..loops.len() {
            if same_loop(&loops[i], &loops[j], tol) {
                return unsupported("two identical loops in one sketch");
            }
            if loops_cross(&loops[i], &loops[j], tol) {
                return unsupported("loops of one sketch that cross each other");
            }
        }
    }
    // CadQuery makes one face with the first wire as its outer boundary and every other
    // wire as a hole (Face.makeFromWires + ShapeFix_Face). A loop nested two deep (an
    // island inside a hole) gives a face that fails BRepCheck, whatever the wire order.
    for (i, l) in loops.iter().enumerate() {
        let probe = crate::geom::profile::loop_probe_point(l);
        let depth = loops.iter().enumerate().filter(|(j, o)| *j != i && o.contains(probe)).count();
        if depth >= 2 {
            return exec("nested loops (an island inside a hole): OCCT builds an invalid face from them");
        }
    }
    Ok(())
}

/// Loops that lie on top of each other (their even-odd regions cancel).
fn same_loop(a: &Loop, b: &Loop, tol: f64) -> bool {
    let (pa, pb) = (Profile::new(vec![a.clone()]), Profile::new(vec![b.clone()]));
    (pa.min.dist(pb.min) <= tol && pa.max.dist(pb.max) <= tol)
        && (a.signed_area().abs() - b.signed_area().abs()).abs() <= tol * (1.0 + a.signed_area().abs())
        && a.perimeter() - b.perimeter() <= tol * (1.0 + a.perimeter())
        && b.perimeter() - a.perimeter() <= tol * (1.0 + a.perimeter())
}

fn loop_segs(l: &Loop) -> Vec<Seg> {
    match *l {
        Loop::Path(ref s) => s.clone(),
        Loop::Circle { c, r } => {
            // two half circles
            let a = c + p2(r, 0.0);
            let b = c + p2(-r, 0.0);
            let mut v = Vec::new();
            if let Some(s) = Seg::arc3(a, c + p2(0.0, r), b) {
                v.push(s);
            }
            if let Some(s) = Seg::arc3(b, c + p2(0.0, -r), a) {
                v.push(s);
            }
            v
        }
    }
}

fn loops_cross(a: &Loop, b: &Loop, tol: f64) -> bool {
    let (sa, sb) = (loop_segs(a), loop_segs(b));
    for s in &sa {
        for t in &sb {
            if crate::geom::profile::segs_cross(s, t, tol) {
                return true;
            }
        }
    }
    false
}

/// The prism of a profile at height `h` extruded by `d` (both ways when `both`).
pub(crate) fn extrude_prism(frame: &Frame, profile: Profile, h: f64, d: f64, both: bool) -> R<Solid> {
    if !d.is_finite() {
        return exec("Standard_ConstructionError: non-finite extrude distance");
    }
    if d.abs() > MAX_COORD {
        return unsupported(format!("extrude distance beyond {MAX_COORD:e}"));
    }
    // A sketch plane that is not axis-aligned is integrated ray by ray, at a cost that
    // grows with the cube of its edge count.
    let aligned = [frame.z.x, frame.z.y, frame.z.z].iter().any(|c| c.abs() > 1.0 - 1e-12);
    let edges: usize = profile.loops.iter().map(|l| if let Loop::Path(s) = l { s.len() } else { 1 }).sum();
    if !aligned && edges > MAX_TILTED_EDGES {
        return unsupported(format!("a tilted sketch with {edges} edges (more than {MAX_TILTED_EDGES})"));
    }
    // OCCT refuses a sweep vector no longer than Precision::Confusion() (1e-7)
    if d.abs() <= 1e-7 {
        return exec(format!(
            "Standard_ConstructionError: BRepSweep_Translation::Constructor (extrude distance {d:e} is at most 1e-7)"
        ));
    }
    let (w0, w1) = if both { (h - d.abs(), h + d.abs()) } else { (h.min(h + d), h.max(h + d)) };
    Ok(Solid::from_prism(Prism::new(*frame, profile, w0, w1)))
}

/// Pieces of a 2D point tuple or vector.
pub(crate) fn local_point(v: &[f64]) -> R<V3> {
    match *v {
        [x, y] => Ok(V3 { x, y, z: 0.0 }),
        [x, y, z] => Ok(V3 { x, y, z }),
        _ => exec(format!("TypeError: expected a 2- or 3-tuple of numbers, got {} values", v.len())),
    }
}

pub(crate) fn polygon_wire(frame: &Frame, center: V3, pts: &[P2]) -> R<Wire> {
    let c = frame.to_local(center);
    let mut edges = Vec::new();
    for i in 0..pts.len() {
        let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
        edges.push(make_line(
            frame.to_world(c.x + a.x, c.y + a.y, c.z),
            frame.to_world(c.x + b.x, c.y + b.y, c.z),
        )?);
    }
    Ok(Wire::Edges(edges))
}

/// Centre of mass and length of an edge (OCCT `BRepGProp::LinearProperties`).
fn edge_center(e: &Edge) -> (V3, f64) {
    match *e {
        Edge::Line { a, b } => ((a + b) * 0.5, (b - a).norm()),
        Edge::Arc { a, m, b } => {
            // circumcentre of a, m, b; the arc runs counter-clockwise about n = (m-a) x (b-a)
            let (u, v) = (m - a, b - a);
            let w = u.cross(v);
            let c = a + (v.cross(w) * u.dot(u) + w.cross(u) * v.dot(v)) * (0.5 / w.dot(w));
            let r = (a - c).norm();
            let n = w * (1.0 / w.norm());
            let e1 = (a - c) * (1.0 / r);
            let e2 = n.cross(e1);
            let mut th = (b - c).dot(e2).atan2((b - c).dot(e1));
            if th <= 0.0 {
                th += std::f64::consts::TAU;
            }
            let h = 0.5 * th;
            let k = r * h.sin() / h;
            (c + (e1 * h.cos() + e2 * h.sin()) * k, r * th)
        }
    }
}

/// Centre of mass of a wire (OCCT `Shape.Center()` of a wire).
fn wire_center(w: &Wire) -> V3 {
    match w {
        Wire::Circle { c, .. } => *c,
        Wire::Edges(edges) => {
            let (mut acc, mut len) = (V3::default(), 0.0);
            for e in edges {
                let (p, l) = edge_center(e);
                acc = acc + p * l;
                len += l;
            }
            acc * (1.0 / len)
        }
    }
}
