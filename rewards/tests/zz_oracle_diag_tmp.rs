use cadrl_rewards::exec::execute_native;
use cadrl_rewards::geom::integrate::{integrate, Resolution};
use cadrl_rewards::geom::{mass_props, volume};
#[test]
fn diag() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/programs/");
    for name in ["plane_normal_110.py", "plane_oblique.py", "arc_slot.py", "gencad_ten_sketches.py", "named_zx_xz.py", "basic_rect_uncentered.py", "bool_intersect.py", "circle_plain.py", "plane_scaled_vectors.py"] {
        let src = std::fs::read_to_string(format!("{dir}{name}")).unwrap();
        let s = execute_native(&src, "solid");
        let s = s.solid().unwrap();
        let mp = mass_props(s);
        let mut out = vec![];
        for (pieces, points) in [(6.0, 3usize), (24.0, 4), (96.0, 4), (400.0, 4)] {
            let mut v = 0.0;
            integrate(&[s], Resolution { pieces, points, min_x_points: 2 }, |_, _, w, iv| {
                for (a, b) in &iv[0] { v += w * (b - a); }
            });
            out.push(format!("{pieces}/{points}: {v:.9}"));
        }
        println!("{name}: mass_props {:.9} volume() {:.9} | {}", mp.volume, volume(s), out.join("  "));
        for p in &s.prisms { println!("   frame z {:?} x {:?}", p.frame.z, p.frame.x); }
    }
}
