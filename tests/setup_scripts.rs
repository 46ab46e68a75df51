//! The set-up scripts on machines as people have them: `scripts/bootstrap.sh` finds a
//! usable Python by running candidates (a pyenv shim that fails, a too-old Python, a
//! missing one, a working one later in the list), failures stop `main.sh` and `test.sh`
//! before cargo starts with a message naming Python, an interrupted install is redone,
//! and two set-ups at once share the cache. Every interpreter here is a fake (a shell
//! script) or the real Python that set-up found, on a PATH that holds nothing else but
//! the few tools the scripts use.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// What the scripts run besides Python: linked into the test's own bin folder.
const TOOLS: &[&str] = &[
    "bash", "env", "timeout", "cat", "mkdir", "rm", "flock", "tr", "cut", "dirname", "sleep", "touch", "cp",
    "ls", "cut",
];

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cadrl-setup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_exe(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn which(tool: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(tool);
        if p.exists() {
            return p;
        }
    }
    panic!("{tool} not found in /usr/bin, /bin, /usr/local/bin");
}

/// A machine: HOME (maybe with pyenv versions), a cache and a bin folder holding the
/// tools and whatever interpreters the test puts there.
struct Machine {
    dir: PathBuf,
    bin: PathBuf,
}

impl Machine {
    fn new(name: &str) -> Self {
        let dir = tmp(name);
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for t in TOOLS {
            let link = bin.join(t);
            if !link.exists() {
                std::os::unix::fs::symlink(which(t), link).unwrap();
            }
        }
        Self { dir, bin }
    }

    /// A pyenv shim for a version that is installed but not active: resolves by name,
    /// fails when run (pyenv's own words and exit status).
    fn failing_shim(&self, name: &str) {
        write_exe(
            &self.bin.join(name),
            &format!(
                "#!/bin/sh\necho \"pyenv: {name}: command not found\" >&2\n\
                 echo \"The \\`{name}' command exists in these Python versions: 3.12.1\" >&2\nexit 127\n"
            ),
        );
    }

    /// An interpreter that answers the probe as CPython `version` would.
    fn fake_version(&self, name: &str, version: &str) {
        write_exe(
            &self.bin.join(name),
            &format!("#!/bin/sh\ncat >/dev/null\nprintf '{version}\\t%s\\n' \"$0\"\n"),
        );
    }

    /// A working interpreter: the real Python set-up found, under `path`.
    fn real(&self, path: &Path) {
        write_exe(path, &format!("#!/bin/sh\nexec {} \"$@\"\n", real_python().display()));
    }

