//! Build script: link libtorch eagerly and add an rpath to the lib dir of the very torch
//! that `torch-sys` built against.
//!
//! `torch-sys` finds libtorch: `$LIBTORCH`, or with `LIBTORCH_USE_PYTORCH=1` the torch of
//! the Python on `PATH` (what `scripts/bootstrap.sh --env` sets up). Through its `links =
//! "tch"` it tells the build scripts of its direct dependents that lib dir
//! (`DEP_TCH_LIBTORCH_LIB`); it becomes the binaries' rpath, so they run without
//! `LD_LIBRARY_PATH` on the machine they were built on, and no machine's path is written
//! here. A binary moved elsewhere finds libtorch through `LD_LIBRARY_PATH`. We also add
//! `-Wl,--no-as-needed -ltorch` so that `libtorch_cuda` stays linked even though no symbol
//! of it is referenced directly (otherwise CUDA silently disappears).

pub fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(dir) if !dir.is_empty() => {
            println!("cargo:rustc-link-search=native={dir}");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
        _ => println!(
            "cargo:warning=torch-sys named no libtorch lib dir: binaries find libtorch through LD_LIBRARY_PATH"
        ),
    }
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
}
