//! Shared test helpers: locate the torch venv python and build the tiny checkpoints and the
//! reference pixels once.
#![allow(dead_code, clippy::unwrap_used)]
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("CADRL_TORCH_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap();
    PathBuf::from(home).join(".cache/cadrl/torch-2.11.0/bin/python")
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(name)
}

/// `python SCRIPT OUT` run once per build dir, again when the script changes; returns OUT.
fn made_by(script_name: &str, dir_name: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(dir_name);
    let marker = dir.join("DONE");
    let src = std::fs::read_to_string(script(script_name)).unwrap();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    src.hash(&mut h);
    let stamp = format!("{:016x}", h.finish());
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(python()).arg(script(script_name)).arg(&dir).output().unwrap();
        assert!(out.status.success(), "{script_name} failed: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(&marker, stamp).unwrap();
    }
    dir
}

/// Directory with tiny-a, tiny-a-sharded, tiny-b, tiny-c and images/ (made once per build dir).
pub fn tiny_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| made_by("make_tiny.py", "cadrl-tiny-v2"))
}

/// Reference pixels of transformers' two image processors (made once per build dir).
pub fn pixels_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| made_by("make_pixels.py", "cadrl-pixels-v1"))
}

pub fn reference(name: &str) -> serde_json::Value {
    let p = tiny_dir().join(name).join("ref/ref.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

pub fn image_path(r: &serde_json::Value, i: usize) -> PathBuf {
    tiny_dir().join("images").join(r["images"][i]["path"].as_str().unwrap())
}

pub fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (*x as f64 - y).abs()).fold(0.0, f64::max)
}

pub fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

pub fn i64s(v: &serde_json::Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

/// One of the tiny checkpoints on CPU in f32, with fresh adapters when `lora` is given.
pub fn tiny_policy(
    name: &str,
    lora: Option<cadrl_backend_tch::LoraConfig>,
) -> cadrl_backend_tch::QwenVlPolicy {
    let spec = cadrl_backend_tch::ModelSpec {
        path_or_id: tiny_dir().join(name).display().to_string(),
        device: cadrl_backend_tch::DeviceSpec::Cpu,
        dtype: cadrl_backend_tch::DType::F32,
    };
    cadrl_backend_tch::QwenVlPolicy::load(&spec, lora).unwrap()
}
