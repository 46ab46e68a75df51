//! Scoring speed on realistic pairs (the GenCAD-Code fixtures: ground truth vs. a
//! perturbed candidate), beside real CadQuery/OCCT on the same pairs.
//!
//! `cargo bench -p cadrl-rewards --bench score` runs criterion on:
//! - `iou_valid`: parse + run both programs natively, in-place IoU (one core);
//! - `chamfer`: the Chamfer distance of two solids already built (8192 points each).
//!
//! Then it prints the Chamfer time on every instruction set the CPU has (the widest
//! runs by default), and times OCCT's exact boolean IoU on the same pairs with the
//! CadQuery venv (`CADRL_CQ_PYTHON`, default `~/.cache/cadrl/cq-2.8.0/bin/python`):
//! the speed ratio and the mean |IoU - OCCT|; and cadrille's Chamfer pipeline (OCCT
//! mesh, numpy sampling, scipy cKDTree) on the same solids: ratio and agreement.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use cadrl_rewards::exec::{Outcome, execute_native};
use cadrl_rewards::geom::Solid;
use cadrl_rewards::metrics::chamfer::{chamfer_points_on, normalized_samples};
use cadrl_rewards::metrics::nearest::Isa;
use cadrl_rewards::metrics::{CHAMFER_POINTS, IouMode, chamfer, iou};
use cadrl_rewards::reward::{Rollout, build};
use criterion::{Criterion, Throughput};

struct Pair {
    id: String,
    a: String,
    b: String,
}

fn pairs() -> Vec<Pair> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/gencad-dev/cases.jsonl");
    let text = std::fs::read_to_string(path).expect("fixtures beside the checkout");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            Pair {
                id: v["id"].as_str().unwrap_or("").into(),
                a: v["candidate"].as_str().unwrap_or("").into(),
                b: v["code"].as_str().unwrap_or("").into(),
            }
        })
        .collect()
}

fn iou_valid(p: &Pair) -> Option<f64> {
    let (a, b) = (execute_native(&p.a, "solid"), execute_native(&p.b, "solid"));
    match (a, b) {
        (Outcome::Valid(x), Outcome::Valid(y)) => Some(iou(&x, &y, IouMode::InPlace)),
        _ => None,
    }
}

