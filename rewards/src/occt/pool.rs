//! A warm pool of sandboxed CadQuery worker processes.
//!
//! Each worker is a fresh `python worker.py` (spawned, never forked from a process
//! that imported CadQuery), in its own empty scratch directory, importing CadQuery
//! once and then answering one job per request line. A reader thread per worker
//! turns its stdout into bounded lines on a channel, so the pool waits for a reply
//! with a deadline: past it the pool kills the worker's process group (it does not
//! ask), reports a timeout for that program and starts a replacement, which imports
//! in the background while the batch goes on. Crashes (the pipe closes), oversized
//! or malformed replies and memory errors end the same way. Workers are also
//! recycled once their resident memory passes a limit or after many jobs, since
//! CadQuery/OCCT leak memory (a replacement costs a fresh import, ~1.7 s of CPU, so
//! recycling by a small job count would cost more than the jobs themselves).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::OcctOptions;
use super::protocol::{Hello, Reply, Request, clip, exec_error, to_outcome};
use super::sandbox::{Limits, Plan, Support, kill_group};
use crate::exec::{ExecutorError, Outcome};

const WORKER_PY: &str = include_str!("worker.py");

enum Msg {
    Line(Vec<u8>),
    TooLong,
    Eof,
}

struct Worker {
    /// `None` once handed to a reaper thread.
    child: Option<Child>,
    pid: u32,
    stdin: ChildStdin,
    rx: Receiver<Msg>,
    scratch: PathBuf,
    ready: bool,
    /// Waited for: its pid (and so its process group id) may belong to another process now.
    reaped: bool,
    jobs: usize,
}

