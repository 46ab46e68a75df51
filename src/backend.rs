//! The model backends of this build: libtorch (`tch`, the default; trains, samples and
//! scores) and transformers (`hf`, the default; samples and scores in a Python worker),
//! chosen by [`BackendKind`] (`[model] backend` in recipes, `--backend` on the command
//! line).
//!
//! Everything that trains, samples or scores with a model goes through
//! [`cadrl_backend::Backend`] and [`cadrl_backend::Policy`]; this is the one place that
//! names an implementation.

use anyhow::Result;
use cadrl_backend::Backend;

/// Which backend loads the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Qwen2.5-VL on libtorch (`cadrl-backend-tch`): every stage.
    #[default]
    Tch,
    /// Qwen2.5-VL on Hugging Face transformers + PEFT (`cadrl-backend-hf`): sampling and
    /// scoring only (`sample`, `eval`), no training stage.
    Transformers,
}

impl BackendKind {
    /// Every backend, in the order messages list them.
    pub const ALL: [BackendKind; 2] = [BackendKind::Tch, BackendKind::Transformers];

    /// The name recipes and the command line use (also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Tch => "tch",
            BackendKind::Transformers => "transformers",
        }
    }

    /// Whether it runs training stages (`init`, `vision`, `sft`, `dpo`, `rl`).
    pub fn trains(self) -> bool {
        self == BackendKind::Tch
    }
}

impl std::str::FromStr for BackendKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match Self::ALL.into_iter().find(|k| k.name() == s) {
            Some(k) => Ok(k),
            None => anyhow::bail!("unknown backend `{s}` (tch, transformers)"),
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The backend of `kind`, or an error saying which feature this build lacks.
pub fn backend(kind: BackendKind) -> Result<&'static dyn Backend> {
    match kind {
        BackendKind::Tch => tch(),
        BackendKind::Transformers => transformers(),
    }
}

/// The backend `recipe run`, `eval` and `generate` use unless told otherwise: `tch`.
pub fn default_backend() -> Result<&'static dyn Backend> {
    backend(BackendKind::Tch)
}

#[cfg(feature = "tch")]
fn tch() -> Result<&'static dyn Backend> {
    Ok(&cadrl_backend_tch::TchBackend)
}

#[cfg(all(not(feature = "tch"), not(feature = "hf")))]
fn tch() -> Result<&'static dyn Backend> {
    anyhow::bail!(
        "this cadrl was built without a model backend (--no-default-features): it scores, renders, \
         makes data, checks recipes and evaluates prediction files; training, sampling and evaluating \
         a model need the default `tch` feature (cargo build --release)"
    )
}

#[cfg(all(not(feature = "tch"), feature = "hf"))]
fn tch() -> Result<&'static dyn Backend> {
    anyhow::bail!(
        "this cadrl was built without the libtorch backend (the `tch` feature): sampling and evaluating \
         work with the transformers backend (`--backend transformers`, `[model] backend = \"transformers\"`); \
         training needs the default `tch` feature (cargo build --release)"
    )
}

#[cfg(feature = "hf")]
fn transformers() -> Result<&'static dyn Backend> {
    static HF: cadrl_backend_hf::HfBackend = cadrl_backend_hf::HfBackend::new();
    Ok(&HF)
}

#[cfg(not(feature = "hf"))]
fn transformers() -> Result<&'static dyn Backend> {
    anyhow::bail!(
        "this cadrl was built without the transformers backend (the `hf` feature, on by default): \
         rebuild with default features (cargo build --release)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_by_name_in_serde_clap_and_from_str() {
        use clap::ValueEnum;
        for k in BackendKind::ALL {
            assert_eq!(k.name().parse::<BackendKind>().ok(), Some(k));
            assert_eq!(serde_json::to_value(k).ok(), Some(serde_json::json!(k.name())));
            assert_eq!(BackendKind::from_str(k.name(), false).ok(), Some(k));
        }
        assert!("torch".parse::<BackendKind>().is_err());
    }
}
