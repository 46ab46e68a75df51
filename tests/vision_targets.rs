//! The vision stage's targets against real CadQuery: for every fixture program (real
//! GenCAD-Code parts), the proportions, fill ratio and occupancy grid computed by the
//! native engine ([`cadrl::pipeline::vision::targets_for`]) agree with the same
//! quantities measured by CadQuery 2.8 / OCCT (optimal bounding box, volume, and
//! `isInside` at the same lattice points). Needs the CadQuery venv (`CADRL_CQ_PYTHON`,
//! from `scripts/bootstrap.sh`); fails when it is missing.
#![allow(clippy::unwrap_used)]

use cadrl::pipeline::vision::{Target, targets_for};
use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/gencad-dev");
const GRID: usize = 4;

/// Reads `cases.jsonl` lines on stdin; prints one JSON line per case: proportions,
/// fill and the occupancy grid (2x2x2 points per cell, the native lattice).
const ORACLE: &str = r#"
import json, sys
import cadquery as cq
from OCP.Bnd import Bnd_Box
from OCP.BRepBndLib import BRepBndLib
G = int(sys.argv[1]); M = 2 * G
for line in sys.stdin:
    case = json.loads(line)
    env = {}
    exec(case["code"], env)
    shape = env["solid"].val()
    box = Bnd_Box()
    BRepBndLib.AddOptimal_s(shape.wrapped, box, False, False)
    x0, y0, z0, x1, y1, z1 = box.Get()
    lo, hi = (x0, y0, z0), (x1, y1, z1)
    side = [h - l for l, h in zip(lo, hi)]
    longest = max(side)
    occ = [0.0] * (G * G * G)
    at = lambda i, a, b: a + (b - a) * (i + 0.5) / M
    for ix in range(M):
        for iy in range(M):
            for iz in range(M):
                p = cq.Vector(at(ix, lo[0], hi[0]), at(iy, lo[1], hi[1]), at(iz, lo[2], hi[2]))
                if shape.isInside(p, 1e-9):
                    occ[(ix // 2 * G + iy // 2) * G + iz // 2] += 0.125
    vol = shape.Volume()
    print(json.dumps({"id": case["id"], "prop": [s / longest for s in side],
                      "fill": vol / (side[0] * side[1] * side[2]), "occ": occ}), flush=True)
"#;

#[test]
fn targets_agree_with_cadquery_on_the_fixture_programs() {
    let py = std::env::var("CADRL_CQ_PYTHON").unwrap_or_else(|_| {
        format!("{}/.cache/cadrl/cq-2.8.0/bin/python", std::env::var("HOME").unwrap_or_default())
    });
    assert!(std::path::Path::new(&py).exists(), "needs CadQuery 2.8 at {py} (scripts/bootstrap.sh)");
    let cases = std::fs::read_to_string(format!("{FIXTURES}/cases.jsonl")).unwrap();
    let out = Command::new(&py)
        .args(["-c", ORACLE, &GRID.to_string()])
        .stdin(std::fs::File::open(format!("{FIXTURES}/cases.jsonl")).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let oracle: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let targets = [Target::Proportions, Target::Fill, Target::Occupancy];
    let mut compared = 0;
    for (line, o) in cases.lines().zip(&oracle) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = case["id"].as_str().unwrap();
        assert_eq!(o["id"].as_str(), Some(id));
        let Ok(t) = targets_for(case["code"].as_str().unwrap(), "solid", &targets, GRID) else {
            // the fixtures whose programs OCCT turns into invalid solids are exec errors
            // natively (rewards/tests/fixtures.rs pins which); nothing to compare
            continue;
        };
        let f = |v: &serde_json::Value| v.as_f64().unwrap() as f32;
        for (k, p) in o["prop"].as_array().unwrap().iter().enumerate() {
            assert!((t[k] - f(p)).abs() < 2e-3, "{id}: proportion {k} {} vs OCCT {}", t[k], f(p));
        }
        assert!((t[3] - f(&o["fill"])).abs() < 5e-3, "{id}: fill {} vs OCCT {}", t[3], f(&o["fill"]));
        let occ: Vec<f32> = o["occ"].as_array().unwrap().iter().map(f).collect();
        let diff: f32 = t[4..].iter().zip(&occ).map(|(a, b)| (a - b).abs()).sum::<f32>() / occ.len() as f32;
        // a lattice point may sit on a face, where inside/outside is a matter of tolerance
        assert!(
            diff <= 0.01,
            "{id}: occupancy differs by {diff} per cell\nnative {:?}\nOCCT   {occ:?}",
            &t[4..]
        );
        compared += 1;
    }
    assert!(compared >= 14, "only {compared} fixtures compared");
}
