//! Waiting for a child with `wait4` (exit status plus its own `ru_maxrss`), and limits
//! applied to a child before it runs.

use super::error::MeasureError;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// How a child ended, with its resource usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// Signal that killed it, when it was killed.
    pub signal: Option<i32>,
    /// The child's peak resident set as the kernel reports it to `wait4` (`ru_maxrss`,
    /// converted from KiB). For a process that reset its `VmHWM`, this is the peak since
    /// the last reset.
    pub maxrss_bytes: u64,
    /// User CPU time in milliseconds.
    pub user_ms: u64,
    /// System CPU time in milliseconds.
    pub sys_ms: u64,
}

impl ExitInfo {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `exit code N` or `killed by SIGNAME`.
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by {}", signal_name(s)),
            (None, None) => "ended for an unknown reason".into(),
        }
    }
}

/// The usual name of a signal number (`SIGKILL`), or `signal N`.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGPIPE => "SIGPIPE",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

fn tv_ms(tv: libc::timeval) -> u64 {
    (tv.tv_sec.max(0) as u64) * 1000 + (tv.tv_usec.max(0) as u64) / 1000
}

/// Reaps `pid` if it has ended, without blocking. `Ok(None)` while it still runs.
pub fn try_wait(pid: u32) -> Result<Option<ExitInfo>, MeasureError> {
    wait_inner(pid, libc::WNOHANG)
}

/// Blocks until `pid` ends and reaps it.
pub fn wait(pid: u32) -> Result<ExitInfo, MeasureError> {
    loop {
        if let Some(info) = wait_inner(pid, 0)? {
            return Ok(info);
        }
    }
}

fn wait_inner(pid: u32, flags: i32) -> Result<Option<ExitInfo>, MeasureError> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it and status.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, flags, &mut ru) };
    if r == 0 {
        return Ok(None);
    }
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(None);
        }
        return Err(MeasureError::Process {
            what: format!("wait4 on process {pid}"),
            source: e,
        });
    }
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Ok(Some(ExitInfo {
        code,
        signal,
        maxrss_bytes: (ru.ru_maxrss.max(0) as u64) * 1024,
        user_ms: tv_ms(ru.ru_utime),
        sys_ms: tv_ms(ru.ru_stime),
    }))
}

/// Sends SIGKILL to `pid` (a child of ours that has not been reaped yet).
pub fn kill(pid: u32) {
    // SAFETY: plain syscall; an already-exited but unreaped child is still ours, so the
    // pid cannot have been reused.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Sends SIGKILL to the process group led by `pid` (a child started with
/// `process_group(0)`), then to `pid` itself in case it left the group.
pub fn kill_group(pid: u32) {
    // SAFETY: plain syscalls on our child's group.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Sends `signal` to the process group led by `pid` (a child started with
/// `process_group(0)`) and to `pid` itself.
pub fn signal_group(pid: u32, signal: i32) {
    // SAFETY: plain syscalls on our child's group.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Sends SIGKILL to what is left of the process group `pgid` after its leader was reaped
/// (descendants a command left running). No error when the group is empty.
pub fn kill_group_members(pgid: u32) {
    // SAFETY: plain syscall on the group our child led.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set a flag ([`interrupted`]) instead of killing the profiler at
/// once, so the watch loop can stop the measured tree first and the caller can stop after
/// the records already written. Idempotent.
pub fn catch_interrupts() {
    let handler = on_interrupt as extern "C" fn(libc::c_int);
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

/// Whether SIGINT or SIGTERM arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Makes the child get SIGKILL when the profiler dies (`PR_SET_PDEATHSIG`), so a killed
/// sweep leaves no measurement running.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Limits the child's address space (`RLIMIT_AS`) to `bytes`: an allocation past it fails
/// in the child, which the profiler then records as `oom`. Address space counts
/// reservations too (thread stacks, malloc arenas), so leave room above the resident need.
pub fn limit_address_space(cmd: &mut Command, bytes: u64) {
    // SAFETY: the closure runs between fork and exec and only calls setrlimit, which is
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::zombie_processes)] // reaped by our own wait4, which clippy cannot see
    fn reports_exit_codes_and_signals() {
        let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let info = wait(child.id()).unwrap();
        assert_eq!(info.code, Some(3));
        assert!(!info.success());
        let child = Command::new("sh")
            .args(["-c", "kill -9 $$"])
            .spawn()
            .unwrap();
        let info = wait(child.id()).unwrap();
        assert_eq!(info.signal, Some(libc::SIGKILL));
        assert_eq!(info.describe(), "killed by SIGKILL");
    }
}