/// Seconds per item of `f` over `items`, the best of `passes` passes.
fn best_per_item<T>(passes: usize, items: &[T], mut f: impl FnMut(&T)) -> f64 {
    (0..passes)
        .map(|_| {
            let t = Instant::now();
            items.iter().for_each(&mut f);
            t.elapsed().as_secs_f64() / items.len().max(1) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let ps = pairs();
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .measurement_time(std::time::Duration::from_secs(4));
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(ps.len() as u64));
    g.bench_function("iou_valid", |b| {
        b.iter(|| {
            ps.iter().for_each(|p| {
                std::hint::black_box(iou_valid(p));
            })
        })
    });
    let solids: Vec<_> = ps
        .iter()
        .filter_map(|p| match (execute_native(&p.a, "solid"), execute_native(&p.b, "solid")) {
            (Outcome::Valid(x), Outcome::Valid(y)) => Some((x, y)),
            _ => None,
        })
        .collect();
    g.throughput(Throughput::Elements(solids.len() as u64));
    g.bench_function("chamfer", |b| {
        b.iter(|| {
            solids.iter().for_each(|(x, y)| {
                std::hint::black_box(chamfer(x, y));
            })
        })
    });
    g.finish();
    c.final_summary();

    // Our per-pair times, best of several passes (same loops as criterion's).
    let ours = best_per_item(5, &ps, |p| {
        std::hint::black_box(iou_valid(p));
    });
    let cd = best_per_item(3, &solids, |(x, y)| {
        std::hint::black_box(chamfer(x, y));
    });
    println!(
        "\nnative: IoU + validity {:.3} ms/pair, Chamfer {:.3} ms/pair (one core, {:?})",
        ours * 1e3,
        cd * 1e3,
        Isa::best()
    );
    // The Chamfer metric on each instruction set this CPU has (same values).
    let mut line = String::from("Chamfer per instruction set:");
    for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512].into_iter().filter(|i| i.available()) {
        let one = |x: &Solid, y: &Solid| {
            let pa = normalized_samples(x, CHAMFER_POINTS, 0)?;
            let pb = normalized_samples(y, CHAMFER_POINTS, 1)?;
            chamfer_points_on(&pa, &pb, isa)
        };
        let t = best_per_item(3, &solids, |(x, y)| {
            std::hint::black_box(one(x, y));
        });
        line += &format!("  {isa:?} {:.3} ms/pair", t * 1e3);
    }
    println!("{line}");
    // Stage 2 scores K candidates of an image against one reference: the reward
    // samples that reference once per batch.
    // (the reward scores in parallel: pinned to one thread, as every number here)
    let reward = build("chamfer", serde_json::json!({})).expect("chamfer reward");
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("thread pool");
    let k8 = one_thread.install(|| {
        best_per_item(3, &solids, |(x, y)| {
            let outcome = Outcome::Valid(x.clone());
            let batch: Vec<Rollout> = (0..8)
                .map(|_| Rollout { id: "c", code: "", outcome: &outcome, reference: Some(&**y) })
                .collect();
            std::hint::black_box(reward.score(&batch));
        })
    }) / 8.0;
    println!(
        "chamfer reward, K = 8 candidates sharing a reference: {:.3} ms per candidate ({:.0}% below chamfer(a, b) per pair)",
        k8 * 1e3,
        100.0 * (1.0 - k8 / cd)
    );

    let py = std::env::var("CADRL_CQ_PYTHON").unwrap_or_else(|_| {
        format!("{}/.cache/cadrl/cq-2.8.0/bin/python", std::env::var("HOME").unwrap_or_default())
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/occt_score.py");
    let child = Command::new(&py).arg(script).arg("3").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn();
    let Ok(mut child) = child else {
        println!("OCCT comparison skipped: cannot run {py} (run scripts/bootstrap.sh)");
        return;
    };
    if let Some(mut stdin) = child.stdin.take() {
        for p in &ps {
            let line = serde_json::json!({"id": p.id, "a": p.a, "b": p.b});
            let _ = writeln!(stdin, "{line}");
        }
    }
    let Ok(out) = child.wait_with_output() else { return };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        println!("OCCT comparison failed: {}", String::from_utf8_lossy(&out.stdout));
        return;
    };
    let occt = v["per_pair_s"].as_f64().unwrap_or(f64::NAN);
    let mut diffs = Vec::new();
    for (p, r) in ps.iter().zip(v["pairs"].as_array().into_iter().flatten()) {
        if let (Some(o), Some(n)) = (r["iou"].as_f64(), iou_valid(p)) {
            diffs.push((o - n).abs());
        }
    }
    let mean = diffs.iter().sum::<f64>() / diffs.len().max(1) as f64;
    println!(
        "OCCT (CadQuery 2.8, exact booleans): {:.3} ms/pair after a {:.2} s import\nratio OCCT / native: {:.0}x   mean |IoU - OCCT| over {} pairs valid in both: {:.5}",
        occt * 1e3,
        v["import_s"].as_f64().unwrap_or(f64::NAN),
        occt / ours,
        diffs.len(),
        mean
    );
    // cadrille's Chamfer (OCCT mesh + scipy cKDTree) on the same solids
    let cd_py = v["chamfer_per_pair_s"].as_f64().unwrap_or(f64::NAN);
    let mut rel = Vec::new();
    for p in &ps {
        let (a, b) = (execute_native(&p.a, "solid"), execute_native(&p.b, "solid"));
        let native = a.solid().zip(b.solid()).and_then(|(x, y)| chamfer(x, y));
        if let (Some(o), Some(n)) = (v["chamfer"][&p.id].as_f64(), native) {
            rel.push((n - o).abs() / o.max(1e-12));
        }
    }
    rel.sort_by(f64::total_cmp);
    println!(
        "cadrille-style Chamfer (OCCT tessellation + numpy sampling + scipy cKDTree): {:.3} ms/pair\nratio cadrille-style / native Chamfer: {:.1}x   relative difference over {} pairs: median {:.3}, worst {:.3} (two independent samplings)",
        cd_py * 1e3,
        cd_py / cd,
        rel.len(),
        rel.get(rel.len() / 2).copied().unwrap_or(f64::NAN),
        rel.last().copied().unwrap_or(f64::NAN)
    );
}
