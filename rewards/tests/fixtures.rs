//! The 17 real GenCAD-Code programs in `../shared/fixtures/gencad-dev`, against the
//! CadQuery/OCCT ground truth stored with them.
#![allow(clippy::unwrap_used)]

use cadrl_rewards::exec::{Outcome, execute_native};
use cadrl_rewards::geom::{mass_props, overlap};

fn cases() -> Vec<serde_json::Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/gencad-dev/cases.jsonl");
    let text = std::fs::read_to_string(path).expect("fixtures present beside the checkout");
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("json")).collect()
}

fn solid(code: &str) -> std::sync::Arc<cadrl_rewards::geom::Solid> {
    match execute_native(code, "solid") {
        Outcome::Valid(s) => s,
        other => panic!("not valid: {:?}", other.reason()),
    }
}

#[test]
fn volumes_bboxes_and_iou_match_occt() {
    let mut worst_v: f64 = 0.0;
    let mut worst_iou: f64 = 0.0;
    for c in cases() {
        let id = c["id"].as_str().unwrap();
        let a = solid(c["code"].as_str().unwrap());
        let cand = execute_native(c["candidate"].as_str().unwrap(), "solid");
        let b = match (id, &cand) {
            (_, Outcome::Valid(b)) => b.clone(),
            // Perturbed candidates whose profile crosses itself: OCCT builds a solid that
            // fails BRepCheck (`isValid() == False`) here, but not in every such case
            // (the differential tester found valid ones), so native leaves it to OCCT.
            ("00966577" | "00129614", Outcome::Unsupported { construct, .. }) => {
                assert!(construct.contains("crosses itself"), "{id}: {construct}");
                continue;
            }
            // Two loops of one sketch cross; OCCT splits them into several faces in a way
            // we do not model, so the native executor says so instead of guessing.
            ("00812431", Outcome::Unsupported { construct, .. }) => {
                assert!(construct.contains("cross"), "{id}: {construct}");
                continue;
            }
            (_, other) => panic!("{id}: candidate not valid: {:?}", other.reason()),
        };
        let props = mass_props(&a);
        let vol = c["occt_volume"].as_f64().unwrap();
        let rel = (props.volume - vol).abs() / vol;
        let bb: Vec<f64> = c["occt_bbox"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let ours = [
            props.bbox.min.x,
            props.bbox.min.y,
            props.bbox.min.z,
            props.bbox.max.x,
            props.bbox.max.y,
            props.bbox.max.z,
        ];
        let bb_err = ours.iter().zip(&bb).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let o = overlap(&a, &b);
        let iou_err = (o.iou() - c["occt_iou"].as_f64().unwrap()).abs();
        let cvol = c["occt_candidate_volume"].as_f64().unwrap();
        let crel = (o.volume_b - cvol).abs() / cvol;
        println!(
            "{id}: vol rel err {rel:.2e} cand {crel:.2e} bbox err {bb_err:.2e} iou {:.4} vs {:.4} (err {iou_err:.2e})",
            o.iou(),
            c["occt_iou"]
        );
        worst_v = worst_v.max(rel).max(crel);
        worst_iou = worst_iou.max(iou_err);
        assert!(bb_err < 1e-6, "{id}: bbox {ours:?} vs {bb:?}");
    }
    println!("worst volume rel err {worst_v:.2e}, worst iou err {worst_iou:.2e}");
    assert!(worst_v < 0.005, "volume within 0.5%");
    assert!(worst_iou < 0.005, "IoU within 0.005");
}
