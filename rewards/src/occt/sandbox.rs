//! The operating-system side of the OCCT worker sandbox, applied between fork and
//! exec (`pre_exec`) so that nothing of it depends on the Python process behaving.
//!
//! Layers, each one best effort where the kernel refuses it (the refusal is
//! recorded in [`Support`] and reported, never silently ignored):
//! - own process group (the pool kills the whole group on a timeout), parent-death
//!   signal (workers never outlive the trainer);
//! - rlimits: address space, CPU seconds, file size, no core dumps, open files,
//!   processes (Linux ignores the process limit for root);
//! - seccomp: no new processes (`fork`, `vfork`, `clone` without `CLONE_THREAD` fail
//!   with EPERM, `clone3` with ENOSYS so libc falls back to `clone` for threads), so
//!   a fork bomb cannot exhaust memory or pids even where the process limit does
//!   not bind (a root-owned worker); threads stay allowed;
//! - `unshare(CLONE_NEWUSER | CLONE_NEWNET)`: a network namespace with only a down
//!   loopback, so no connection can be made;
//! - Landlock: file-system writes (creating, removing, writing, truncating,
//!   renaming) only beneath the worker's scratch directory (and `/dev/null`); TCP
//!   bind/connect refused (ABI >= 4, the fallback where no network namespace can
//!   be made); no signals to, and no abstract sockets of, processes outside the
//!   sandbox (ABI >= 6).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Resource limits of one worker process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) address_space: u64,
    pub(crate) cpu_seconds: u64,
    pub(crate) file_size: u64,
    pub(crate) open_files: u64,
    pub(crate) processes: u64,
}

/// What the kernel allows, probed once per pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Support {
    /// User + network namespaces can be created.
    pub netns: bool,
    /// Landlock ABI version (0: unavailable).
    pub landlock_abi: i32,
    /// A seccomp filter can refuse new processes.
    pub no_fork: bool,
}

impl Support {
    /// A one-line description of the containment that holds, for logs and reports.
    pub fn describe(&self) -> String {
        let net = if self.netns {
            "network namespace (no network)".to_string()
        } else if self.landlock_abi >= 4 {
            "no network namespace (kernel refuses it); Landlock refuses TCP bind/connect, UDP stays possible"
                .to_string()
        } else {
            "no network namespace and no Landlock network rules: only the Python layer keeps programs off the network".to_string()
        };
        let fs = if self.landlock_abi > 0 {
            format!("Landlock ABI {}: writes only in the scratch directory", self.landlock_abi)
        } else {
            "no Landlock: only the Python layer keeps writes in the scratch directory".to_string()
        };
        let procs = if self.no_fork {
            "seccomp: no new processes"
        } else {
            "no seccomp: new processes limited only by rlimits and the timeout"
        };
        format!("{net}; {fs}; {procs}; rlimits; process group killed on timeout")
    }
}

const SYS_LANDLOCK_CREATE_RULESET: libc::c_long = 444;
const SYS_LANDLOCK_ADD_RULE: libc::c_long = 445;
const SYS_LANDLOCK_RESTRICT_SELF: libc::c_long = 446;
const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

// file-system rights that change the file system
const FS_WRITE_FILE: u64 = 1 << 1;
const FS_REMOVE_DIR: u64 = 1 << 4;
const FS_REMOVE_FILE: u64 = 1 << 5;
const FS_MAKE_CHAR: u64 = 1 << 6;
const FS_MAKE_DIR: u64 = 1 << 7;
const FS_MAKE_REG: u64 = 1 << 8;
const FS_MAKE_SOCK: u64 = 1 << 9;
const FS_MAKE_FIFO: u64 = 1 << 10;
const FS_MAKE_BLOCK: u64 = 1 << 11;
const FS_MAKE_SYM: u64 = 1 << 12;
const FS_REFER: u64 = 1 << 13;
const FS_TRUNCATE: u64 = 1 << 14;
const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

