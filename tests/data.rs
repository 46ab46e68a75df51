//! The JSONL loader, `cadrl data synth` and `cadrl data stats`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use cadrl::data::GENCAD_PROMPT;
use cadrl::data::jsonl::{Loader, OnError};
use cadrl_rewards::exec::execute_native;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/gencad-dev");

fn cadrl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cadrl"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cadrl-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

fn ids(l: &Loader) -> Vec<String> {
    l.iter().expect("open").map(|s| s.expect("row").id).collect()
}

#[test]
fn loader_reads_the_fixtures() {
    let loader = Loader::new(FIXTURES);
    assert!(loader.path().ends_with("cases.jsonl"));
    let mut it = loader.iter().expect("open");
    let rows: Vec<_> = it.by_ref().map(|r| r.expect("fixture row")).collect();
    assert!(it.errors().is_empty());
    assert_eq!(rows.len(), 17);
    assert_eq!(rows[0].id, "00442545");
    for s in &rows {
        assert_eq!(s.image.dimensions(), (448, 448), "{}", s.id);
        assert_eq!(s.prompt, GENCAD_PROMPT);
        assert!(s.code.starts_with("import cadquery as cq\n"));
    }
}

#[test]
fn loader_shuffles_and_subsets_deterministically() {
    let file = Path::new(FIXTURES).join("cases.jsonl");
    let all = ids(&Loader::new(&file));
    let a = ids(&Loader::new(&file).shuffle(3));
    assert_eq!(a, ids(&Loader::new(&file).shuffle(3)), "same seed, same order");
    assert_ne!(a, all, "shuffled");
    assert_ne!(a, ids(&Loader::new(&file).shuffle(4)));
    assert_eq!(a.iter().collect::<BTreeSet<_>>(), all.iter().collect::<BTreeSet<_>>(), "a permutation");
    assert_eq!(ids(&Loader::new(&file).first(5)), all[..5]);
    let r = ids(&Loader::new(&file).random(5, 9));
    assert_eq!(r.len(), 5);
    assert_eq!(r, ids(&Loader::new(&file).random(5, 9)));
    let pos: Vec<usize> = r.iter().map(|id| all.iter().position(|x| x == id).expect("known id")).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "random subset in file order unless shuffled: {pos:?}");
    assert_ne!(r, ids(&Loader::new(&file).random(5, 10)));
    assert_eq!(ids(&Loader::new(&file).random(50, 1)).len(), 17);
    let rs = ids(&Loader::new(&file).random(5, 9).shuffle(1));
    assert_eq!(rs.iter().collect::<BTreeSet<_>>(), r.iter().collect::<BTreeSet<_>>());
}

