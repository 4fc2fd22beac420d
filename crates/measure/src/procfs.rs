//! Readings from `/proc`: a process's resident memory (`/proc/PID/status`), resetting the
//! peak (`/proc/self/clear_refs`), and the process tree under a process.
//!
//! Units: the kernel prints kB (KiB); every figure here is converted to bytes.

use super::error::MeasureError;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::PathBuf;

/// Memory figures of one process from `/proc/PID/status`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcStatus {
    /// Resident set now (`VmRSS`).
    pub vm_rss: u64,
    /// Peak resident set since start or the last reset (`VmHWM`).
    pub vm_hwm: u64,
    /// Anonymous resident pages (`RssAnon`).
    pub rss_anon: u64,
    /// File-backed resident pages (`RssFile`).
    pub rss_file: u64,
    /// Shared-memory resident pages (`RssShmem`).
    pub rss_shmem: u64,
    /// Virtual size (`VmSize`).
    pub vm_size: u64,
}

/// Parses the text of a `/proc/PID/status` file. Fields that are missing stay 0 (kernel
/// threads have no `Vm*` lines); a present field whose value does not parse is an error.
pub fn parse_status(text: &str) -> Result<ProcStatus, MeasureError> {
    let mut s = ProcStatus::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "VmRSS" => &mut s.vm_rss,
            "VmHWM" => &mut s.vm_hwm,
            "RssAnon" => &mut s.rss_anon,
            "RssFile" => &mut s.rss_file,
            "RssShmem" => &mut s.rss_shmem,
            "VmSize" => &mut s.vm_size,
            _ => continue,
        };
        *slot = parse_kib(value).ok_or_else(|| MeasureError::Proc {
            path: PathBuf::from("/proc/PID/status"),
            what: format!("cannot read {key} from {value:?}"),
        })?;
    }
    Ok(s)
}

/// Parses `"   1688 kB"` into bytes.
fn parse_kib(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

/// Reads `/proc/self/status`.
pub fn read_self() -> Result<ProcStatus, MeasureError> {
    read_path(PathBuf::from("/proc/self/status"))
}

/// Reads `/proc/PID/status` of another process.
pub fn read_pid(pid: u32) -> Result<ProcStatus, MeasureError> {
    read_path(PathBuf::from(format!("/proc/{pid}/status")))
}

fn read_path(path: PathBuf) -> Result<ProcStatus, MeasureError> {
    let text = fs::read_to_string(&path).map_err(|source| MeasureError::Io {
        path: path.clone(),
        source,
    })?;
    parse_status(&text).map_err(|e| match e {
        MeasureError::Proc { what, .. } => MeasureError::Proc { path, what },
        other => other,
    })
}

/// Resets this process's `VmHWM` to its current RSS by writing `5` to
/// `/proc/self/clear_refs` (Linux >= 4.0). Returns `Ok(false)` where the kernel or a
/// sandbox refuses it: the peak then keeps counting from the start of the process.
///
/// Note: the kernel reports `ru_maxrss` of an exited process from the same high-water
/// mark, so after a reset, `wait4`'s `ru_maxrss` is the peak since the last reset only.
pub fn reset_peak() -> Result<bool, MeasureError> {
    let path = PathBuf::from("/proc/self/clear_refs");
    let opened = fs::OpenOptions::new().write(true).open(&path);
    let mut f = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(MeasureError::Io { path, source }),
    };
    match f.write_all(b"5") {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(false),
        Err(source) => Err(MeasureError::Io { path, source }),
    }
}

/// The parent process id of `pid` from `/proc/PID/stat`, None if it is gone or unreadable.
fn parent_of(pid: u32) -> Option<u32> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')'; the fields
    // after the last ')' are: state ppid ...
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// All live processes in the tree rooted at `root` (root included if it is alive), found by
/// scanning `/proc/*/stat` for parent links. Processes that exit during the scan are
/// skipped; a process re-parented to init after its parent exited is no longer found
/// (the usual limit of /proc polling; daemonising children escape it).
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut alive: HashSet<u32> = HashSet::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = parent_of(pid) {
                alive.insert(pid);
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    let mut seen = HashSet::new();
    while let Some(p) = stack.pop() {
        if !seen.insert(p) {
            continue;
        }
        if alive.contains(&p) {
            out.push(p);
        }
        if let Some(kids) = children.get(&p) {
            stack.extend(kids.iter().copied());
        }
    }
    out
}

