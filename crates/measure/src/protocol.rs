//! The protocol between the profiler and the child process that runs one measurement.
//!
//! The parent starts `profiler __child '<ChildSpec as JSON>'`. The child writes one line
//! per event on its stdout, each starting with [`EVENT_PREFIX`] followed by a
//! [`ChildEvent`] as JSON, and flushes after each, so the phases measured before a crash
//! reach the parent. Other stdout lines are passed through to the parent's stderr.

use predictor::record::PhaseMeasure;
use predictor::RunConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Marks protocol lines on the child's stdout.
pub const EVENT_PREFIX: &str = "@memcal ";

/// Name of the hidden subcommand that runs a child.
pub const CHILD_SUBCOMMAND: &str = "__child";

/// What the child runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildSpec {
    /// Model file.
    pub model: PathBuf,
    /// Configuration (device, batch, context, micro-batch, KV dtype, GPU layers).
    pub config: RunConfig,
    /// Prompt tokens prefilled per sequence. The `ctx - prompt - decode` positions before
    /// them count as an already cached prefix, so every run reaches the full context.
    pub prompt: u32,
    /// Decode steps after the prompt.
    pub decode: u32,
    /// Device memory used before the child started (the parent's reading, its own
    /// context included), subtracted from the child's GPU readings.
    pub gpu_baseline_used: Option<u64>,
    /// Seed of the synthetic prompt tokens.
    pub seed: u64,
}

/// One event of the child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChildEvent {
    /// A phase ended.
    Phase {
        /// Its measurement.
        phase: PhaseMeasure,
        /// Whether VmHWM was reset after it (false: the next phase's peak is cumulative).
        peak_reset: bool,
    },
    /// The run finished.
    Done {
        /// Wall time from child start to the end of decode, in milliseconds.
        wall_ms: f64,
        /// Decode tokens per second over the batch.
        decode_tokens_per_s: Option<f64>,
        /// Worker threads the runtime used.
        threads: usize,
        /// Peak device memory used over the run (baseline subtracted), on CUDA.
        gpu_peak_used_bytes: Option<u64>,
    },
    /// The run failed inside the child (the child then exits with code 1 or 2).
    Failed {
        /// The error, as the runtime printed it.
        message: String,
        /// Whether the child recognised it as an out-of-memory condition.
        oom: bool,
    },
}

impl ChildEvent {
    /// Encodes as one protocol line (prefix included, no newline).
    pub fn to_line(&self) -> String {
        // A ChildEvent holds only strings, numbers and options: encoding cannot fail.
        let json = serde_json::to_string(self).unwrap_or_else(|e| {
            format!("{{\"event\":\"failed\",\"message\":\"encoding an event: {e}\",\"oom\":false}}")
        });
        format!("{EVENT_PREFIX}{json}")
    }

    /// Decodes a stdout line: None when it is not a protocol line; an error when it is
    /// one but does not parse.
    pub fn from_line(line: &str) -> Option<Result<ChildEvent, String>> {
        let json = line.strip_prefix(EVENT_PREFIX)?;
        Some(serde_json::from_str(json).map_err(|e| format!("{e}: {json}")))
    }
}

/// Writes, into `buf`, the event line of an allocation the system allocator refused
/// (`Failed` with `oom: true`), without allocating: an allocator calls this at the moment
/// it fails. Returns the bytes written (the line is cut if `buf` is short; 128 bytes are
/// enough).
pub fn alloc_failure_line(buf: &mut [u8], bytes: usize) -> usize {
    let mut digits = [0u8; 20];
    let mut n = bytes;
    let mut d = digits.len();
    loop {
        d -= 1;
        digits[d] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let parts: [&[u8]; 4] = [
        EVENT_PREFIX.as_bytes(),
        b"{\"event\":\"failed\",\"message\":\"memory allocation of ",
        &digits[d..],
        b" bytes failed\",\"oom\":true}\n",
    ];
    let mut at = 0;
    for p in parts {
        let k = p.len().min(buf.len() - at);
        buf[at..at + k].copy_from_slice(&p[..k]);
        at += k;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_failure_line_is_a_typed_oom_event() {
        let mut buf = [0u8; 128];
        let n = alloc_failure_line(&mut buf, 1073741824);
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(line.ends_with('\n'));
        assert_eq!(
            ChildEvent::from_line(line.trim_end()),
            Some(Ok(ChildEvent::Failed {
                message: "memory allocation of 1073741824 bytes failed".into(),
                oom: true
            }))
        );
        let n = alloc_failure_line(&mut buf, 0);
        assert!(std::str::from_utf8(&buf[..n])
            .unwrap()
            .contains(" of 0 bytes"));
    }

    #[test]
    fn events_round_trip_through_lines() {
        let e = ChildEvent::Phase {
            phase: PhaseMeasure {
                name: "load".into(),
                rss_bytes: 5,
                ..Default::default()
            },
            peak_reset: true,
        };
        let line = e.to_line();
        assert!(line.starts_with(EVENT_PREFIX));
        assert_eq!(ChildEvent::from_line(&line), Some(Ok(e)));
        assert_eq!(ChildEvent::from_line("hello"), None);
        assert!(matches!(
            ChildEvent::from_line("@memcal {bad"),
            Some(Err(_))
        ));
    }
}
