//! What the benchmarks against transformers share (`vs_transformers.rs` here and the
//! workspace's `benches/rollout.rs`, which includes this file by path): the Python
//! with torch + transformers, the thread count, the small random Qwen2.5-VL they both
//! time, running a Python side, and criterion's mean time of a benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the including crate's nearest ancestor with `Cargo.lock`: this
/// file is compiled into benches of two crates).
fn workspace() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find(|d| d.join("Cargo.lock").is_file()).unwrap_or(here).to_path_buf()
}

/// The workspace's `target/` directory.
pub fn target_dir() -> PathBuf {
    workspace().join("target")
}

/// `$CADRL_TORCH_PYTHON`, else the set-up's torch venv.
pub fn python() -> PathBuf {
    std::env::var("CADRL_TORCH_PYTHON").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cadrl/torch-2.11.0/bin/python")
    })
}

/// `$CADRL_BENCH_THREADS` (default 1: on a shared 2-core machine libtorch's spinning
/// threads make timings meaningless), also set as libtorch's thread count.
pub fn threads() -> usize {
    let n = std::env::var("CADRL_BENCH_THREADS").ok().and_then(|x| x.parse().ok()).unwrap_or(1);
    cadrl_backend_tch::set_num_threads(n);
    n
}

/// The benchmarks' small random checkpoint (decoder 4x256, vision 4x128, Qwen's
/// 151936-token vocabulary), made once by `tests/python/make_bench.py`, and its 448x448
/// test image: `(model dir, image)`.
pub fn bench_model() -> (PathBuf, PathBuf) {
    let dir = target_dir().join("tmp/cadrl-bench-v3");
    if !dir.join("bench-small/model.safetensors").exists() {
        let script = workspace().join("backends/tch/tests/python/make_bench.py");
        let out = Command::new(python()).arg(script).arg(&dir).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    (dir.join("bench-small"), dir.join("images/img0_448x448.png"))
}

/// Run a Python side of a benchmark and read the JSON object on its last output line.
pub fn run_python(script: &Path, args: &[String]) -> serde_json::Value {
    let out = Command::new(python()).arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(out.stdout.split(|&b| b == b'\n').rfind(|l| !l.is_empty()).unwrap()).unwrap()
}

/// Criterion's mean time of benchmark `name`, in seconds.
pub fn criterion_mean_s(name: &str) -> f64 {
    let p = target_dir().join("criterion").join(name).join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["mean"]["point_estimate"].as_f64().unwrap() / 1e9
}