/// How one job ended for the worker that ran it.
enum After {
    Keep,
    Replace,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Worker {
    /// Kill the whole process group (once) and reap the worker.
    fn kill(&mut self) -> Option<std::process::ExitStatus> {
        if self.reaped {
            return None;
        }
        kill_group(self.pid);
        self.reaped = true;
        self.child.take().and_then(|mut c| c.wait().ok())
    }

    /// Kill the whole process group now and reap it in the background: tearing
    /// down a worker that forked copies of itself can take seconds.
    fn kill_detached(&mut self) {
        if self.reaped {
            return;
        }
        kill_group(self.pid);
        self.reaped = true;
        if let Some(mut c) = self.child.take() {
            let _ = std::thread::Builder::new().name("occt-reaper".into()).spawn(move || c.wait());
        }
    }
}

type SpawnReply = std::sync::mpsc::Sender<std::io::Result<Child>>;

/// Workers are started from one long-lived thread: the parent-death signal fires
/// when the *thread* that forked a worker ends, and batch threads come and go.
fn spawner() -> std::io::Result<std::sync::mpsc::Sender<(Command, SpawnReply)>> {
    let (tx, rx) = std::sync::mpsc::channel::<(Command, SpawnReply)>();
    std::thread::Builder::new().name("occt-spawner".into()).spawn(move || {
        for (mut cmd, reply) in rx {
            let _ = reply.send(cmd.spawn());
        }
    })?;
    Ok(tx)
}

/// Pools made by this process so far: each gets its own scratch root, so pools never
/// share (or, when one is dropped, delete) each other's worker directories.
static POOLS: AtomicU64 = AtomicU64::new(0);

/// The pool shared by all batches of an [`super::OcctExecutor`].
pub(crate) struct Pool {
    opts: OcctOptions,
    support: Support,
    root: PathBuf,
    idle: Mutex<Vec<Worker>>,
    counter: AtomicU64,
    spawner: Mutex<std::sync::mpsc::Sender<(Command, SpawnReply)>>,
}

impl Pool {
    pub(crate) fn new(opts: OcctOptions) -> Result<Pool, ExecutorError> {
        if !opts.python.exists() {
            return Err(ExecutorError(format!(
                "occt executor: no Python at {} (run scripts/bootstrap.sh, or set CADRL_CQ_PYTHON / the executor's `python`)",
                opts.python.display()
            )));
        }
        let support = super::sandbox::probe(&opts.python);
        let root = opts.scratch_root.clone().unwrap_or_else(std::env::temp_dir).join(format!(
            "cadrl-occt-{}-{}",
            std::process::id(),
            POOLS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&root)
            .map_err(|e| ExecutorError(format!("occt executor: creating {}: {e}", root.display())))?;
        let spawner = spawner().map_err(|e| ExecutorError(format!("occt executor: spawner thread: {e}")))?;
        let pool = Pool {
            opts,
            support,
            root,
            idle: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
            spawner: Mutex::new(spawner),
        };
        let mut ws = Vec::new();
        for _ in 0..pool.opts.workers.max(1) {
            ws.push(pool.spawn()?);
        }
        for w in &mut ws {
            pool.wait_ready(w)?;
        }
        *pool.idle.lock().map_err(|_| ExecutorError("occt pool lock poisoned".into()))? = ws;
        Ok(pool)
    }

    pub(crate) fn support(&self) -> Support {
        self.support
    }

    /// Worker processes started so far (the first ones, replacements, recycling).
    pub(crate) fn started(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    fn spawn(&self) -> Result<Worker, ExecutorError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let scratch = self.root.join(format!("w{n}"));
        let err = |what: &str, e: std::io::Error| {
            ExecutorError(format!("occt executor: {what} {}: {e}", scratch.display()))
        };
        std::fs::create_dir_all(&scratch).map_err(|e| err("creating", e))?;
        let script = scratch.join("worker.py");
        std::fs::write(&script, WORKER_PY).map_err(|e| err("writing worker.py into", e))?;
        let o = &self.opts;
        let limits = Limits {
            address_space: o.memory_mb << 20,
            cpu_seconds: ((o.recycle_after as f64 + 2.0) * o.timeout.as_secs_f64()).ceil() as u64 + 120,
            file_size: 16 << 20,
            open_files: 256,
            processes: 64,
        };
        let mut cmd = Command::new(&o.python);
        cmd.args(["-I", "-B"])
            .arg(&script)
            .current_dir(&scratch)
            .env_clear()
            .env("HOME", &scratch)
            .env("TMPDIR", &scratch)
            .env("OMP_NUM_THREADS", "1")
            .env("CADRL_OUTPUT_LIMIT", o.output_limit.to_string())
            .env("CADRL_SANDBOX_PY", if o.python_layer { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        Plan::new(limits, self.support, &scratch).map_err(|e| err("sandboxing", e))?.apply(&mut cmd);
        let (rtx, rrx) = std::sync::mpsc::channel();
        let sent = self
            .spawner
            .lock()
            .map_err(|_| ExecutorError("occt pool lock poisoned".into()))?
            .send((cmd, rtx));
        let spawned = match sent {
            Ok(()) => {
                rrx.recv().map_err(|_| std::io::Error::other("the spawner thread is gone")).and_then(|r| r)
            }
            Err(_) => Err(std::io::Error::other("the spawner thread is gone")),
        };
        let mut child = spawned
            .map_err(|e| ExecutorError(format!("occt executor: starting {}: {e}", o.python.display())))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            kill_group(child.id());
            let _ = child.wait();
            return Err(ExecutorError("occt executor: worker pipes missing".into()));
        };
        let (tx, rx) = sync_channel(1);
        let limit = o.reply_limit;
        std::thread::Builder::new()
            .name(format!("occt-reader-{n}"))
            .spawn(move || read_lines(stdout, limit, tx))
            .map_err(|e| ExecutorError(format!("occt executor: reader thread: {e}")))?;
        let pid = child.id();
        Ok(Worker { child: Some(child), pid, stdin, rx, scratch, ready: false, reaped: false, jobs: 0 })
    }

    fn wait_ready(&self, w: &mut Worker) -> Result<(), ExecutorError> {
        if w.ready {
            return Ok(());
        }
        let fail = |why: String| ExecutorError(format!("occt executor: a worker did not start ({why})"));
        match w.rx.recv_timeout(self.opts.startup_timeout) {
            Ok(Msg::Line(l)) => {
                let h: Hello =
                    serde_json::from_slice(&l).map_err(|e| fail(format!("bad first line: {e}")))?;
                if let Some(f) = h.fatal {
                    return Err(fail(f));
                }
                if !h.ready {
                    return Err(fail("no ready line".into()));
                }
                w.ready = true;
                Ok(())
            }
            Ok(Msg::TooLong) => Err(fail("oversized first line".into())),
            Ok(Msg::Eof) | Err(RecvTimeoutError::Disconnected) => {
                let st = w.kill().map(|s| s.to_string()).unwrap_or_default();
                Err(fail(format!("it exited: {st}")))
            }
            Err(RecvTimeoutError::Timeout) => {
                Err(fail(format!("no ready line in {:?}", self.opts.startup_timeout)))
            }
        }
    }

    /// Run one batch: one outcome per program, in order. `Err` only when workers
    /// cannot be started at all.
    pub(crate) fn run(
        &self,
        programs: &[&str],
        var: &str,
    ) -> Result<Vec<(Outcome, Duration)>, ExecutorError> {
        let n = programs.len();
        let results: Vec<Mutex<Option<(Outcome, Duration)>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let threads = self.opts.workers.max(1).min(n);
        let failure: Mutex<Option<ExecutorError>> = Mutex::new(None);
        let ids = Arc::new(AtomicU64::new(0));
        std::thread::scope(|sc| {
            for _ in 0..threads {
                sc.spawn(|| {
                    // a worker from the warm pool, or a fresh one; `None` after a
                    // replacement could not even be spawned (retried below)
                    let mut spare = self.take().ok();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let ready = match spare.take() {
                            Some(mut w) => match self.wait_ready(&mut w) {
                                Ok(()) => Ok(w),
                                Err(_) => self.fresh_ready(),
                            },
                            None => self.fresh_ready(),
                        };
                        let mut w = match ready {
                            Ok(w) => w,
                            Err(e) => return set_failure(&failure, e),
                        };
                        let id = ids.fetch_add(1, Ordering::Relaxed);
                        let t0 = Instant::now();
                        let (o, after) = self.job(&mut w, id, programs[i], var);
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some((o, t0.elapsed()));
                        }
                        w.jobs += 1;
                        if matches!(after, After::Replace)
                            || w.jobs >= self.opts.recycle_after
                            || self.too_big(&w)
                        {
                            drop(w);
                            // start the replacement now; it imports while the batch goes on
                            spare = self.spawn().ok();
                        } else {
                            spare = Some(w);
                        }
                    }
                    if let (Some(w), Ok(mut idle)) = (spare, self.idle.lock()) {
                        idle.push(w);
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().ok().flatten() {
            return Err(e);
        }
        Ok(results
            .into_iter()
            .map(|m| {
                m.into_inner().ok().flatten().unwrap_or_else(|| {
                    (exec_error("occt executor: the job was not run".into()), Duration::ZERO)
                })
            })
            .collect())
    }

    /// A started, ready worker; a few tries (fork or start-up can fail
    /// transiently on a loaded machine) before it is an infrastructure failure.
    fn fresh_ready(&self) -> Result<Worker, ExecutorError> {
        let mut last = ExecutorError("occt executor: no worker".into());
        for attempt in 0..3u32 {
            match self.spawn().and_then(|mut w| self.wait_ready(&mut w).map(|_| w)) {
                Ok(w) => return Ok(w),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200 << attempt));
        }
        Err(last)
    }

    fn take(&self) -> Result<Worker, ExecutorError> {
        let w = self.idle.lock().map_err(|_| ExecutorError("occt pool lock poisoned".into()))?.pop();
        match w {
            Some(w) => Ok(w),
            None => self.spawn(),
        }
    }

    fn job(&self, w: &mut Worker, id: u64, code: &str, var: &str) -> (Outcome, After) {
        let req = Request { id, code, var, tol: self.opts.tolerance, ang: self.opts.angular_tolerance };
        let mut line = match serde_json::to_vec(&req) {
            Ok(l) => l,
            Err(e) => {
                return (exec_error(format!("occt executor: cannot encode the program: {e}")), After::Keep);
            }
        };
        line.push(b'\n');
        let t0 = Instant::now();
        if w.stdin.write_all(&line).and_then(|_| w.stdin.flush()).is_err() {
            return (self.crashed(w, "the worker's input pipe is closed"), After::Replace);
        }
        match w.rx.recv_timeout(self.opts.timeout) {
            Ok(Msg::Line(l)) => match serde_json::from_slice::<Reply>(&l) {
                Ok(r) if r.id == Some(id as i64) && r.fatal.is_none() => {
                    let after = if r.memory { After::Replace } else { After::Keep };
                    (to_outcome(r), after)
                }
                Ok(_) => {
                    w.kill();
                    (
                        exec_error(
                            "occt worker: a reply for another job (protocol violation); worker killed".into(),
                        ),
                        After::Replace,
                    )
                }
                Err(e) => {
                    w.kill();
                    (
                        exec_error(clip(&format!("occt worker: malformed reply ({e}); worker killed"))),
                        After::Replace,
                    )
                }
            },
            Ok(Msg::TooLong) => {
                w.kill();
                (
                    exec_error(format!(
                        "occt worker: the reply exceeded {} bytes; worker killed",
                        self.opts.reply_limit
                    )),
                    After::Replace,
                )
            }
            Ok(Msg::Eof) | Err(RecvTimeoutError::Disconnected) => {
                (self.crashed(w, "the worker died during the job"), After::Replace)
            }
            Err(RecvTimeoutError::Timeout) => {
                let at = t0.elapsed();
                w.kill_detached();
                (
                    exec_error(format!(
                        "timeout: the program ran longer than {:.1} s; worker killed at {:.1} s",
                        self.opts.timeout.as_secs_f64(),
                        at.as_secs_f64()
                    )),
                    After::Replace,
                )
            }
        }
    }

    /// Resident memory above `recycle_rss_mb` (read from `/proc`; unknown = fine).
    fn too_big(&self, w: &Worker) -> bool {
        if self.opts.recycle_rss_mb == 0 {
            return false;
        }
        let Ok(statm) = std::fs::read_to_string(format!("/proc/{}/statm", w.pid)) else {
            return false;
        };
        let pages: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        pages * 4096 > self.opts.recycle_rss_mb << 20
    }

    fn crashed(&self, w: &mut Worker, what: &str) -> Outcome {
        let status = match w.kill() {
            Some(s) => {
                use std::os::unix::process::ExitStatusExt;
                match (s.code(), s.signal()) {
                    (Some(c), _) => format!("exit status {c}"),
                    (None, Some(sig)) => format!("signal {sig}{}", signal_name(sig)),
                    _ => s.to_string(),
                }
            }
            None => "status unknown".to_string(),
        };
        exec_error(format!("crash: {what} ({status})"))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn set_failure(f: &Mutex<Option<ExecutorError>>, e: ExecutorError) {
    if let Ok(mut g) = f.lock()
        && g.is_none()
    {
        *g = Some(e);
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGXCPU => " (SIGXCPU: CPU time limit)",
        libc::SIGXFSZ => " (SIGXFSZ: file size limit)",
        libc::SIGBUS => " (SIGBUS)",
        _ => "",
    }
}

/// Forward lines of at most `limit` bytes; stop at the first longer one or at EOF.
fn read_lines(stdout: impl Read, limit: usize, tx: std::sync::mpsc::SyncSender<Msg>) {
    let mut r = BufReader::with_capacity(1 << 16, stdout);
    loop {
        let mut line = Vec::new();
        loop {
            let buf = match r.fill_buf() {
                Ok(b) => b,
                Err(_) => {
                    let _ = tx.send(Msg::Eof);
                    return;
                }
            };
            if buf.is_empty() {
                let _ = tx.send(Msg::Eof);
                return;
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(p) => (p + 1, true),
                None => (buf.len(), false),
            };
            line.extend_from_slice(&buf[..take]);
            r.consume(take);
            if line.len() > limit {
                let _ = tx.send(Msg::TooLong);
                return;
            }
            if done {
                break;
            }
        }
        if tx.send(Msg::Line(line)).is_err() {
            return;
        }
    }
}