fn landlock_abi() -> i32 {
    // SAFETY: the version query takes no pointer and has no side effect.
    let r = unsafe {
        libc::syscall(
            SYS_LANDLOCK_CREATE_RULESET,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if r < 0 { 0 } else { r as i32 }
}

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(target_arch = "x86_64")]
const SYS_FORK: u32 = libc::SYS_fork as u32;
#[cfg(target_arch = "x86_64")]
const SYS_VFORK: u32 = libc::SYS_vfork as u32;
// no such system calls on aarch64 (libc forks through clone): a number none has
#[cfg(not(target_arch = "x86_64"))]
const SYS_FORK: u32 = u32::MAX;
#[cfg(not(target_arch = "x86_64"))]
const SYS_VFORK: u32 = u32::MAX;

/// The seccomp program: every system call allowed except new processes (`fork`,
/// `vfork`, `clone` without `CLONE_THREAD`: EPERM; `clone3`: ENOSYS, which makes
/// glibc fall back to `clone` for threads, whose flags a filter can read). System
/// calls through another ABI (32-bit `int 0x80`, x32 numbers) are all refused: the
/// worker never uses them and they would bypass the numbers checked here.
fn no_fork_filter() -> [libc::sock_filter; 14] {
    const LD: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const JSET: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const X32_BIT: u32 = 0x4000_0000;
    let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
    let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    [
        f(LD, 0, 0, 4),                           // 0: arch
        f(JEQ, 1, 0, AUDIT_ARCH),                 // 1: ours -> 3
        f(RET, 0, 0, eperm),                      // 2: another ABI
        f(LD, 0, 0, 0),                           // 3: syscall number
        f(JGE, 8, 0, X32_BIT),                    // 4: x32 -> 13
        f(JEQ, 0, 1, libc::SYS_clone3 as u32),    // 5
        f(RET, 0, 0, enosys),                     // 6
        f(JEQ, 5, 0, SYS_FORK),                   // 7: -> 13
        f(JEQ, 4, 0, SYS_VFORK),                  // 8: -> 13
        f(JEQ, 0, 2, libc::SYS_clone as u32),     // 9: not clone -> 12
        f(LD, 0, 0, 16),                          // 10: clone flags (low word)
        f(JSET, 0, 1, libc::CLONE_THREAD as u32), // 11: thread -> 12, else -> 13
        f(RET, 0, 0, SECCOMP_RET_ALLOW),          // 12
        f(RET, 0, 0, eperm),                      // 13
    ]
}

/// Install [`no_fork_filter`] on the calling thread (async-signal-safe: two prctls).
fn install_no_fork() -> io::Result<()> {
    let filter = no_fork_filter();
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: `prog` points at a live, well-formed filter for the duration of the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Probe namespaces (by starting `python -S -c pass` in them), Landlock, and the
/// seccomp filter (a Python under it must still start threads and must fail to fork).
pub(crate) fn probe(python: &Path) -> Support {
    let no_fork = probe_no_fork(python);
    let mut cmd = quiet_python(python, "pass");
    // SAFETY: unshare is async-signal-safe; nothing is allocated.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let netns = cmd.status().map(|s| s.success()).unwrap_or(false);
    Support { netns, landlock_abi: landlock_abi(), no_fork }
}

fn probe_no_fork(python: &Path) -> bool {
    let mut cmd = quiet_python(
        python,
        "import os, threading\nt = threading.Thread(target=lambda: None)\nt.start(); t.join()\n\
         try:\n    os.fork()\nexcept PermissionError:\n    raise SystemExit(7)\nos._exit(0)",
    );
    // SAFETY: install_no_fork only makes two prctl calls.
    unsafe {
        cmd.pre_exec(install_no_fork);
    }
    cmd.status().map(|s| s.code() == Some(7)).unwrap_or(false)
}

/// `python -S -c CODE` with no standard streams, for the probes.
fn quiet_python(python: &Path, code: &str) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-S", "-c", code])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Descriptors the child needs for its Landlock rules, opened before the fork.
pub(crate) struct Plan {
    limits: Limits,
    support: Support,
    scratch: OwnedFd,
    devnull: OwnedFd,
}

fn open_path(p: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::other(format!("{}: NUL in path", p.display())))?;
    // SAFETY: a valid C string; the returned fd is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::other(format!("opening {}: {}", p.display(), io::Error::last_os_error())));
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

impl Plan {
    pub(crate) fn new(limits: Limits, support: Support, scratch: &Path) -> io::Result<Plan> {
        Ok(Plan {
            limits,
            support,
            scratch: open_path(scratch)?,
            devnull: open_path(Path::new("/dev/null"))?,
        })
    }

    /// Install the sandbox on `cmd` (own process group + `pre_exec`).
    pub(crate) fn apply(self, cmd: &mut Command) {
        cmd.process_group(0);
        // SAFETY: the closure only makes raw syscalls (no allocation, no locks), as
        // required between fork and exec.
        unsafe {
            cmd.pre_exec(move || self.enter());
        }
    }

    fn enter(&self) -> io::Result<()> {
        let check = |r: libc::c_long| {
            if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
        };
        // SAFETY: plain syscalls on values owned by self.
        unsafe {
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) as libc::c_long)?;
            // namespaces first: a user namespace records its creator's process limit
            // as the bound at the parent level, which must not be the worker's
            if self.support.netns {
                check(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) as libc::c_long)?;
            }
            let l = &self.limits;
            for (res, v) in [
                (libc::RLIMIT_AS, l.address_space),
                (libc::RLIMIT_CPU, l.cpu_seconds),
                (libc::RLIMIT_FSIZE, l.file_size),
                (libc::RLIMIT_CORE, 0),
                (libc::RLIMIT_NOFILE, l.open_files),
                (libc::RLIMIT_NPROC, l.processes),
            ] {
                let r = libc::rlimit { rlim_cur: v as libc::rlim_t, rlim_max: v as libc::rlim_t };
                check(libc::setrlimit(res, &r) as libc::c_long)?;
            }
            let abi = self.support.landlock_abi;
            if abi > 0 {
                let mut fs = FS_WRITE_FILE
                    | FS_REMOVE_DIR
                    | FS_REMOVE_FILE
                    | FS_MAKE_CHAR
                    | FS_MAKE_DIR
                    | FS_MAKE_REG
                    | FS_MAKE_SOCK
                    | FS_MAKE_FIFO
                    | FS_MAKE_BLOCK
                    | FS_MAKE_SYM;
                if abi >= 2 {
                    fs |= FS_REFER;
                }
                if abi >= 3 {
                    fs |= FS_TRUNCATE;
                }
                let attr = RulesetAttr {
                    handled_access_fs: fs,
                    handled_access_net: if abi >= 4 { NET_BIND_TCP | NET_CONNECT_TCP } else { 0 },
                    scoped: if abi >= 6 { SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL } else { 0 },
                };
                let size = if abi >= 6 {
                    24usize
                } else if abi >= 4 {
                    16
                } else {
                    8
                };
                let rs = libc::syscall(SYS_LANDLOCK_CREATE_RULESET, &attr as *const RulesetAttr, size, 0u32);
                check(rs)?;
                let rule = PathBeneathAttr { allowed_access: fs, parent_fd: self.scratch.as_raw_fd() };
                check(libc::syscall(
                    SYS_LANDLOCK_ADD_RULE,
                    rs as libc::c_int,
                    LANDLOCK_RULE_PATH_BENEATH,
                    &rule as *const PathBeneathAttr,
                    0u32,
                ))?;
                let file_rights = FS_WRITE_FILE | if abi >= 3 { FS_TRUNCATE } else { 0 };
                let rule =
                    PathBeneathAttr { allowed_access: file_rights, parent_fd: self.devnull.as_raw_fd() };
                check(libc::syscall(
                    SYS_LANDLOCK_ADD_RULE,
                    rs as libc::c_int,
                    LANDLOCK_RULE_PATH_BENEATH,
                    &rule as *const PathBeneathAttr,
                    0u32,
                ))?;
                check(libc::prctl(
                    libc::PR_SET_NO_NEW_PRIVS,
                    1 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                ) as libc::c_long)?;
                check(libc::syscall(SYS_LANDLOCK_RESTRICT_SELF, rs as libc::c_int, 0u32))?;
                libc::close(rs as libc::c_int);
            }
        }
        // last: everything above may still need a helper process; nothing below does
        if self.support.no_fork {
            install_no_fork()?;
        }
        Ok(())
    }
}

