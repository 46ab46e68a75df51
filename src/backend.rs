//! The model backend of this build: libtorch (`tch`, the default feature) or none.
//!
//! Everything that trains, samples or scores with a model goes through
//! [`cadrl_backend::Backend`] and [`cadrl_backend::Policy`]; this is the one place that
//! names an implementation.

use anyhow::Result;
use cadrl_backend::Backend;

/// The backend `recipe run`, `eval` and `generate` use.
#[cfg(feature = "tch")]
pub fn default_backend() -> Result<&'static dyn Backend> {
    Ok(&cadrl_backend_tch::TchBackend)
}

/// The backend `recipe run`, `eval` and `generate` use: none in this build.
#[cfg(not(feature = "tch"))]
pub fn default_backend() -> Result<&'static dyn Backend> {
    anyhow::bail!(
        "this cadrl was built without a model backend (--no-default-features): it scores, renders, \
         makes data, checks recipes and evaluates prediction files; training, sampling and evaluating \
         a model need the default `tch` feature (cargo build --release)"
    )
}
