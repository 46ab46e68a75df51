//! The run directory: created once and never overwritten, atomic writes, and the
//! run state that `--resume` continues from.
//!
//! ```text
//! runs/<name>-<YYYYmmdd-HHMMSS>/
//!   recipe.toml, recipe.resolved.toml   what was asked, with every default filled in
//!   state.json                          stages done, global step (written atomically)
//!   metrics.jsonl                       every logged scalar, one JSON object a line
//!   events.out.tfevents.*               TensorBoard
//!   data/<train|eval>/                  materialised synthetic data
//!   stages/<i>-<kind>/                  stage outputs (pairs.jsonl, eval.jsonl, eval.md, ...)
//!   checkpoints/<i>-<kind>/step-<k>/    in-stage checkpoints (the latest is kept)
//!   checkpoints/<i>-<kind>/final/       the policy after the stage
//!   summary.md
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The workspace's one atomic writer (temporary sibling, then rename), used for every
/// file of the run directory and every checkpoint.
pub(crate) use cadrl_backend::atomic::{write_atomic, write_dir_atomic};

/// One stage's metrics for the summary: plan index, stage label, `(metric, value)` pairs.
pub(crate) type StageResult = (usize, String, Vec<(String, f64)>);

/// What has been done: stages completed (by plan index) and the global step.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct RunState {
    /// Plan indices of completed stages, in order.
    pub(crate) completed: Vec<usize>,
    /// Optimizer steps taken over all training stages (the TensorBoard x axis).
    pub(crate) global_step: u64,
    /// Stage metrics for the summary, by plan index.
    pub(crate) results: Vec<StageResult>,
}

/// A run directory.
#[derive(Clone, Debug)]
pub(crate) struct RunDir {
    pub(crate) root: PathBuf,
}

/// `YYYYmmdd-HHMMSS` (UTC) from the system clock.
pub(crate) fn timestamp() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // civil-from-days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

impl RunDir {
    /// A new directory `<log_dir>/<name>-<timestamp>[-N]`; never reuses an existing one.
    pub(crate) fn create(log_dir: &Path, name: &str) -> Result<RunDir> {
        std::fs::create_dir_all(log_dir)
            .with_context(|| format!("creating log dir {}", log_dir.display()))?;
        let base = format!("{name}-{}", timestamp());
        for i in 0..1000 {
            let n = if i == 0 { base.clone() } else { format!("{base}-{i}") };
            let p = log_dir.join(n);
            match std::fs::create_dir(&p) {
                Ok(()) => return Ok(RunDir { root: p }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating run dir {}", p.display())),
            }
        }
        bail!("could not find a free run directory name under {}", log_dir.display())
    }

    /// An existing run to resume.
    pub(crate) fn open(root: &Path) -> Result<RunDir> {
        if !root.join("recipe.resolved.toml").is_file() {
            bail!("{} is not a cadrl run directory (no recipe.resolved.toml)", root.display());
        }
        Ok(RunDir { root: root.to_path_buf() })
    }

    pub(crate) fn stage_dir(&self, index: usize, name: &str) -> PathBuf {
        self.root.join("stages").join(format!("{index:02}-{name}"))
    }

    pub(crate) fn checkpoint_dir(&self, index: usize, name: &str) -> PathBuf {
        self.root.join("checkpoints").join(format!("{index:02}-{name}"))
    }

    pub(crate) fn state(&self) -> Result<RunState> {
        let p = self.root.join("state.json");
        if !p.exists() {
            return Ok(RunState::default());
        }
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    }

    pub(crate) fn save_state(&self, s: &RunState) -> Result<()> {
        write_atomic(&self.root.join("state.json"), serde_json::to_string_pretty(s)?.as_bytes())
    }
}

/// Progress inside a training stage, saved with each in-stage checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Progress {
    pub(crate) plan_index: usize,
    /// Steps done in this stage.
    pub(crate) step: usize,
    pub(crate) global_step: u64,
}

/// The newest `step-<k>` checkpoint of a stage, if any.
pub(crate) fn latest_step_checkpoint(dir: &Path) -> Option<(usize, PathBuf)> {
    let rd = std::fs::read_dir(dir).ok()?;
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let k: usize = name.strip_prefix("step-")?.parse().ok()?;
            e.path().join("progress.json").is_file().then(|| (k, e.path()))
        })
        .max_by_key(|(k, _)| *k)
}
