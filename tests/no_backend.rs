//! `cadrl` built without the libtorch backend (`cargo build --no-default-features`) on a
//! machine with no torch: the model-free commands work, the model ones say what is missing.
//!
//! The build goes to its own target directory (`target/nobackend`), and every command runs
//! with a cleared environment: `PATH=/usr/bin:/bin` (no torch venv) and an empty
//! `LD_LIBRARY_PATH`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary built without default features (once per test binary).
fn bare_cadrl() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"))
            .join("nobackend");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--locked", "--no-default-features", "--bin", "cadrl"])
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("LIBTORCH")
            .env_remove("LIBTORCH_USE_PYTORCH")
            .env_remove("LIBTORCH_BYPASS_VERSION_CHECK")
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "cargo build --no-default-features:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("debug").join("cadrl")
    })
}

/// Run the bare binary in `dir` with a cleared environment.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(bare_cadrl())
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LD_LIBRARY_PATH", "")
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("run cadrl")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fixtures() -> PathBuf {
    root().join("../shared/fixtures/gencad-dev/cases.jsonl")
}

#[test]
fn the_bare_binary_links_no_libtorch() {
    let bytes = std::fs::read(bare_cadrl()).expect("binary");
    // a libtorch-linked binary names its libraries (DT_NEEDED) and the rpath to them
    for needle in [&b"libtorch_cpu"[..], b"libc10"] {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{}", String::from_utf8_lossy(needle));
    }
}

#[test]
fn score_eval_of_predictions_render_and_check_work_without_torch() {
    let dir = std::env::temp_dir().join(format!("cadrl-nobackend-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let cases: Vec<serde_json::Value> = std::fs::read_to_string(fixtures())
        .expect("fixtures")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    // score: each fixture's candidate against its reference
    let pairs: Vec<String> = cases
        .iter()
        .map(|c| serde_json::json!({"id": c["id"], "a": c["candidate"], "b": c["code"]}).to_string())
        .collect();
    std::fs::write(dir.join("pairs.jsonl"), pairs.join("\n")).expect("write");
    ok(&run(&dir, &["score", "--pairs", "pairs.jsonl", "--out", "scores.jsonl", "--no-chamfer"]));
    let scores: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("scores.jsonl"))
        .expect("scores")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(scores.len(), cases.len());
    // the same numbers as the library computes in this (default-feature) test binary
    let c0 = &cases[0];
    let (a, b) = (c0["candidate"].as_str().expect("a"), c0["code"].as_str().expect("b"));
    let (sa, sb) =
        (cadrl::rewards::exec::execute_native(a, "solid"), cadrl::rewards::exec::execute_native(b, "solid"));
    let j = cadrl::rewards::metrics::iou(sa.solid().expect("a"), sb.solid().expect("b"), Default::default());
    let got = scores[0]["iou"].as_f64().expect("iou");
    assert!((got - j).abs() < 1e-12, "{got} vs {j}");

    // eval of a file of predictions: the candidates as predictions
    let preds: Vec<String> = cases
        .iter()
        .map(|c| serde_json::json!({"id": c["id"], "prediction": c["candidate"]}).to_string())
        .collect();
    std::fs::write(dir.join("preds.jsonl"), preds.join("\n")).expect("write");
    let data = fixtures().display().to_string();
    ok(&run(&dir, &["eval", "--data", &data, "--predictions", "preds.jsonl", "--out", "eval/report.json"]));
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("eval/report.json")).expect("report"))
            .expect("json");
    let valid: Vec<f64> = scores.iter().filter_map(|s| s["iou"].as_f64()).collect();
    assert_eq!(rep["n"].as_u64(), Some(cases.len() as u64), "{rep}");
    let mean = scores.iter().map(|s| s["iou"].as_f64().unwrap_or(0.0)).sum::<f64>() / cases.len() as f64;
    assert!((rep["iou_mean"].as_f64().expect("iou_mean") - mean).abs() < 1e-9, "{rep} vs {mean}");
    assert_eq!(rep["vsr"].as_f64(), Some(valid.len() as f64 / cases.len() as f64), "{rep}");
    assert!(dir.join("eval/eval.jsonl").is_file());
    // a prediction file that misses samples is an error naming the file
    std::fs::write(dir.join("short.jsonl"), &preds[0]).expect("write");
    let short = run(&dir, &["eval", "--data", &data, "--predictions", "short.jsonl"]);
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("short.jsonl: no prediction for"));

    // render
    std::fs::write(dir.join("part.py"), a).expect("write");
    ok(&run(&dir, &["render", "part.py", "--out", "part.png"]));
    assert!(image::open(dir.join("part.png")).expect("png").width() == 448);

    // recipe check needs no backend; recipe run and a model eval say what is missing
    let tiny = root().join("recipes/tiny.toml").display().to_string();
    ok(&run(&dir, &["recipe", "check", &tiny]));
    for args in [
        vec!["recipe", "run", tiny.as_str(), "--quiet"],
        vec!["eval", "--data", &data, "--model", "some/model"],
    ] {
        let o = run(&dir, &args);
        assert!(!o.status.success(), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("built without a model backend"), "{args:?}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
