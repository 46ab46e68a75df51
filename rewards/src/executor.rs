//! Choosing an executor: [`ExecutorSpec`] (what recipes embed as an `[executor]`
//! table and the CLI fills from `--executor`), [`build`], and the `auto` executor.
//!
//! - `native`: our interpreter, in-process, no Python (fast; the default);
//! - `occt`: real CadQuery in the sandboxed worker pool ([`crate::occt`]);
//! - `auto`: native, and only the programs it answers `Unsupported` go to occt, so
//!   a batch pays for Python only where the native executor cannot answer.
//!
//! ```toml
//! [executor]
//! kind = "auto"          # native | occt | auto
//! workers = 4            # default: the number of cores
//! timeout_s = 10.0
//! recycle_after = 2000
//! memory_mb = 3072
//! # python = "/path/to/venv/bin/python"   # default: $CADRL_CQ_PYTHON
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::exec::{Executor, ExecutorError, NativeExecutor, Outcome};
use crate::occt::{OcctExecutor, OcctOptions};

/// Which executor runs the programs (`kind` of an `[executor]` table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// The native interpreter, in-process (the default).
    #[default]
    Native,
    /// Real CadQuery in the sandboxed worker pool.
    Occt,
    /// Native, with the programs it answers `Unsupported` sent to occt.
    Auto,
}

impl ExecutorKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [ExecutorKind; 3] = [ExecutorKind::Native, ExecutorKind::Occt, ExecutorKind::Auto];

    /// The name recipes and the command line use (also the serde name).
    pub fn name(self) -> &'static str {
        match self {
            ExecutorKind::Native => "native",
            ExecutorKind::Occt => "occt",
            ExecutorKind::Auto => "auto",
        }
    }
}

impl std::str::FromStr for ExecutorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ExecutorKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown executor `{s}` (expected native, occt or auto)"))
    }
}

/// Which executor, and the occt pool's settings (ignored by `native`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    /// Which executor (default `native`).
    #[serde(default)]
    pub kind: ExecutorKind,
    /// Python with cadquery 2.8 (default `$CADRL_CQ_PYTHON`, else the set-up's venv).
    pub python: Option<PathBuf>,
    /// Worker processes (default: cores).
    pub workers: Option<usize>,
    /// Wall-clock seconds per program (default 10).
    pub timeout_s: Option<f64>,
    /// Jobs per worker before it is replaced (default 2000; a worker above 1200 MiB
    /// resident is replaced sooner).
    pub recycle_after: Option<usize>,
    /// Address-space limit per worker, MiB (default 3072).
    pub memory_mb: Option<u64>,
}

impl ExecutorSpec {
    /// A spec for `kind` with every pool setting at its default.
    pub fn kind(kind: ExecutorKind) -> ExecutorSpec {
        ExecutorSpec { kind, ..ExecutorSpec::default() }
    }

    /// The occt options this spec asks for.
    pub(crate) fn occt_options(&self) -> Result<OcctOptions, ExecutorError> {
        let mut o = OcctOptions::default();
        if let Some(p) = &self.python {
            o.python = p.clone();
        }
        if let Some(w) = self.workers {
            if w == 0 {
                return Err(ExecutorError("executor.workers must be at least 1".into()));
            }
            o.workers = w;
        }
        if let Some(t) = self.timeout_s {
            if !(t > 0.0 && t <= 3600.0) {
                return Err(ExecutorError(format!("executor.timeout_s must be in (0, 3600], got {t}")));
            }
            o.timeout = Duration::from_secs_f64(t);
        }
        if let Some(r) = self.recycle_after {
            o.recycle_after = r.max(1);
        }
        if let Some(m) = self.memory_mb {
            if m < 1536 {
                return Err(ExecutorError(format!(
                    "executor.memory_mb must be at least 1536 (CadQuery maps ~1.2 GiB), got {m}"
                )));
            }
            o.memory_mb = m;
        }
        Ok(o)
    }
}

/// Build the executor a spec names (occt and auto start their worker pool now).
pub fn build(spec: &ExecutorSpec) -> Result<Box<dyn Executor>, ExecutorError> {
    Ok(match spec.kind {
        ExecutorKind::Native => Box::new(NativeExecutor),
        ExecutorKind::Occt => Box::new(OcctExecutor::new(spec.occt_options()?)?),
        ExecutorKind::Auto => Box::new(AutoExecutor { occt: OcctExecutor::new(spec.occt_options()?)? }),
    })
}

/// Native first; programs it answers `Unsupported` are run by occt instead.
pub struct AutoExecutor {
    /// The pool that runs the programs the native executor cannot.
    pub occt: OcctExecutor,
}

impl Executor for AutoExecutor {
    fn name(&self) -> &str {
        "auto"
    }
    fn execute(&self, programs: &[&str], var: &str) -> Result<Vec<Outcome>, ExecutorError> {
        let mut out = NativeExecutor.execute(programs, var)?;
        let fallback: Vec<usize> =
            (0..out.len()).filter(|&i| matches!(out[i], Outcome::Unsupported { .. })).collect();
        if fallback.is_empty() {
            return Ok(out);
        }
        let progs: Vec<&str> = fallback.iter().map(|&i| programs[i]).collect();
        for (i, o) in fallback.into_iter().zip(self.occt.execute(&progs, var)?) {
            out[i] = o;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_and_refuses_unknown_fields() {
        let s: ExecutorSpec =
            serde_json::from_str(r#"{"kind": "auto", "workers": 3, "timeout_s": 2.5}"#).expect("spec");
        assert_eq!((s.kind, s.workers, s.timeout_s), (ExecutorKind::Auto, Some(3), Some(2.5)));
        let o = s.occt_options().expect("options");
        assert_eq!((o.workers, o.timeout), (3, Duration::from_millis(2500)));
        let d: ExecutorSpec = serde_json::from_str("{}").expect("defaults");
        assert_eq!(d.kind, ExecutorKind::Native);
        let e = serde_json::from_str::<ExecutorSpec>(r#"{"kind": "occt", "wokers": 2}"#).expect_err("typo");
        assert!(e.to_string().contains("wokers"), "{e}");
        let e = serde_json::from_str::<ExecutorSpec>(r#"{"kind": "python"}"#).expect_err("kind");
        assert!(e.to_string().contains("python"), "{e}");
        let bad = ExecutorSpec { timeout_s: Some(0.0), ..ExecutorSpec::kind(ExecutorKind::Occt) };
        assert!(bad.occt_options().is_err());
        assert_eq!("auto".parse::<ExecutorKind>(), Ok(ExecutorKind::Auto));
        assert!("nativ".parse::<ExecutorKind>().expect_err("typo").contains("native, occt or auto"));
    }

    #[test]
    fn a_missing_python_is_an_infrastructure_error_naming_it() {
        let spec = ExecutorSpec {
            python: Some("/nonexistent/python".into()),
            ..ExecutorSpec::kind(ExecutorKind::Occt)
        };
        let e = build(&spec).err().expect("no python");
        assert!(e.0.contains("/nonexistent/python") && e.0.contains("bootstrap"), "{e}");
    }
}
