//! Throughput of the sandboxed OCCT worker pool against a plain in-process CadQuery
//! loop on the same programs (the GenCAD-Code fixtures: references and perturbed
//! candidates).
//!
//! `cargo bench -p cadrl-rewards --bench occt_pool` runs criterion on one batch of
//! all programs through a warm pool of 2 workers (`pool_2_workers`) and of 1 worker
//! (`pool_1_worker`), then runs `occt_loop.py` (same work per program: exec,
//! validity, volume, area, bbox, tessellation; no process, pipes, JSON or sandbox)
//! with the CadQuery venv (`CADRL_CQ_PYTHON`), alone and as two processes side by side,
//! and prints jobs/s of each and the pool's overhead: 1 - pool rate / loop rate with as
//! many loops as workers running at once (so both sides share the cores, caches and
//! clock the same way). Target: under 10 % (needs as many idle cores as workers).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cadrl_rewards::exec::Executor;
use cadrl_rewards::occt::{OcctExecutor, OcctOptions, default_python};
use criterion::{Criterion, Throughput};

fn programs() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/gencad-dev/cases.jsonl");
    let text = std::fs::read_to_string(path).expect("fixtures beside the checkout");
    let mut out = Vec::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(l).expect("json");
        for k in ["code", "candidate"] {
            out.push(v[k].as_str().unwrap_or("").to_owned());
        }
    }
    out
}

/// Runs `copies` plain loops (`occt_loop.py`) at the same time, each over all programs,
/// and returns each one's best seconds per job.
fn loop_per_job(progs: &[String], copies: usize) -> Vec<f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/occt_loop.py");
    let children: Vec<_> = (0..copies)
        .map(|_| {
            let mut child = Command::new(default_python())
                .arg(script)
                .arg("5")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("run occt_loop.py with the CadQuery venv");
            let mut sin = child.stdin.take().expect("stdin");
            for p in progs {
                writeln!(sin, "{}", serde_json::json!({ "code": p })).expect("write");
            }
            child
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().expect("occt_loop.py");
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("occt_loop.py output");
            v["per_job_s"].as_f64().expect("per_job_s")
        })
        .collect()
}

fn best_rate(ex: &OcctExecutor, refs: &[&str], passes: usize) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..passes {
        let t = Instant::now();
        let outs = ex.execute(refs, "solid").expect("pool");
        let valid = outs.iter().filter(|o| o.is_valid()).count();
        assert!(valid * 10 >= refs.len() * 8, "most fixture programs are valid ({valid} of {})", refs.len());
        best = best.max(refs.len() as f64 / t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let progs = programs();
    let refs: Vec<&str> = progs.iter().map(String::as_str).collect();
    let opts = |workers| OcctOptions { workers, timeout: Duration::from_secs(60), ..OcctOptions::default() };
    let pool2 = OcctExecutor::new(opts(2)).expect("start a pool of 2 workers");
    let pool1 = OcctExecutor::new(opts(1)).expect("start a pool of 1 worker");
    let mut c =
        Criterion::default().configure_from_args().sample_size(10).measurement_time(Duration::from_secs(10));
    let mut g = c.benchmark_group("occt");
    g.throughput(Throughput::Elements(refs.len() as u64));
    g.bench_function("pool_2_workers", |b| b.iter(|| pool2.execute(&refs, "solid").expect("pool")));
    g.bench_function("pool_1_worker", |b| b.iter(|| pool1.execute(&refs, "solid").expect("pool")));
    g.finish();
    c.final_summary();

    let lr = 1.0 / loop_per_job(&progs, 1)[0];
    let lr2: f64 = loop_per_job(&progs, 2).iter().map(|s| 1.0 / s).sum();
    let (r2, r1) = (best_rate(&pool2, &refs, 5), best_rate(&pool1, &refs, 5));
    println!("\nsandbox: {}", pool2.support().describe());
    println!("plain in-process CadQuery loop: {lr:.1} jobs/s (one process)");
    println!("two plain loops side by side:   {lr2:.1} jobs/s (two processes, as many cores)");
    println!("pool, 1 worker:  {r1:.1} jobs/s, overhead {:.1} % vs one loop", 100.0 * (1.0 - r1 / lr));
    println!(
        "pool, 2 workers: {r2:.1} jobs/s, overhead {:.1} % vs two loops side by side ({:.1} % vs 2 x one loop)",
        100.0 * (1.0 - r2 / lr2),
        100.0 * (1.0 - r2 / (2.0 * lr))
    );
}