/// Kill a worker's whole process group.
pub(crate) fn kill_group(pid: u32) {
    // SAFETY: sending a signal has no memory effects; a stale group is harmless (ESRCH).
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the classic-BPF subset the filter uses on a `seccomp_data` (nr, arch, arg0).
    fn run(prog: &[libc::sock_filter], nr: u32, arch: u32, arg0: u32) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            let (jt, jf) = (i.jt as usize, i.jf as usize);
            match i.code {
                0x20 => {
                    acc = match i.k {
                        0 => nr,
                        4 => arch,
                        16 => arg0,
                        k => panic!("load at {k}"),
                    };
                    pc += 1;
                }
                0x15 => pc += 1 + if acc == i.k { jt } else { jf },
                0x35 => pc += 1 + if acc >= i.k { jt } else { jf },
                0x45 => pc += 1 + if acc & i.k != 0 { jt } else { jf },
                0x06 => return i.k,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn filter_refuses_new_processes_and_allows_threads() {
        let p = no_fork_filter();
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u32;
        let clone = libc::SYS_clone as u32;
        assert_eq!(run(&p, clone, AUDIT_ARCH, thread), SECCOMP_RET_ALLOW);
        assert_eq!(run(&p, clone, AUDIT_ARCH, libc::SIGCHLD as u32), eperm);
        assert_eq!(run(&p, clone, AUDIT_ARCH, (libc::CLONE_VM | libc::CLONE_VFORK) as u32), eperm);
        assert_eq!(run(&p, libc::SYS_clone3 as u32, AUDIT_ARCH, 0), SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(run(&p, SYS_FORK, AUDIT_ARCH, 0), eperm);
            assert_eq!(run(&p, SYS_VFORK, AUDIT_ARCH, 0), eperm);
            assert_eq!(run(&p, 0x4000_0000 | SYS_FORK, AUDIT_ARCH, 0), eperm, "x32 fork");
        }
        for nr in [libc::SYS_read, libc::SYS_write, libc::SYS_mmap, libc::SYS_openat] {
            assert_eq!(run(&p, nr as u32, AUDIT_ARCH, 0), SECCOMP_RET_ALLOW);
        }
        assert_eq!(run(&p, 2, 0x4000_0003, 0), eperm, "i386 fork through int 0x80");
    }
}
