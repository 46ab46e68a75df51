//! `cadrl difftest` as a user runs it: a short run against real CadQuery writes its
//! findings and summaries, and a replay of the same seed finds the same thing.

use std::process::Command;

fn cadrl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cadrl"))
}

fn run(out: &std::path::Path) -> serde_json::Value {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/gencad-dev/cases.jsonl");
    let o = cadrl()
        .args(["difftest", "--count", "24", "--seed", "7", "--batch", "8", "--shrink", "1", "--workers", "2"])
        .args(["--fixtures", fixtures, "--out"])
        .arg(out)
        .output()
        .expect("run cadrl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary is JSON")
}

#[test]
fn difftest_writes_findings_and_replays() {
    let dir = std::env::temp_dir().join(format!("cadrl-difftest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = run(&dir.join("a"));
    assert_eq!(s["cases"], 24);
    let programs = s["programs"].as_u64().expect("programs");
    assert!(programs >= 24, "{s}");
    // every program lands in one (native, occt) outcome cell
    let cells: u64 = s["outcomes"].as_object().expect("outcomes").values().filter_map(|v| v.as_u64()).sum();
    assert_eq!(cells, programs);
    assert!(
        s["outcomes"].as_object().expect("outcomes").keys().any(|k| k == "native valid / occt valid"),
        "{s}"
    );
    let md = std::fs::read_to_string(dir.join("a/summary.md")).expect("summary.md");
    assert!(md.contains("distinct programs"), "{md}");
    // each finding is one JSON line with its class and program
    let findings = std::fs::read_to_string(dir.join("a/findings.jsonl")).expect("findings.jsonl");
    for line in findings.lines() {
        let f: serde_json::Value = serde_json::from_str(line).expect("a finding is JSON");
        assert!(f["class"].is_string() && f["program"].is_string(), "{f}");
    }
    assert!(findings.lines().count() as u64 >= s["disagreeing"].as_u64().expect("n"));
    // the same seed draws the same cases and reaches the same verdicts
    let t = run(&dir.join("b"));
    assert_eq!(s["outcomes"], t["outcomes"]);
    assert_eq!(s["classes"].as_object().map(|c| c.len()), t["classes"].as_object().map(|c| c.len()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn difftest_refuses_a_run_without_an_end() {
    let o = cadrl().args(["difftest", "--out", "/nonexistent/x"]).output().expect("run cadrl");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--minutes or --count"));
}
