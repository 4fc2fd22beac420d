//! The few llama-server endpoints the workload uses, over plain HTTP on localhost:
//! `GET /health`, `POST /completion` and `GET /slots`.

use serde::Deserialize;
use std::time::Duration;

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(timeout)
        .http_status_as_error(false)
        .build()
        .into()
}

/// Whether `GET /health` answers 200 (the model is loaded and the server accepts work).
pub fn health(port: u16) -> bool {
    agent(Some(Duration::from_secs(2)))
        .get(format!("http://127.0.0.1:{port}/health"))
        .call()
        .is_ok_and(|r| r.status() == 200)
}

/// What the server said about one completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Completion {
    /// Prompt tokens the server evaluated for it (`tokens_evaluated`).
    pub prompt_tokens: u32,
    /// Tokens it generated (`tokens_predicted`).
    pub decode_tokens: u32,
    /// The slot that served it (`id_slot`), when the server says.
    pub slot: Option<i64>,
}

#[derive(Deserialize)]
struct CompletionBody {
    #[serde(default)]
    tokens_evaluated: u32,
    #[serde(default)]
    tokens_predicted: u32,
    #[serde(default)]
    id_slot: Option<i64>,
}

/// Sends one `POST /completion` and waits for the whole answer: greedy, exactly
/// `n_predict` tokens (`ignore_eos`), the server's prompt caching on. `Err` with a
/// description on a transport error, a non-200 status or an answer that is not JSON.
pub fn completion(port: u16, prompt: &str, n_predict: u32) -> Result<Completion, String> {
    let body = serde_json::json!({
        "prompt": prompt,
        "n_predict": n_predict,
        "ignore_eos": true,
        "cache_prompt": true,
        "temperature": 0.0,
        "seed": 1,
        "stream": false,
    });
    let mut resp = agent(None)
        .post(format!("http://127.0.0.1:{port}/completion"))
        .send_json(&body)
        .map_err(|e| format!("POST /completion: {e}"))?;
    let status = resp.status();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("POST /completion: reading the answer: {e}"))?;
    if status != 200 {
        let head: String = text.chars().take(300).collect();
        return Err(format!("POST /completion: HTTP {status}: {head}"));
    }
    let b: CompletionBody = serde_json::from_str(&text)
        .map_err(|e| format!("POST /completion: the answer is not a completion: {e}"))?;
    Ok(Completion {
        prompt_tokens: b.tokens_evaluated,
        decode_tokens: b.tokens_predicted,
        slot: b.id_slot,
    })
}

/// One slot of `GET /slots`: upstream says `is_processing`; the 2024 server of
/// bitnet.cpp's fork says `state` (0 idle, else busy).
#[derive(Deserialize)]
struct SlotBody {
    #[serde(default)]
    is_processing: bool,
    #[serde(default)]
    state: Option<i64>,
}

impl SlotBody {
    fn busy(&self) -> bool {
        self.is_processing || self.state.is_some_and(|s| s != 0)
    }
}

/// How many slots `GET /slots` reports busy (`None` when the endpoint does not answer).
pub fn busy_slots(port: u16) -> Option<u32> {
    let mut resp = agent(Some(Duration::from_secs(5)))
        .get(format!("http://127.0.0.1:{port}/slots"))
        .call()
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let slots: Vec<SlotBody> = resp.body_mut().read_json().ok()?;
    Some(slots.iter().filter(|s| s.busy()).count() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_slots_read_upstreams_flag_and_the_forks_state() {
        let slots: Vec<SlotBody> = serde_json::from_str(
            r#"[{"id":0,"is_processing":true},{"id":1,"is_processing":false},
                {"id":2,"state":1},{"id":3,"state":0}]"#,
        )
        .unwrap();
        let busy: Vec<bool> = slots.iter().map(SlotBody::busy).collect();
        assert_eq!(busy, [true, false, true, false]);
    }
}
