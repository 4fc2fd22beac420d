//! Driving a server while it is measured: wait until it answers its health check, fire a
//! workload of concurrent requests at it (every slot busy at once, then again), and stop
//! it. Used by `profiler exec --serve` through [`crate::exec::exec_driven`].
//!
//! The workload is `clients` threads, one per slot, each sending `requests_per_client`
//! requests one after another; a barrier starts each wave together, so all slots are busy
//! at once. Every request has a prompt of its own (distinct from its first token), so no
//! slot reuses another's cache and the server's prompt cache stores each earlier state.

pub mod http;
pub mod workload;

pub use workload::{run_workload, WorkloadSpec};

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound and released; another process could take it before
/// the server does, which then fails to start and is reported as such).
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}

/// Why a server never became ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// The process ended while loading.
    #[error("it exited before it was ready (see its log)")]
    Exited,
    /// It did not answer in time.
    #[error("it did not become ready within {0} s")]
    Timeout(u64),
}

/// Waits until `GET /health` on `port` answers 200 (it answers 503 while the model
/// loads), checking `alive` between tries.
pub fn wait_ready(
    port: u16,
    timeout: Duration,
    alive: impl Fn() -> bool,
) -> Result<Duration, NotReady> {
    let start = Instant::now();
    loop {
        if http::health(port) {
            return Ok(start.elapsed());
        }
        if !alive() {
            return Err(NotReady::Exited);
        }
        if start.elapsed() > timeout {
            return Err(NotReady::Timeout(timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until something listens on `port` (an RPC worker that has bound its socket),
/// checking `alive` between tries.
pub fn wait_listening(
    port: u16,
    timeout: Duration,
    alive: impl Fn() -> bool,
) -> Result<Duration, NotReady> {
    let start = Instant::now();
    loop {
        if port_is_bound(port) {
            return Ok(start.elapsed());
        }
        if !alive() {
            return Err(NotReady::Exited);
        }
        if start.elapsed() > timeout {
            return Err(NotReady::Timeout(timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a socket is bound to 127.0.0.1:`port`, seen by trying to bind it ourselves
/// (connecting would open a session with an RPC worker, which serves one client at a
/// time).
fn port_is_bound(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_seen_and_a_free_one_is_not() {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(wait_listening(port, Duration::from_secs(1), || true).is_ok());
        drop(l);
        let free = free_port().unwrap();
        assert_eq!(
            wait_listening(free, Duration::from_millis(100), || false),
            Err(NotReady::Exited)
        );
        assert_eq!(
            wait_ready(free, Duration::from_millis(0), || true),
            Err(NotReady::Timeout(0))
        );
    }
}
