//! The measured workload: concurrent clients in waves, every request with its own prompt.

use super::http;
use crate::engine::prompt::{prompt_text, PromptWord};
use predictor::record::Workload;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Concurrent clients (one per slot, so every slot is busy at once).
    pub clients: u32,
    /// Requests each client sends, one after another (waves, started together).
    pub requests_per_client: u32,
    /// Prompt tokens of each request (about; the server reports the real count).
    pub prompt_tokens: u32,
    /// Tokens generated per request.
    pub decode_tokens: u32,
    /// The word the prompts repeat (see [`crate::engine::prompt`]).
    pub word: PromptWord,
}

/// The prompt of request `n`: it starts with the request's own number, so no two requests
/// share more than a token or two of prefix.
pub fn request_prompt(spec: &WorkloadSpec, n: u32) -> String {
    let body = prompt_text(&spec.word, spec.prompt_tokens.saturating_sub(1).max(1));
    format!(
        "{n}{}{body}",
        if spec.word.text.starts_with(' ') {
            " "
        } else {
            ""
        }
    )
}

/// Runs the workload against the server on `port`. A failed request is counted and
/// the rest go on; once the server is gone (`alive` false) no new request is sent.
pub fn run_workload(port: u16, spec: &WorkloadSpec, alive: &(dyn Fn() -> bool + Sync)) -> Workload {
    let start = Instant::now();
    let n = spec.clients.max(1);
    let barrier = Barrier::new(n as usize);
    let failed = AtomicU32::new(0);
    let done = AtomicBool::new(false);
    let max_busy = AtomicU32::new(0);
    let results: Mutex<Vec<(u32, http::Completion)>> = Mutex::new(Vec::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        // Counts the slots busy at once while the clients run.
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if let Some(b) = http::busy_slots(port) {
                    max_busy.fetch_max(b, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let clients: Vec<_> = (0..n)
            .map(|c| {
                let (barrier, failed, results, errors) = (&barrier, &failed, &results, &errors);
                scope.spawn(move || {
                    for r in 0..spec.requests_per_client.max(1) {
                        barrier.wait();
                        if !alive() {
                            failed.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                        let id = r * n + c;
                        match http::completion(port, &request_prompt(spec, id), spec.decode_tokens)
                        {
                            Ok(done) => results
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((id, done)),
                            Err(e) => {
                                failed.fetch_add(1, Ordering::SeqCst);
                                errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                            }
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            let _ = c.join();
        }
        done.store(true, Ordering::SeqCst);
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(id, _)| *id);
    for e in errors
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .take(3)
    {
        eprintln!("  request failed: {e}");
    }
    Workload {
        clients: n,
        requests_per_client: spec.requests_per_client.max(1),
        prompt_tokens: results.iter().map(|(_, c)| c.prompt_tokens).collect(),
        decode_tokens: results.iter().map(|(_, c)| c.decode_tokens).collect(),
        failed_requests: failed.into_inner(),
        max_busy_slots: max_busy.into_inner(),
        wall_ms: start.elapsed().as_secs_f64() * 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_starts_with_its_own_number() {
        let spec = WorkloadSpec {
            clients: 2,
            requests_per_client: 2,
            prompt_tokens: 10,
            decode_tokens: 1,
            word: PromptWord {
                text: " the".into(),
                tokens_each: 1,
            },
        };
        let a = request_prompt(&spec, 0);
        let b = request_prompt(&spec, 3);
        assert!(a.starts_with("0 Once the"), "{a}");
        assert!(b.starts_with("3 Once the"), "{b}");
        // 9 words and the beginning-of-sequence token: about 10 tokens.
        assert_eq!(a.split_whitespace().count(), 9);
    }
}
