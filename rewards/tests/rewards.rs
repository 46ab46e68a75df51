//! The reward registry and the built-in rewards.

use cadrl_rewards::exec::{Outcome, execute_native};
use cadrl_rewards::reward::{REGISTRY, Rollout, build};
use serde_json::json;

const CUBE: &str = "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 1)\n";
const HALF: &str =
    "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 0.5, centered=(True, True, False))\n";

fn outcomes(progs: &[&str]) -> Vec<Outcome> {
    progs.iter().map(|p| execute_native(p, "solid")).collect()
}

#[test]
fn registry_builds_every_reward_and_rejects_unknown_names() {
    for (name, _, _) in REGISTRY {
        let params = if *name == "composite" { json!({"parts": [{"kind": "valid"}]}) } else { json!({}) };
        let r = build(name, params).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.name(), *name);
    }
    let err = build("iuo", json!({})).err().unwrap_or_default();
    assert!(err.contains("unknown reward `iuo`") && err.contains("iou"), "{err}");
    let err = build("iou", json!({"mdoe": "bbox"})).err().unwrap_or_default();
    assert!(err.contains("mdoe"), "unknown parameter named: {err}");
    let err = build("composite", json!({"parts": []})).err().unwrap_or_default();
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn broken_programs_score_with_reasons_not_errors() {
    let progs = [
        CUBE,
        "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1\n",
        "import os\nos.system('true')\n",
        "import cadquery as cq\nsolid = undefined_name\n",
        "",
    ];
    let outs = outcomes(&progs);
    let reference = execute_native(CUBE, "solid");
    let reference = reference.solid().map(|s| &**s);
    let batch: Vec<Rollout> =
        progs.iter().zip(&outs).map(|(c, o)| Rollout { id: "x", code: c, outcome: o, reference }).collect();
    let iou = build("iou", json!({"invalid": -1.0})).expect("iou");
    let scores = iou.score(&batch);
    assert_eq!(scores[0].value, 1.0);
    assert!(scores[0].reason.is_none());
    for (s, want) in scores[1..].iter().zip(["syntax_error", "unsupported", "exec_error", "exec_error"]) {
        assert_eq!(s.value, -1.0);
        let reason = s.reason.clone().unwrap_or_default();
        assert!(reason.starts_with(want), "{reason} should start with {want}");
    }
    let valid = build("valid", json!({})).expect("valid").score(&batch);
    assert_eq!(valid.iter().map(|s| s.value).collect::<Vec<_>>(), vec![1.0, 0.0, 0.0, 0.0, 0.0]);
    // a syntax error did not parse; an unsupported import did
    assert_eq!(valid[1].parts, vec![("syntax_ok", 0.0), ("exec_ok", 0.0)]);
    assert_eq!(valid[2].parts, vec![("syntax_ok", 1.0), ("exec_ok", 0.0)]);
}

#[test]
fn composite_weights_and_logs_parts() {
    let outs = outcomes(&[HALF]);
    let reference = execute_native(CUBE, "solid");
    let batch =
        [Rollout { id: "a", code: HALF, outcome: &outs[0], reference: reference.solid().map(|s| &**s) }];
    let r = build("composite", json!({"parts": [{"kind": "iou", "weight": 1.0}, {"kind": "valid", "weight": 0.1}, {"kind": "iou", "mode": "bbox", "weight": 0.0}]}))
        .expect("composite");
    let s = &r.score(&batch)[0];
    // the half box sits in the top half of the centred cube: IoU 0.5
    assert!((s.value - (0.5 + 0.1)).abs() < 1e-9, "{s:?}");
    assert_eq!(s.parts.len(), 3);
    assert!((s.parts[0].1 - 0.5).abs() < 1e-9 && s.parts[1] == ("valid", 1.0));
    let cd = build("chamfer", json!({})).expect("chamfer").score(&batch);
    let part = cd[0].parts[0];
    assert_eq!(part.0, "cd_x1000");
    assert!((cd[0].value - 1.0 / (1.0 + part.1)).abs() < 1e-12);
}

#[test]
fn chamfer_batch_shares_reference_samples_and_matches_per_pair_values() {
    let progs =
        [HALF, CUBE, "import cadquery as cq\nsolid = cq.Workplane('XY').circle(0.5).extrude(2)\n", "x = ("];
    let outs = outcomes(&progs);
    let (cube, half) = (execute_native(CUBE, "solid"), execute_native(HALF, "solid"));
    let (rc, rh) = (cube.solid().map(|s| &**s), half.solid().map(|s| &**s));
    // three candidates against the cube, then the same three against the half box
    let mut batch: Vec<Rollout> = progs
        .iter()
        .zip(&outs)
        .map(|(c, o)| Rollout { id: "c", code: c, outcome: o, reference: rc })
        .collect();
    batch.extend(progs.iter().zip(&outs).map(|(c, o)| Rollout {
        id: "h",
        code: c,
        outcome: o,
        reference: rh,
    }));
    let scores = build("chamfer", json!({"invalid": -1.0})).expect("chamfer").score(&batch);
    for (r, s) in batch.iter().zip(&scores) {
        match (r.outcome.solid(), r.reference) {
            (Some(a), Some(b)) => {
                let cd = cadrl_rewards::metrics::chamfer(a, b).expect("cd");
                assert_eq!(s.parts, vec![("cd_x1000", 1000.0 * cd)], "the same bits as chamfer(a, b)");
            }
            _ => assert_eq!(s.value, -1.0),
        }
    }
    assert!(scores[1].value > scores[2].value, "the cube is closer to itself than the cylinder is");
}

#[test]
fn missing_reference_is_a_penalty() {
    let outs = outcomes(&[CUBE]);
    let batch = [Rollout { id: "a", code: CUBE, outcome: &outs[0], reference: None }];
    let s = &build("iou", json!({"invalid": -0.5})).expect("iou").score(&batch)[0];
    assert_eq!(s.value, -0.5);
    assert_eq!(s.reason.as_deref(), Some("no reference solid"));
}
