//! Quick single-thread timing: `speed iou|bbox|inertia|chamfer|exec N` (use the process's user CPU
//! time when the machine is busy).
#![allow(clippy::unwrap_used)]
fn main() {
    let mode = std::env::args().nth(1).unwrap_or("iou".into());
    let n: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/gencad-dev/cases.jsonl"
    ))
    .unwrap();
    let cases: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let pairs: Vec<(String, String)> = cases
        .iter()
        .map(|c| (c["code"].as_str().unwrap().to_string(), c["candidate"].as_str().unwrap().to_string()))
        .collect();
    let t = std::time::Instant::now();
    let mut acc = 0.0;
    let mut m = 0;
    for _ in 0..n {
        for (a, b) in &pairs {
            let oa = cadrl_rewards::exec::execute_native(a, "solid");
            let ob = cadrl_rewards::exec::execute_native(b, "solid");
            m += 1;
            if let (Some(x), Some(y)) = (oa.solid(), ob.solid()) {
                acc += match mode.as_str() {
                    "iou" => cadrl_rewards::metrics::iou(x, y, cadrl_rewards::metrics::IouMode::InPlace),
                    "bbox" => cadrl_rewards::metrics::iou(x, y, cadrl_rewards::metrics::IouMode::Bbox),
                    "inertia" => cadrl_rewards::metrics::iou(x, y, cadrl_rewards::metrics::IouMode::Inertia),
                    "chamfer" => cadrl_rewards::metrics::chamfer(x, y).unwrap_or(0.0),
                    _ => 0.0,
                };
            }
        }
    }
    println!("{mode}: {m} pairs, wall {:.3} ms/pair ({acc})", t.elapsed().as_secs_f64() * 1e3 / m as f64);
}
