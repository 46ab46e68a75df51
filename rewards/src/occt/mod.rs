//! The `occt` executor: real CadQuery 2.8 / OCCT in a pool of sandboxed Python
//! worker processes, for programs the native interpreter does not model and as a
//! cross-check of it.
//!
//! Generated code never runs in the trainer process: each worker is a separate
//! `python` started fresh (never forked after importing CadQuery) inside the
//! sandbox of [`sandbox`] (process group killed from Rust on a wall-clock timeout,
//! rlimits, user + network namespace, Landlock), with a restricted Python layer on
//! top (`worker.py`). Valid results come back as OCCT's exact volume, area and
//! bounding box plus a watertight tessellation, which becomes a mesh leaf of a
//! [`crate::geom::Solid`], so IoU, Chamfer, rewards and the renderer are the same
//! Rust code for both executors.

pub(crate) mod pool;
pub(crate) mod protocol;
pub mod sandbox;

use std::path::PathBuf;
use std::time::Duration;

use crate::exec::{Executor, ExecutorError, Outcome};

/// Settings of an [`OcctExecutor`].
#[derive(Clone, Debug)]
pub struct OcctOptions {
    /// A Python with `cadquery==2.8.0` (the set-up's `$CADRL_CQ_PYTHON`).
    pub python: PathBuf,
    /// Worker processes (jobs run in parallel, one per worker).
    pub workers: usize,
    /// Wall-clock limit per program; past it the worker is killed.
    pub timeout: Duration,
    /// How long a fresh worker may take to import CadQuery.
    pub startup_timeout: Duration,
    /// Jobs per worker before it is replaced (CadQuery/OCCT leak memory). Replacing costs
    /// a fresh import (~1.7 s of CPU), so this is large; memory is watched by `recycle_rss_mb`.
    pub recycle_after: usize,
    /// A worker whose resident memory exceeds this many MiB after a job is replaced
    /// (a fresh worker holds ~500 MiB; 0 = never by memory).
    pub recycle_rss_mb: u64,
    /// Address-space limit per worker, MiB (importing CadQuery maps ~1.2 GiB).
    pub memory_mb: u64,
    /// Characters a program may print before it fails.
    pub output_limit: usize,
    /// Bytes of one reply line (the mesh) before the worker is killed.
    pub reply_limit: usize,
    /// Tessellation: linear deflection, relative to the bounding box diagonal.
    pub tolerance: f64,
    /// Tessellation: angular deflection, in radians.
    pub angular_tolerance: f64,
    /// The restricted builtins/imports and audit hook inside Python (on by default;
    /// off only to test what the operating-system layer holds alone).
    pub python_layer: bool,
    /// Where the per-worker scratch directories go (default: the system temp dir).
    pub scratch_root: Option<PathBuf>,
}

/// `$CADRL_CQ_PYTHON`, else `~/.cache/cadrl/cq-2.8.0/bin/python` (the set-up's place).
pub fn default_python() -> PathBuf {
    if let Some(p) = std::env::var_os("CADRL_CQ_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
    home.join(".cache/cadrl/cq-2.8.0/bin/python")
}

impl Default for OcctOptions {
    fn default() -> Self {
        OcctOptions {
            python: default_python(),
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            timeout: Duration::from_secs(10),
            startup_timeout: Duration::from_secs(120),
            recycle_after: 2000,
            recycle_rss_mb: 1200,
            memory_mb: 3072,
            output_limit: 1_000_000,
            reply_limit: 64 << 20,
            tolerance: 5e-4,
            angular_tolerance: 0.1,
            python_layer: true,
            scratch_root: None,
        }
    }
}

/// Real CadQuery behind a warm, sandboxed worker pool (reused across batches).
pub struct OcctExecutor {
    pool: pool::Pool,
}

impl OcctExecutor {
    /// Start the workers (each imports CadQuery once; a few seconds).
    pub fn new(opts: OcctOptions) -> Result<OcctExecutor, ExecutorError> {
        Ok(OcctExecutor { pool: pool::Pool::new(opts)? })
    }

    /// Like [`Executor::execute`], with the wall-clock time of each job (from sending
    /// the program to its outcome, worker start-up excluded).
    pub fn execute_timed(
        &self,
        programs: &[&str],
        var: &str,
    ) -> Result<Vec<(Outcome, Duration)>, ExecutorError> {
        if programs.is_empty() {
            return Ok(Vec::new());
        }
        self.pool.run(programs, var)
    }

    /// Worker processes started so far: the pool's own, plus every replacement (after a
    /// crash, timeout or limit) and every recycled worker.
    pub fn workers_started(&self) -> u64 {
        self.pool.started()
    }

    /// What the kernel allowed of the sandbox.
    pub fn support(&self) -> sandbox::Support {
        self.pool.support()
    }
}

impl Executor for OcctExecutor {
    fn name(&self) -> &str {
        "occt"
    }
    fn execute(&self, programs: &[&str], var: &str) -> Result<Vec<Outcome>, ExecutorError> {
        Ok(self.execute_timed(programs, var)?.into_iter().map(|(o, _)| o).collect())
    }
}
