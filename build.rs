//! Build script of the `cadrl` binary: the same libtorch linking as the tch backend
//! (rpath to torch's lib dir, `--no-as-needed -ltorch` so CUDA stays linked). Link
//! arguments of a dependency's build script do not reach this package's binaries,
//! so the backend's script is reused here.

#[path = "backends/tch/build.rs"]
mod torch;

fn main() {
    torch::main();
}
