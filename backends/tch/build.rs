//! Build script: link libtorch eagerly and add an rpath to torch's library directory.
//!
//! `torch-sys` finds libtorch (here through `LIBTORCH_USE_PYTORCH=1` and the python on
//! `PATH`). We add `-Wl,--no-as-needed -ltorch` so that `libtorch_cuda` stays linked even
//! though no symbol of it is referenced directly (otherwise CUDA silently disappears), and
//! an rpath to the torch lib dir so binaries run without `LD_LIBRARY_PATH`.
use std::process::Command;

fn torch_lib_dir() -> Option<String> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(format!("{dir}/lib"));
    }
    let python = std::env::var("CADRL_TORCH_PYTHON").unwrap_or_else(|_| "python".to_string());
    let out = Command::new(python)
        .args(["-c", "import torch,os;print(os.path.dirname(torch.__file__)+'/lib')"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    if s.is_empty() { None } else { Some(s.to_string()) }
}

pub fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=CADRL_TORCH_PYTHON");
    println!("cargo:rerun-if-env-changed=PATH");
    if let Some(dir) = torch_lib_dir() {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    if std::path::Path::new("/opt/torch/.venv/lib/python3.12/site-packages/torch/lib").exists() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,/opt/torch/.venv/lib/python3.12/site-packages/torch/lib");
    }
}