/// Resident memory of the tree rooted at `root`, and the number of processes counted: the
/// process's `VmRSS` when it is alone (what `time -v` reports), and the sum of each
/// process's proportional set size (`Pss` of `/proc/PID/smaps_rollup`) when there are
/// several, so that pages they share (a forked parent's, a mapped model file) are counted
/// once, not once per process.
pub fn tree_rss(root: u32) -> (u64, usize) {
    let pids = process_tree(root);
    if pids.len() <= 1 {
        return match pids.first().map(|&p| read_pid(p)) {
            Some(Ok(s)) => (s.vm_rss, 1),
            _ => (0, 0),
        };
    }
    let mut total = 0;
    let mut n = 0;
    for pid in pids {
        let pss = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .ok()
            .and_then(|t| kib_field(&t, "Pss:"));
        let rss = || read_pid(pid).ok().map(|s| s.vm_rss);
        if let Some(b) = pss.or_else(rss) {
            total += b;
            n += 1;
        }
    }
    (total, n)
}

/// The value of a `Name:   N kB` line, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l[name.len()..].split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|k| k * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_proportional_set_size() {
        let text = "55d0-7ffe ---p 00000000 00:00 0 [rollup]\nRss:   2000 kB\nPss:   1500 kB\n";
        assert_eq!(kib_field(text, "Pss:"), Some(1500 * 1024));
        assert_eq!(kib_field(text, "Swap:"), None);
        // This test process (and whatever children other tests started).
        let (rss, n) = tree_rss(std::process::id());
        assert!(n >= 1 && rss > 0, "{rss} over {n} processes");
    }

    #[test]
    fn parses_a_status_file() {
        let text = "Name:\tcat\nVmPeak:\t    8000 kB\nVmSize:\t    7000 kB\nVmHWM:\t    1688 kB\n\
                    VmRSS:\t    1600 kB\nRssAnon:\t     100 kB\nRssFile:\t    1500 kB\n\
                    RssShmem:\t       0 kB\nThreads:\t1\n";
        let s = parse_status(text).unwrap();
        assert_eq!(s.vm_hwm, 1688 * 1024);
        assert_eq!(s.vm_rss, 1600 * 1024);
        assert_eq!(s.rss_anon, 100 * 1024);
        assert_eq!(s.rss_file, 1500 * 1024);
        assert_eq!(s.vm_size, 7000 * 1024);
    }

    #[test]
    fn rejects_a_garbled_value() {
        assert!(parse_status("VmRSS:\t lots kB\n").is_err());
        assert!(parse_status("VmRSS:\t 12 MB\n").is_err());
    }

    #[test]
    fn reads_itself_and_finds_itself_in_its_tree() {
        let s = read_self().unwrap();
        assert!(s.vm_rss > 0 && s.vm_hwm >= s.vm_rss);
        let me = std::process::id();
        assert!(process_tree(me).contains(&me));
        let (rss, n) = tree_rss(me);
        assert!(n >= 1 && rss >= s.vm_rss / 2);
    }

    #[test]
    fn reset_lowers_the_peak_after_a_freed_allocation() {
        // 64 MiB touched then freed: the peak holds it until the reset.
        let big = vec![1u8; 64 << 20];
        let sum: u64 = big.iter().step_by(4096).map(|&b| b as u64).sum();
        assert_eq!(sum, (64 << 20) / 4096);
        drop(big);
        let before = read_self().unwrap();
        if reset_peak().unwrap() {
            let after = read_self().unwrap();
            assert!(
                after.vm_hwm + (32 << 20) < before.vm_hwm,
                "{before:?} {after:?}"
            );
        }
    }
}