#[test]
fn loader_reports_corrupt_rows_with_file_and_line() {
    let dir = tmp("corrupt");
    std::fs::create_dir_all(dir.join("images")).expect("images");
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("cases.jsonl")).expect("fixtures");
    let good: Vec<&str> = text.lines().take(3).collect();
    for l in &good {
        let v: serde_json::Value = serde_json::from_str(l).expect("json");
        let img = v["image"].as_str().expect("image");
        std::fs::copy(Path::new(FIXTURES).join(img), dir.join(img)).expect("copy image");
    }
    let mut v: serde_json::Value = serde_json::from_str(good[0]).expect("json");
    let mut no_code = v.clone();
    no_code.as_object_mut().expect("obj").remove("code");
    let mut no_image = v.clone();
    no_image["image"] = "images/nowhere.png".into();
    let mut not_png = v.clone();
    not_png["image"] = "images/text.png".into();
    std::fs::write(dir.join("images/text.png"), "this is not a PNG").expect("write");
    // `cadquery` instead of `code`, numeric id, no prompt: accepted.
    v.as_object_mut().expect("obj").remove("prompt");
    let code = v.as_object_mut().expect("obj").remove("code").expect("code");
    v["cadquery"] = code;
    v["id"] = 7.into();
    let lines: Vec<Vec<u8>> = vec![
        good[0].into(),                          // 1
        b"{\"id\": \"x\", \"image\": ".to_vec(), // 2: bad JSON
        no_code.to_string().into(),              // 3: missing code
        good[1].into(),                          // 4
        no_image.to_string().into(),             // 5: missing image file
        Vec::new(),                              // 6: blank, ignored
        not_png.to_string().into(),              // 7: not a PNG
        b"{\"id\": \"\xff\xfe\"}".to_vec(),      // 8: not UTF-8
        v.to_string().into(),                    // 9
        good[2].into(),                          // 10
    ];
    let file = dir.join("data.jsonl");
    std::fs::write(&file, lines.join(&b'\n')).expect("write");

    let loader = Loader::new(&dir).quiet(true);
    let mut it = loader.iter().expect("open");
    let rows: Vec<_> = it.by_ref().map(|r| r.expect("skip mode yields only samples")).collect();
    assert_eq!(
        rows.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["00442545", "00694405", "7", "00966577"]
    );
    assert_eq!(rows[2].prompt, GENCAD_PROMPT);
    assert!(!rows[2].code.is_empty());
    let errs: Vec<String> = it.errors().iter().map(ToString::to_string).collect();
    let at = |line: usize, what: &str| {
        let pre = format!("{}:{line}: ", file.display());
        assert!(errs.iter().any(|e| e.starts_with(&pre) && e.contains(what)), "{pre}{what} not in {errs:#?}");
    };
    assert_eq!(errs.len(), 5, "{errs:#?}");
    at(2, "bad row");
    at(3, "missing field `code`");
    at(5, "nowhere.png");
    at(7, "not a decodable PNG");
    at(8, "not UTF-8");
    assert_eq!(it.errors().iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3, 5, 7, 8]);

    // Fail mode: the first good row, then the error at line 2, then nothing.
    let mut it = Loader::new(&file).on_error(OnError::Fail).iter().expect("open");
    assert_eq!(it.next().expect("row").expect("good").id, "00442545");
    let e = it.next().expect("error").expect_err("fails at line 2");
    assert_eq!(e.line, 2);
    assert!(e.to_string().starts_with(&format!("{}:2: ", file.display())), "{e}");
    assert!(it.next().is_none());

    // Shuffled passes report the same lines.
    let mut it = Loader::new(&file).shuffle(5).quiet(true).iter().expect("open");
    assert_eq!(it.by_ref().count(), 4);
    let mut lines: Vec<usize> = it.errors().iter().map(|e| e.line).collect();
    lines.sort_unstable();
    assert_eq!(lines, [2, 3, 5, 7, 8]);

    // The CLI reports and skips, or fails with --strict.
    let ok = cadrl().args(["data", "stats"]).arg(&dir).output().expect("run");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(stderr.contains("data.jsonl:3: missing field `code`"), "{stderr}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("| programs | 4 |"));
    let strict = cadrl().args(["data", "stats", "--strict"]).arg(&dir).output().expect("run");
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains("data.jsonl:2: bad row"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn stats(path: &Path) -> serde_json::Value {
    let out = cadrl().args(["data", "stats", "--json"]).arg(path).output().expect("run stats");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["stats"].clone()
}

fn calls(s: &serde_json::Value, m: &str) -> f64 {
    s["calls_mean"]
        .as_array()
        .expect("calls")
        .iter()
        .find(|p| p[0] == m)
        .and_then(|p| p[1].as_f64())
        .expect("method")
}

#[test]
fn synth_is_deterministic_valid_in_style_and_close_to_the_fixtures() {
    let dir = tmp("synth");
    let (a, b) = (dir.join("a"), dir.join("b"));
    for d in [&a, &b] {
        let out = cadrl()
            .args(["data", "synth", "--n", "40", "--seed", "1", "--out"])
            .arg(d)
            .output()
            .expect("run synth");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let read = |d: &Path, rel: &str| std::fs::read(d.join(rel)).expect("read");
    assert_eq!(read(&a, "data.jsonl"), read(&b, "data.jsonl"), "same seed, same JSONL");
    let mut n = 0;
    for s in Loader::new(&a).on_error(OnError::Fail).iter().expect("open") {
        let s = s.expect("synthetic rows load");
        let rel = format!("images/{}.png", s.id);
        assert_eq!(read(&a, &rel), read(&b, &rel), "same seed, same PNG: {rel}");
        let o = execute_native(&s.code, "solid");
        assert!(o.is_valid(), "{}: {:?}\n{}", s.id, o.reason(), s.code);
        assert_eq!(s.image.dimensions(), (448, 448));
        for p in s.image.pixels() {
            assert!(
                matches!(p.0, [255, 255, 255] | [141, 141, 138] | [0, 0, 0]),
                "{}: off-palette pixel {:?}",
                s.id,
                p.0
            );
        }
        // The data set's style.
        assert!(s.code.starts_with("import cadquery as cq\n# Generating a workplane for sketch 0\nwp_sketch0 = cq.Workplane(cq.Plane(cq.Vector("));
        assert!(
            s.code.contains("\nloop0=wp_sketch0.moveTo(") && s.code.contains("\nsolid=solid0\n"),
            "{}",
            s.code
        );
        n += 1;
    }
    assert_eq!(n, 40);
    let other = dir.join("c");
    let out = cadrl()
        .args(["data", "synth", "--n", "5", "--seed", "2", "--out"])
        .arg(&other)
        .output()
        .expect("run synth");
    assert!(out.status.success());
    assert_ne!(
        read(&a, "data.jsonl")[..2000],
        read(&other, "data.jsonl")[..2000],
        "another seed, other programs"
    );

    // Synthetic vs real: per-program means within the stated tolerances.
    let (syn, real) = (stats(&a), stats(Path::new(FIXTURES)));
    assert_eq!(syn["valid_rate"], 1.0);
    assert_eq!(real["valid_rate"], 1.0);
    let close = |what: &str, x: f64, y: f64, tol: f64| {
        assert!((x - y).abs() <= tol * y, "{what}: synthetic {x:.3} vs real {y:.3} (tolerance {tol})");
    };
    for m in ["lineTo", "threePointArc", "circle", "extrude"] {
        close(m, calls(&syn, m), calls(&real, m), 0.5);
    }
    for m in ["moveTo", "close", "add", "Workplane", "Vector"] {
        close(m, calls(&syn, m), calls(&real, m), 0.4);
    }
    close(
        "sketches",
        syn["sketches_mean"].as_f64().expect("f"),
        real["sketches_mean"].as_f64().expect("f"),
        0.4,
    );
    close("chars", syn["chars_mean"].as_f64().expect("f"), real["chars_mean"].as_f64().expect("f"), 0.4);
    let md = cadrl().args(["data", "stats"]).arg(&a).arg(FIXTURES).output().expect("run");
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.starts_with("| metric |") && md.contains("| `threePointArc` / program |"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}
