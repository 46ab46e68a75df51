//! Build script of the `cadrl` binary: the same libtorch linking as the tch backend
//! (rpath to the lib dir of the torch `torch-sys` built against, `--no-as-needed -ltorch`
//! so CUDA stays linked). Link arguments of a dependency's build script do not reach this
//! package's binaries, so the backend's script is reused here; `torch-sys` is a direct
//! dependency of both packages so that its lib dir reaches both scripts. Only with the
//! `tch` feature (the default).

#[path = "backends/tch/build.rs"]
mod torch;

fn main() {
    // without the `tch` feature nothing links libtorch
    if std::env::var_os("CARGO_FEATURE_TCH").is_some() {
        torch::main();
    }
}
