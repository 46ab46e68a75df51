//! `cadrl score` and `cadrl render` as a user runs them.

use std::process::Command;

fn cadrl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cadrl"))
}

const CUBE: &str = "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 1)\n";
const SHIFTED: &str = "import cadquery as cq\nsolid = cq.Workplane('XY', origin=(0.5, 0, 0)).box(1, 1, 1)\n";

#[test]
fn score_keeps_order_reports_bad_lines_and_nulls() {
    let dir = std::env::temp_dir().join(format!("cadrl-score-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let pairs = dir.join("pairs.jsonl");
    let lines = [
        serde_json::json!({"id": "same", "a": CUBE, "b": CUBE}).to_string(),
        "{not json".to_string(),
        serde_json::json!({"id": "shift", "a": SHIFTED, "b": CUBE}).to_string(),
        serde_json::json!({"id": 7, "a": "solid = (", "b": CUBE}).to_string(),
        serde_json::json!({"id": "nob", "a": CUBE}).to_string(),
    ];
    std::fs::write(&pairs, lines.join("\n")).expect("write");
    let out = dir.join("out.jsonl");
    let res =
        cadrl().args(["score", "--pairs"]).arg(&pairs).arg("--out").arg(&out).output().expect("run cadrl");
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(stderr.contains("pairs.jsonl:2: malformed pair"), "{stderr}");
    assert!(
        stderr.contains("pairs.jsonl:5: malformed pair") && stderr.contains("missing field `b`"),
        "{stderr}"
    );
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .expect("out")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["id"], "same");
    assert_eq!(rows[0]["iou"], 1.0);
    assert!((rows[0]["volume_a"].as_f64().expect("vol") - 1.0).abs() < 1e-6);
    assert!((rows[1]["iou"].as_f64().expect("iou") - 1.0 / 3.0).abs() < 1e-9);
    assert!(rows[1]["chamfer"].as_f64().expect("cd") < 1e-3, "same shape after normalisation");
    assert_eq!(rows[2]["id"], 7);
    assert_eq!(rows[2]["valid_a"], false);
    assert!(rows[2]["iou"].is_null() && rows[2]["volume_a"].is_null() && rows[2]["chamfer"].is_null());
    assert!(rows[2]["error_a"].as_str().expect("err").starts_with("syntax_error: line 1"), "{}", rows[2]);
    assert_eq!(rows[2]["valid_b"], true);
    let bbox = cadrl()
        .args(["score", "--iou-mode", "bbox", "--no-chamfer", "--pairs"])
        .arg(&pairs)
        .output()
        .expect("run");
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&bbox.stdout).lines().nth(1).expect("row"))
            .expect("json");
    assert_eq!(first["iou"], 1.0, "bbox mode ignores the shift");
    let bad = cadrl().args(["score", "--iou-mode", "voxels", "--pairs"]).arg(&pairs).output().expect("run");
    assert!(
        !bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("unknown IoU mode `voxels`")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn render_writes_a_gencad_style_png_and_explains_failures() {
    let dir = std::env::temp_dir().join(format!("cadrl-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let prog = dir.join("cube.py");
    std::fs::write(&prog, CUBE).expect("write");
    let png = dir.join("cube.png");
    let res = cadrl().arg("render").arg(&prog).arg("-o").arg(&png).output().expect("run");
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let img = image::open(&png).expect("png").to_rgb8();
    assert_eq!(img.dimensions(), (448, 448));
    // a cube's projected bounding box is its silhouette: fitted to 300 px tall
    let rows: Vec<u32> =
        img.enumerate_pixels().filter(|(_, _, p)| p.0 != [255, 255, 255]).map(|(_, y, _)| y).collect();
    let (top, bottom) = (rows.iter().min().copied().unwrap_or(0), rows.iter().max().copied().unwrap_or(0));
    assert!((bottom - top) as i32 - 299 <= 1 && (bottom - top) >= 298, "{top}..{bottom}");
    let broken = dir.join("broken.py");
    std::fs::write(&broken, "import cadquery as cq\nsolid = cq.Workplane('XY').circle(-1).extrude(1)\n")
        .expect("write");
    let res = cadrl().arg("render").arg(&broken).arg("-o").arg(dir.join("x.png")).output().expect("run");
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains("broken.py") && err.contains("exec_error: line 2") && err.contains("radius"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
