//! Mesh leaves against the exact prisms: a triangulated box and a finely
//! triangulated cylinder must measure like the native solids of the same programs
//! (volume, bbox, IoU, Chamfer, containment, rendering), and broken meshes must be
//! refused with a reason.

use cadrl_rewards::exec::execute_native;
use cadrl_rewards::geom::{Mesh, Solid, V3, Workspace, mass_props, v3};
use cadrl_rewards::metrics::{IouMode, chamfer, iou};

/// The box [0,a]x[0,b]x[0,c] with outward counter-clockwise triangles, each face
/// split along a diagonal, with vertices duplicated per face (as OCCT sends them).
fn box_mesh(a: f64, b: f64, c: f64) -> (Vec<V3>, Vec<[u32; 3]>, Vec<u32>) {
    let p = |i: usize| {
        v3(
            if i & 1 != 0 { a } else { 0.0 },
            if i & 2 != 0 { b } else { 0.0 },
            if i & 4 != 0 { c } else { 0.0 },
        )
    };
    // faces as corner indices in counter-clockwise order seen from outside
    let faces = [[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5]];
    let (mut verts, mut tris, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for (f, q) in faces.iter().enumerate() {
        let base = verts.len() as u32;
        verts.extend(q.iter().map(|&i| p(i)));
        tris.push([base, base + 1, base + 2]);
        tris.push([base, base + 2, base + 3]);
        ids.extend([f as u32, f as u32]);
    }
    (verts, tris, ids)
}

/// A cylinder of radius r, height h on the XY plane, `n` segments.
fn cylinder_mesh(r: f64, h: f64, n: usize) -> Mesh {
    let mut verts = vec![v3(0.0, 0.0, 0.0), v3(0.0, 0.0, h)];
    for k in 0..n {
        let t = std::f64::consts::TAU * k as f64 / n as f64;
        verts.push(v3(r * t.cos(), r * t.sin(), 0.0));
        verts.push(v3(r * t.cos(), r * t.sin(), h));
    }
    let mut tris = Vec::new();
    for k in 0..n {
        let (b0, t0) = (2 + 2 * k as u32, 3 + 2 * k as u32);
        let (b1, t1) = (2 + 2 * ((k + 1) % n) as u32, 3 + 2 * ((k + 1) % n) as u32);
        tris.push([0, b1, b0]);
        tris.push([1, t0, t1]);
        tris.push([b0, b1, t1]);
        tris.push([b0, t1, t0]);
    }
    let ids = vec![0; tris.len()];
    Mesh::new(verts, tris, ids, 1e-9).expect("closed cylinder")
}

#[test]
fn box_mesh_measures_like_the_prism() {
    let (v, t, f) = box_mesh(2.0, 3.0, 4.0);
    let m = Mesh::new(v, t, f, 1e-9).expect("welds into a closed mesh");
    assert!((m.volume() - 24.0).abs() < 1e-12);
    let s = Solid::from_mesh(m);
    let p = mass_props(&s);
    assert!((p.volume - 24.0).abs() < 1e-9, "{}", p.volume);
    assert!(
        (p.centroid.x - 1.0).abs() < 1e-9
            && (p.centroid.y - 1.5).abs() < 1e-9
            && (p.centroid.z - 2.0).abs() < 1e-9
    );
    assert_eq!((p.bbox.min, p.bbox.max), (v3(0.0, 0.0, 0.0), v3(2.0, 3.0, 4.0)));
    let native = execute_native(
        "import cadquery as cq\nsolid = cq.Workplane('XY').box(2, 3, 4, centered=False)",
        "solid",
    );
    let n = native.solid().expect("native box");
    for mode in [IouMode::InPlace, IouMode::Bbox, IouMode::Inertia] {
        let x = iou(&s, n, mode);
        assert!((x - 1.0).abs() < 1e-9, "{mode:?}: {x}");
    }
    let cd = chamfer(&s, n).expect("chamfer");
    assert!(cd < 1e-2, "{cd}");
    // containment, including points on the diagonals of the faces' triangulation
    assert!(
        s.contains(v3(1.0, 1.5, 2.0)) && s.contains(v3(1.0, 1.5, 1e-6)) && s.contains(v3(0.5, 0.75, 2.0))
    );
    assert!(!s.contains(v3(1.0, 1.5, -1e-6)) && !s.contains(v3(2.5, 1.0, 1.0)));
    // a ray through a shared edge and through a vertex counts each crossing once
    let mut ws = Workspace::default();
    let mut iv = Vec::new();
    s.ray_intervals(v3(-1.0, -1.5, -2.0), v3(1.0, 1.5, 2.0), &mut ws, &mut iv);
    assert_eq!(iv.len(), 1, "{iv:?}");
    assert!((iv[0].0 - 1.0).abs() < 1e-9 && (iv[0].1 - 3.0).abs() < 1e-9, "{iv:?}");
    s.ray_intervals(v3(1.0, 0.0, -1.0), v3(0.0, 1.0, 1.0), &mut ws, &mut iv);
    assert_eq!(iv.len(), 1, "{iv:?}");
}

#[test]
fn cylinder_mesh_converges_to_the_circle() {
    let m = cylinder_mesh(1.0, 2.0, 256);
    let exact_polygon = 0.5 * 256.0 * (std::f64::consts::TAU / 256.0).sin() * 2.0;
    let s = Solid::from_mesh(m);
    let v = mass_props(&s).volume;
    assert!((v - exact_polygon).abs() < 1e-9 * exact_polygon, "{v} vs {exact_polygon}");
    let native =
        execute_native("import cadquery as cq\nsolid = cq.Workplane('XY').circle(1).extrude(2)", "solid");
    let x = iou(&s, native.solid().expect("native cylinder"), IouMode::InPlace);
    assert!(x > 0.999 && x <= 1.0, "{x}");
    // renders like the exact cylinder, up to the edge lines of the facets' outline
    let (a, b) =
        (cadrl_rewards::render::render(&s), cadrl_rewards::render::render(native.solid().expect("cylinder")));
    let same = a.pixels().zip(b.pixels()).filter(|(p, q)| p == q).count();
    assert!(same as f64 > 0.99 * (a.width() * a.height()) as f64, "{same}");
}

#[test]
fn broken_meshes_are_refused_with_a_reason() {
    let (v, mut t, mut f) = box_mesh(1.0, 1.0, 1.0);
    t.pop();
    f.pop();
    let e = Mesh::new(v.clone(), t, f, 1e-9).expect_err("open box");
    assert!(e.contains("not watertight"), "{e}");
    let (_, t, f) = box_mesh(1.0, 1.0, 1.0);
    let mut bad = v.clone();
    bad[0].x = f64::NAN;
    assert!(Mesh::new(bad, t.clone(), f.clone(), 1e-9).expect_err("nan").contains("non-finite"));
    let mut t2 = t.clone();
    t2[0][0] = 999;
    assert!(Mesh::new(v.clone(), t2, f.clone(), 1e-9).expect_err("index").contains("past"));
    // without welding the per-face copies the box is not closed
    assert!(Mesh::new(v, t, f, -1.0).expect_err("unwelded").contains("not watertight"));
}

/// Two closed boxes of one compound touching along an edge (OCCT returns such
/// compounds from booleans): the shared edge is used twice each way. The mesh is
/// closed, and measures as the two boxes.
#[test]
fn solids_touching_along_an_edge_are_closed() {
    let (mut v, mut t, mut f) = box_mesh(1.0, 1.0, 1.0);
    let (v2, t2, f2) = box_mesh(1.0, 1.0, 1.0);
    let n = v.len() as u32;
    v.extend(v2.into_iter().map(|p| v3(p.x + 1.0, p.y + 1.0, p.z)));
    t.extend(t2.into_iter().map(|[a, b, c]| [a + n, b + n, c + n]));
    f.extend(f2);
    let m = Mesh::new(v, t, f, 1e-9).expect("two boxes sharing an edge are closed");
    assert!((m.volume() - 2.0).abs() < 1e-12);
    assert!((mass_props(&Solid::from_mesh(m)).volume - 2.0).abs() < 1e-9);
}
