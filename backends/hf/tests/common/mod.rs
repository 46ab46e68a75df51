//! Shared test helpers: the tiny checkpoints (made once per build dir by the tch backend's
//! `make_tiny.py`, in the same place its tests use) and a policy on them.
#![allow(dead_code, clippy::unwrap_used)]
use cadrl_backend::{DType, DeviceSpec, ModelSpec};
use cadrl_backend_hf::{HfBackend, HfPolicy};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

pub const PROMPT: &str = cadrl_backend::DEFAULT_PROMPT;
/// Log-prob tolerance, nats per token.
pub const TOL: f64 = 1e-4;

pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("CADRL_TORCH_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cadrl/torch-2.11.0/bin/python")
}

/// Directory with tiny-a, tiny-b, tiny-c (each with `ref/`) and images/, made once per
/// build dir and again when the script changes (the same stamp as the tch tests').
pub fn tiny_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tch/tests/python/make_tiny.py");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cadrl-tiny-v2");
        let marker = dir.join("DONE");
        let src = std::fs::read_to_string(&script).unwrap();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        src.hash(&mut h);
        let stamp = format!("{:016x}", h.finish());
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
            let _ = std::fs::remove_dir_all(&dir);
            let out = Command::new(python()).arg(&script).arg(&dir).output().unwrap();
            assert!(out.status.success(), "make_tiny.py failed: {}", String::from_utf8_lossy(&out.stderr));
            std::fs::write(&marker, stamp).unwrap();
        }
        dir
    })
}

pub fn reference(name: &str) -> serde_json::Value {
    let p = tiny_dir().join(name).join("ref/ref.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

pub fn image_path(r: &serde_json::Value, i: usize) -> PathBuf {
    tiny_dir().join("images").join(r["images"][i]["path"].as_str().unwrap())
}

pub fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

pub fn u32s(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (*x as f64 - y).abs()).fold(0.0, f64::max)
}

pub fn spec(name: &str) -> ModelSpec {
    ModelSpec {
        path_or_id: tiny_dir().join(name).display().to_string(),
        device: DeviceSpec::Cpu,
        dtype: DType::F32,
    }
}

/// A backend whose workers use two threads (the tests take turns: see [`turn`]).
pub fn backend() -> HfBackend {
    use cadrl_backend::Backend;
    let b = HfBackend::with_python(python());
    b.set_num_threads(2);
    b
}

/// One of the tiny checkpoints on CPU in f32.
pub fn tiny_policy(name: &str) -> HfPolicy {
    backend().load_policy(&spec(name)).unwrap()
}

/// Each test starts a worker with two threads; on two cores they take turns.
pub fn turn() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}
