//! The device check (`scripts/gpu_check.sh`) on the CPU with the small configuration, as a
//! user without a GPU (and CI) runs it: every phase on cadrl and on transformers (+PEFT),
//! the comparisons, and `recipes/dpo_iou.toml` end to end, with a report.
#![allow(clippy::unwrap_used)]
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gpu_check");
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn device_check_runs_on_the_cpu_and_agrees_with_transformers() {
    let py = std::env::var("CADRL_TORCH_PYTHON").expect("CADRL_TORCH_PYTHON (scripts/bootstrap.sh --env)");
    let out = out_dir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = Command::new("bash")
        .arg(root.join("scripts/gpu_check.sh"))
        .args(["--device", "cpu", "--quick", "--cadrl", env!("CARGO_BIN_EXE_cadrl"), "--out"])
        .arg(&out)
        .env("CADRL_CHECK_PYTHON", &py)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "gpu_check failed:\n{log}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["failures"].as_array().unwrap().len(), 0, "{}", r["failures"]);
    let c = &r["configs"]["small"]["compare"];
    // f32: the same numbers as transformers (as the parity tests, on another checkpoint)
    assert!(c["f32"]["mean_abs_diff"].as_f64().unwrap() <= 1e-4, "{}", c["f32"]);
    assert!(c["f32"]["max_abs_diff"].as_f64().unwrap() <= 1e-3, "{}", c["f32"]);
    assert_eq!(c["greedy"]["identical"], true, "{}", c["greedy"]);
    // bf16: as close to f32 as transformers' own bf16 is
    let ours = c["bf16_cadrl_vs_f32"]["mean_abs_diff"].as_f64().unwrap();
    let theirs = c["bf16_transformers_vs_f32"]["mean_abs_diff"].as_f64().unwrap();
    assert!(ours <= 1.5 * theirs, "bf16 error {ours} vs transformers' {theirs}");
    for k in ["sft", "dpo", "sample"] {
        let x = &c[k];
        assert!(
            x["cadrl_mib"].as_f64().unwrap() > 0.0 && x["transformers_mib"].as_f64().unwrap() > 0.0,
            "{k}: {x}"
        );
        let ratio = if k == "sample" { &x["tokens_per_s_ratio"] } else { &x["time_ratio"] };
        assert!(ratio.as_f64().unwrap() > 0.0, "{k}: {x}");
    }
    // every stage of the recipe ran, and DPO trained on pairs
    let rec = &r["recipe"];
    assert_eq!(rec["ok"], true, "{rec}");
    let stages = rec["stages"].as_object().unwrap();
    let names: Vec<&str> = stages.keys().map(String::as_str).collect();
    assert_eq!(names, ["00-sft", "01-eval", "02-sample-r0", "03-dpo-r0", "04-eval"], "{rec}");
    assert!(stages["02-sample-r0"]["sample/pairs"].as_f64().unwrap() > 0.0, "{rec}");
    assert!(stages["03-dpo-r0"]["train/loss"].as_f64().unwrap().is_finite(), "{rec}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| LoRA SFT step (s) |") && md.contains("end to end (small)"), "{md}");
}
