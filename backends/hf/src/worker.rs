//! The Python worker process: found, started, spoken to in JSON lines, killed on drop.
//!
//! One request per line on the worker's stdin (`{"op": NAME, ...}`), exactly one reply
//! line on its stdout (`{"ok": true, "result": ...}` or `{"ok": false, "error", "traceback"}`).
//! The worker sends everything else it prints to stderr; a thread here drains that pipe
//! (so the worker never blocks on it) and keeps its last [`TAIL_BYTES`] for error messages.
use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The worker script, written to a file in the temp directory at first use.
const WORKER_PY: &str = include_str!("../python/worker.py");

/// How much of the worker's stderr is kept for messages.
const TAIL_BYTES: usize = 8192;

/// The Python that runs the worker: `$CADRL_HF_PYTHON`, else `$CADRL_TORCH_PYTHON` (the
/// set-up's torch venv, which has transformers and PEFT), else that venv at its default
/// place (`~/.cache/cadrl/torch-2.11.0/bin/python`) when it exists, else `python3`.
pub(crate) fn default_python() -> PathBuf {
    for var in ["CADRL_HF_PYTHON", "CADRL_TORCH_PYTHON"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return PathBuf::from(v);
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = PathBuf::from(home).join(".cache/cadrl/torch-2.11.0/bin/python");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("python3")
}

/// The worker script on disk (`$TMPDIR/cadrl-hf-worker-HASH.py`, one per script version;
/// written to a per-process temporary name and renamed, so concurrent starts agree).
fn script_path() -> Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    WORKER_PY.hash(&mut h);
    let path = std::env::temp_dir().join(format!("cadrl-hf-worker-{:016x}.py", h.finish()));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(WORKER_PY) {
        let tmp = path.with_extension(format!("py.{}.tmp", std::process::id()));
        std::fs::write(&tmp, WORKER_PY).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}

/// The last bytes a process wrote to a pipe.
#[derive(Default)]
struct Tail(VecDeque<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend(bytes);
        let extra = self.0.len().saturating_sub(TAIL_BYTES);
        self.0.drain(..extra);
    }
    fn text(&self) -> String {
        let (a, b) = self.0.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).trim_end().to_string()
    }
}

/// A running worker.
pub(crate) struct Worker {
    python: PathBuf,
    script: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    tail: Arc<Mutex<Tail>>,
    drain: Option<JoinHandle<()>>,
    /// Why the worker is gone, once it is (every later call fails with this).
    gone: Option<String>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("python", &self.python).field("pid", &self.child.id()).finish()
    }
}

impl Worker {
    /// Start `python worker.py`. With `CADRL_HF_VERBOSE` set, the worker's stderr is
    /// echoed to ours as well as kept.
    pub(crate) fn spawn(python: &Path) -> Result<Worker> {
        let script = script_path()?;
        let mut child = Command::new(python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PYTHONUNBUFFERED", "1")
            .env("HF_HUB_OFFLINE", "1")
            .env("TRANSFORMERS_OFFLINE", "1")
            .env("TOKENIZERS_PARALLELISM", "false")
            .spawn()
            .with_context(|| {
                format!(
                    "starting the transformers worker with `{}` (set CADRL_HF_PYTHON or CADRL_TORCH_PYTHON to a \
                     Python with torch, transformers and peft; `bash scripts/bootstrap.sh --env` prints one)",
                    python.display()
                )
            })?;
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("worker stdout")?);
        let mut stderr = child.stderr.take().context("worker stderr")?;
        let tail = Arc::new(Mutex::new(Tail::default()));
        let echo = std::env::var_os("CADRL_HF_VERBOSE").is_some_and(|v| !v.is_empty());
        let t = Arc::clone(&tail);
        let drain = std::thread::Builder::new()
            .name("cadrl-hf-stderr".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if echo {
                        let _ = std::io::stderr().write_all(&buf[..n]);
                    }
                    t.lock().unwrap_or_else(|e| e.into_inner()).push(&buf[..n]);
                }
            })
            .context("starting the worker's stderr thread")?;
        Ok(Worker {
            python: python.to_path_buf(),
            script,
            child,
            stdin: Some(stdin),
            stdout,
            tail,
            drain: Some(drain),
            gone: None,
        })
    }

    /// The process id (tests check that it is gone after a drop).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The worker's stderr so far (its last [`TAIL_BYTES`]).
    pub(crate) fn stderr_tail(&self) -> String {
        self.tail.lock().unwrap_or_else(|e| e.into_inner()).text()
    }

    /// Send `request` (an object with `op`) and wait for its reply's `result`. A Python
    /// exception is an error with its traceback; a worker that exits or closes its pipes
    /// is an error with its exit status and the tail of its stderr, and stays gone.
    pub(crate) fn call(&mut self, request: &Value) -> Result<Value> {
        let op = request.get("op").and_then(Value::as_str).unwrap_or("?").to_string();
        if let Some(why) = &self.gone {
            bail!("transformers worker: `{op}`: the worker is gone ({why})");
        }
        let mut line = serde_json::to_string(request).context("encoding the request")?;
        line.push('\n');
        let sent = match self.stdin.as_mut() {
            Some(w) => w.write_all(line.as_bytes()).and_then(|()| w.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        let mut reply = String::new();
        let read = match sent {
            Ok(()) => self.stdout.read_line(&mut reply),
            Err(e) => Err(e),
        };
        match read {
            Ok(n) if n > 0 => {}
            other => return Err(self.died(&op, other.err())),
        }
        let v: Value = serde_json::from_str(&reply).with_context(|| {
            format!("transformers worker: `{op}`: a reply that is not JSON: {reply:.200}")
        })?;
        if v.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(v.get("result").cloned().unwrap_or(Value::Null));
        }
        let error = v.get("error").and_then(Value::as_str).unwrap_or("unknown error");
        let tb = v.get("traceback").and_then(Value::as_str).unwrap_or("").trim_end();
        Err(anyhow!("transformers worker: `{op}` failed: {error}\n{tb}"))
    }

    /// The error for a worker that stopped answering: its exit status and stderr tail.
    fn died(&mut self, op: &str, io: Option<std::io::Error>) -> anyhow::Error {
        self.stdin = None;
        // it closed stdout: give it a moment to exit and its stderr to drain
        let t0 = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if t0.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break None,
            }
        };
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(h) = self.drain.take() {
            let t0 = Instant::now();
            while !h.is_finished() && t0.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        let how = match (status, io) {
            (Some(s), _) => format!("exited ({s})"),
            (None, Some(e)) => format!("stopped answering ({e}) and was killed"),
            (None, None) => "closed its output and was killed".to_string(),
        };
        self.gone = Some(how.clone());
        let tail = self.stderr_tail();
        let tail = if tail.is_empty() { "(nothing on stderr)".to_string() } else { tail };
        anyhow!(
            "transformers worker (`{} {}`) {how} during `{op}`; its stderr ends with:\n{tail}",
            self.python.display(),
            self.script.display()
        )
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(h) = self.drain.take() {
            // the pipe closes with the process; don't wait on a grandchild holding it
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

/// Standard base64 (with padding) of `bytes`: how RGB8 pixels travel in a request.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= c.len() { A[(n >> shift) as usize & 63] as char } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc, "{plain}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn the_tail_keeps_the_last_bytes() {
        let mut t = Tail::default();
        t.push(&vec![b'a'; TAIL_BYTES]);
        t.push(b"end\n");
        let s = t.text();
        assert_eq!(s.len(), TAIL_BYTES - 1);
        assert!(s.ends_with("aend"));
    }
}