    fn run(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
        let start = Instant::now();
        let mut cmd = Command::new(which("bash"));
        cmd.arg(Path::new(ROOT).join(script))
            .args(args)
            .env_clear()
            .env("PATH", &self.bin)
            .env("HOME", self.dir.join("home"))
            .env("CADRL_CACHE", self.dir.join("cache"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (out, start.elapsed())
    }
}

/// The Python the test's own set-up uses (test.sh exports it), else what set-up finds.
fn real_python() -> PathBuf {
    if let Ok(p) = std::env::var("CADRL_TORCH_PYTHON") {
        return PathBuf::from(p);
    }
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join("scripts/bootstrap.sh"))
        .arg("--find-python")
        .output()
        .unwrap();
    assert!(out.status.success(), "no real Python here: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn finds_the_working_python_after_a_failing_shim_and_a_too_old_one() {
    let m = Machine::new("later");
    m.failing_shim("python3.12");
    m.fake_version("python3.11", "3.9");
    // no python3.13 at all
    m.real(&m.bin.join("python3"));
    let (out, _) = m.run("scripts/bootstrap.sh", &["--find-python"], &[]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let chosen = text(&out.stdout);
    // the real interpreter reports its own executable
    assert_eq!(
        chosen.trim(),
        text(
            &Command::new(m.bin.join("python3"))
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .unwrap()
                .stdout
        )
        .trim()
    );
    assert!(err.contains("[set-up] Python: python3 ->"), "says which one: {err}");
}

#[test]
fn prefers_pyenv_versions_over_a_failing_shim_of_the_same_version() {
    let m = Machine::new("pyenv");
    m.failing_shim("python3.12");
    let pyenv = m.dir.join("home/.pyenv/versions/3.12.1/bin/python3.12");
    m.real(&pyenv);
    m.fake_version("python3", "3.11"); // would also do, but comes later
    let (out, _) = m.run("scripts/bootstrap.sh", &["--find-python"], &[]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("[set-up] Python: {} ->", pyenv.display())), "{err}");
}

#[test]
fn no_usable_python_is_one_clear_error_listing_every_candidate() {
    let m = Machine::new("none");
    m.failing_shim("python3.12");
    m.fake_version("python3.11", "3.9");
    m.fake_version("python3", "3.14");
    write_exe(&m.bin.join("python"), "#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n");
    let (out, _) = m.run("scripts/bootstrap.sh", &["--find-python"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for want in [
        "no usable Python found",
        "python3.12: fails when run: pyenv: python3.12: command not found",
        "python3.11: is Python 3.9",
        "python3.13: not found",
        "python3: is Python 3.14",
        "python: fails when run: Segmentation fault",
        "3.11, 3.12 or 3.13",
        "CADRL_PYTHON",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(out.stdout.is_empty());
}

#[test]
fn cadrl_python_is_the_only_candidate_when_set() {
    let m = Machine::new("named");
    m.real(&m.bin.join("python3")); // usable, but not what the user named
    let broken = m.dir.join("broken-python");
    m.failing_shim("x");
    std::fs::rename(m.bin.join("x"), &broken).unwrap();
    let (out, _) =
        m.run("scripts/bootstrap.sh", &["--find-python"], &[("CADRL_PYTHON", broken.to_str().unwrap())]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("CADRL_PYTHON={} is not a usable Python", broken.display())), "{err}");

    let (out, _) = m.run("scripts/bootstrap.sh", &["--find-python"], &[("CADRL_PYTHON", "python3")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// main.sh and test.sh on a machine with only broken Pythons: non-zero within a minute,
/// a message naming Python, and cargo (a fake that leaves a mark) never started.
#[test]
fn main_and_test_stop_before_cargo_without_python() {
    for script in ["scripts/main.sh", "scripts/test.sh"] {
        let m = Machine::new("stop");
        m.failing_shim("python3.12");
        m.failing_shim("python3");
        m.fake_version("python3.11", "3.8");
        let mark = m.dir.join("cargo-ran");
        write_exe(&m.bin.join("cargo"), &format!("#!/bin/sh\ntouch {}\n", mark.display()));
        let (out, took) = m.run(script, &[], &[]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{script}: {err}");
        assert!(err.contains("FAILED: no usable Python found"), "{script}: {err}");
        assert!(!mark.exists(), "{script} started cargo after a failed set-up");
        assert!(took < Duration::from_secs(60), "{script} took {took:?}");
    }
}

/// A fake interpreter that installs nothing but behaves as venv/pip do for the script:
/// `-m venv DIR` copies itself to DIR/bin/python (and logs it), `-m pip install` fails
/// while $FAIL_PIP exists (as with no network), `-c` checks pass once pip succeeded.
const FAKE_INSTALLER: &str = r#"#!/bin/bash
case "$1" in
  -) cat >/dev/null; printf '3.12\t%s\n' "$0" ;;
  -m)
    if [ "$2" = venv ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; echo "venv $3" >> "$LOG"; exit 0; fi
    if [ "$2" = pip ]; then
      sleep "${PIP_SLEEP:-0}"
      if [ -e "$FAIL_PIP" ]; then echo "ERROR: Could not find a version (network)" >&2; exit 1; fi
      touch "$(dirname "$0")/../installed"; echo "pip $0" >> "$LOG"; exit 0
    fi ;;
  -c) [ -e "$(dirname "$0")/../installed" ] ;;
esac
"#;

#[test]
fn an_interrupted_install_is_redone_and_a_finished_one_kept() {
    let m = Machine::new("redo");
    let py = m.dir.join("fakepy");
    write_exe(&py, FAKE_INSTALLER);
    let fail = m.dir.join("fail-pip");
    let log = m.dir.join("log");
    std::fs::write(&fail, "").unwrap();
    let env = [
        ("CADRL_PYTHON", py.to_str().unwrap()),
        ("FAIL_PIP", fail.to_str().unwrap()),
        ("LOG", log.to_str().unwrap()),
    ];

    let (out, _) = m.run("scripts/bootstrap.sh", &["--env"], &env);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("pip could not install into") && err.contains("Rerun"), "{err}");
    assert!(out.stdout.is_empty(), "no environment printed after a failure");
    let cq = m.dir.join("cache/cq-2.8.0");
    assert!(!cq.join(".complete").exists(), "a failed install is not marked complete");

    std::fs::remove_file(&fail).unwrap();
    let (out, _) = m.run("scripts/bootstrap.sh", &["--env"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("CADRL_CQ_PYTHON={}/bin/python", cq.display())));
    let after = std::fs::read_to_string(&log).unwrap();
    // the broken cq venv was made again, then torch; extras went into the torch venv
    assert_eq!(after.matches("venv ").count(), 3, "{after}");
    assert_eq!(after.matches("pip ").count(), 3, "{after}");

    let (out, _) = m.run("scripts/bootstrap.sh", &["--env"], &env);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), after, "a finished install is kept");
}

#[test]
fn two_setups_at_once_install_once() {
    let m = Machine::new("lock");
    let py = m.dir.join("fakepy");
    write_exe(&py, FAKE_INSTALLER);
    let log = m.dir.join("log");
    let none = m.dir.join("no-such-file");
    let env = [
        ("CADRL_PYTHON", py.to_str().unwrap()),
        ("FAIL_PIP", none.to_str().unwrap()),
        ("LOG", log.to_str().unwrap()),
        ("PIP_SLEEP", "1"),
    ];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| m.run("scripts/bootstrap.sh", &[], &env).0);
        let b = s.spawn(|| m.run("scripts/bootstrap.sh", &[], &env).0);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success() && b.status.success(), "{}{}", text(&a.stderr), text(&b.stderr));
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(log.matches("venv ").count(), 2, "each venv made once: {log}");
    let waited = text(&a.stderr) + &text(&b.stderr);
    assert!(waited.contains("waiting for it"), "{waited}");
}
