//! Surface sampling (what the Chamfer metric is computed on): samples lie on the
//! boundary of the CSG result only, uniformly by area. Checked on shapes whose
//! face areas are known in closed form, including faces shared or hidden by a
//! union or a cut, which must get no samples.

use std::f64::consts::PI;

use cadrl_rewards::exec::execute_native;
use cadrl_rewards::geom::sample::sample_surface;
use cadrl_rewards::geom::{Solid, V3};
use cadrl_rewards::metrics::chamfer::{chamfer_points, normalized_samples};

const N: usize = 20_000;

fn solid(src: &str) -> std::sync::Arc<Solid> {
    let o = execute_native(src, "solid");
    o.solid().cloned().unwrap_or_else(|| panic!("{:?}", o.reason()))
}

/// The fraction of `pts` satisfying `f` is `p` within five binomial standard errors.
fn fraction(pts: &[V3], f: impl Fn(&V3) -> bool, p: f64, what: &str) {
    let got = pts.iter().filter(|q| f(q)).count() as f64 / pts.len() as f64;
    let se = (p * (1.0 - p) / pts.len() as f64).sqrt();
    assert!((got - p).abs() <= 5.0 * se, "{what}: {got:.4} of the samples, area says {p:.4}");
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn two_boxes_sharing_a_face_are_sampled_as_one_box() {
    let s = solid(
        "import cadquery as cq\n\
         a = cq.Workplane(\"XY\").moveTo(0, 0).lineTo(1, 0).lineTo(1, 1).lineTo(0, 1).close().extrude(1)\n\
         b = cq.Workplane(\"XY\").moveTo(1, 0).lineTo(2, 0).lineTo(2, 1).lineTo(1, 1).close().extrude(1)\n\
         solid = a.union(b)\n",
    );
    let pts = sample_surface(&s, N, 3);
    assert_eq!(pts.len(), N);
    // the shared face x = 1 is inside the union
    let inner = pts
        .iter()
        .filter(|q| near(q.x, 1.0) && q.y > 1e-6 && q.y < 1.0 - 1e-6 && q.z > 1e-6 && q.z < 1.0 - 1e-6)
        .count();
    assert_eq!(inner, 0, "samples on the internal face");
    // a 2 x 1 x 1 box: area 10, the top is 2 of it, each end 1
    fraction(&pts, |q| near(q.z, 1.0), 0.2, "top");
    fraction(&pts, |q| near(q.x, 0.0), 0.1, "end x=0");
    fraction(&pts, |q| near(q.y, 0.0), 0.2, "side y=0");
}

#[test]
fn a_boss_on_a_plate_hides_the_face_under_it() {
    let s = solid(
        "import cadquery as cq\n\
         plate = cq.Workplane(\"XY\").moveTo(0, 0).lineTo(2, 0).lineTo(2, 2).lineTo(0, 2).close().extrude(1)\n\
         boss = cq.Workplane(\"XY\", origin=(0, 0, 1)).moveTo(1, 1).circle(0.5).extrude(1)\n\
         solid = plate.union(boss)\n",
    );
    let pts = sample_surface(&s, N, 4);
    let r = |q: &V3| ((q.x - 1.0).powi(2) + (q.y - 1.0).powi(2)).sqrt();
    let hidden = pts.iter().filter(|q| near(q.z, 1.0) && r(q) < 0.5 - 1e-6).count();
    assert_eq!(hidden, 0, "samples under the boss");
    // plate: bottom 4, top 4 - pi/4, sides 8; boss: wall pi, top pi/4
    let total = 16.0 + PI;
    fraction(&pts, |q| near(q.z, 1.0), (4.0 - PI / 4.0) / total, "plate top");
    fraction(&pts, |q| q.z > 1.0 + 1e-9 && q.z < 2.0 - 1e-9, PI / total, "boss wall");
    fraction(&pts, |q| near(q.z, 2.0), PI / 4.0 / total, "boss top");
}

#[test]
fn a_through_hole_samples_its_wall_and_not_the_cutter_caps() {
    let s = solid(
        "import cadquery as cq\n\
         plate = cq.Workplane(\"XY\").moveTo(0, 0).lineTo(2, 0).lineTo(2, 2).lineTo(0, 2).close().extrude(1)\n\
         tool = cq.Workplane(\"XY\").moveTo(1, 1).circle(0.5).extrude(1)\n\
         solid = plate.cut(tool)\n",
    );
    let pts = sample_surface(&s, N, 5);
    let r = |q: &V3| ((q.x - 1.0).powi(2) + (q.y - 1.0).powi(2)).sqrt();
    // the cutter's caps are flush with the plate's: nothing inside the hole
    assert_eq!(pts.iter().filter(|q| r(q) < 0.5 - 1e-6).count(), 0, "samples inside the hole");
    // top and bottom 4 - pi/4 each, sides 8, hole wall pi
    let total = 16.0 + PI / 2.0;
    fraction(&pts, |q| (r(q) - 0.5).abs() < 1e-9, PI / total, "hole wall");
    fraction(&pts, |q| near(q.z, 0.0), (4.0 - PI / 4.0) / total, "bottom");
}

#[test]
fn loops_sharing_an_edge_do_not_sample_it() {
    // Two rectangles drawn in one sketch touch along x = 1 for 0.7 < y < 1; under
    // the even-odd rule that stretch is inside the region, so its wall is not
    // surface (the rest of both edges is). The first rectangle's edge is shared
    // only in part, away from its middle.
    let s = solid(
        "import cadquery as cq\n\
         solid = cq.Workplane(\"XY\").moveTo(0, 0).lineTo(1, 0).lineTo(1, 1).lineTo(0, 1).close()\
         .moveTo(1, 0.7).lineTo(2, 0.7).lineTo(2, 1.2).lineTo(1, 1.2).close().extrude(1)\n",
    );
    let pts = sample_surface(&s, N, 6);
    let wall = |lo: f64, hi: f64| {
        pts.iter().filter(|q| near(q.x, 1.0) && q.y > lo + 1e-6 && q.y < hi - 1e-6).count()
    };
    assert_eq!(wall(0.7, 1.0), 0, "samples on the shared stretch of wall");
    // region: 1 + 0.5 = 1.5 per cap; walls: perimeter 4 + 3 - 2 x 0.3 = 6.4
    let total = 2.0 * 1.5 + 6.4;
    fraction(&pts, |q| near(q.z, 0.0), 1.5 / total, "bottom");
    fraction(&pts, |q| near(q.x, 1.0) && q.y < 0.7, 0.7 / total, "open stretch below");
}

#[test]
fn chamfer_of_real_samples_matches_brute_force() {
    let a = solid(
        "import cadquery as cq\n\
         solid = cq.Workplane(\"XY\").moveTo(0, 0).lineTo(3, 0).lineTo(3, 1).lineTo(1, 1).lineTo(1, 2).lineTo(0, 2).close().extrude(0.5)\n",
    );
    let b = solid(
        "import cadquery as cq\nsolid = cq.Workplane(\"XZ\").moveTo(1, 1).circle(1).extrude(2, both=True)\n",
    );
    let pa = normalized_samples(&a, 1500, 0).expect("samples");
    let pb = normalized_samples(&b, 1300, 1).expect("samples");
    let one_way = |f: &[[f64; 3]], t: &[[f64; 3]]| {
        f.iter()
            .map(|p| {
                t.iter()
                    .map(|q| (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f64>())
                    .fold(f64::INFINITY, f64::min)
            })
            .sum::<f64>()
            / f.len() as f64
    };
    let want = one_way(&pa, &pb) + one_way(&pb, &pa);
    let got = chamfer_points(&pa, &pb).expect("chamfer");
    assert!((got - want).abs() <= 1e-5 * want, "{got} vs {want}");
    // both normalised into the unit box, centred
    for p in pa.iter().chain(&pb) {
        assert!(p.iter().all(|c| c.abs() <= 0.5 + 1e-9), "{p:?}");
    }
}
