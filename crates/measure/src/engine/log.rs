//! What an engine's log says about its memory: llama.cpp's buffer lines (model buffer per
//! buffer type, KV, output, compute), its build, and how many tokens it really processed.
//!
//! Formats read (upstream llama.cpp at `-lv 4`, and the 2024 fork bitnet.cpp runs on):
//! - `load_tensors:   CPU_Mapped model buffer size =   94.21 MiB`
//! - `llm_load_tensors:        CPU buffer size =  1124.81 MiB` (fork)
//! - `llama_kv_cache:        CPU KV buffer size =    12.00 MiB`
//! - `llama_kv_cache: size = 12.00 MiB (  4096 cells,  30 layers,  1/1 seqs), K (f16): 6.00 MiB, V (f16): 6.00 MiB`
//! - `llama_new_context_with_model: KV self size  =  150.00 MiB, K (f16):   75.00 MiB, V (f16):   75.00 MiB` (fork)
//! - `llama_context:        CPU  output buffer size =     0.19 MiB`
//! - `llama_context:        CPU compute buffer size =   101.00 MiB`
//! - `build: 11434 (abcdef12) with cc ...`
//! - `prompt eval time =  12.34 ms /    17 tokens (...)` and `eval time = ... /  3 runs`

use predictor::buffer::{BufferKind, EngineBuffer};
use predictor::record::EngineRun;

const MIB: f64 = 1024.0 * 1024.0;

fn mib_to_bytes(s: &str) -> Option<u64> {
    let v: f64 = s.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * MIB).round() as u64)
}

/// The number right before `unit` (e.g. `12.00 MiB`), searching from `from`.
fn number_before<'a>(text: &'a str, unit: &str) -> Option<&'a str> {
    let end = text.find(unit)?;
    let head = text[..end].trim_end();
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    Some(&head[start..])
}

/// `(buffer type, component, MiB)` from a `... <TYPE> <what> buffer size = X MiB` line.
fn buffer_line(line: &str) -> Option<EngineBuffer> {
    let at = line.find("buffer size =")?;
    let (head, tail) = line.split_at(at);
    let bytes = mib_to_bytes(number_before(tail, "MiB")?)?;
    let mut words: Vec<&str> = head.split_whitespace().collect();
    // The last word is the component (`model`, `KV`, `output`, `compute`) or, in the fork's
    // weight line, the buffer type itself (`llm_load_tensors: CPU buffer size`).
    let last = words.pop()?;
    let (component, buffer) = match last {
        "model" => (BufferKind::Model, words.pop()?),
        "KV" => (BufferKind::Kv, words.pop()?),
        "output" => (BufferKind::Output, words.pop()?),
        "compute" => (BufferKind::Compute, words.pop()?),
        t if head.contains("load_tensors") => (BufferKind::Model, t),
        _ => return None,
    };
    if buffer.ends_with(':') {
        return None;
    }
    Some(EngineBuffer::new(component, buffer, bytes))
}

/// K and V sizes from a KV summary line (`K (f16): 6.00 MiB, V (f16): 6.00 MiB`).
fn kv_split(line: &str) -> Option<(u64, u64)> {
    let k_at = line.find(" K (")?;
    let v_at = line.find(" V (")?;
    let k = mib_to_bytes(number_before(&line[k_at..v_at], "MiB")?)?;
    let v = mib_to_bytes(number_before(&line[v_at..], "MiB")?)?;
    Some((k, v))
}

/// The count before `word` after the `/` of a timing line.
fn count_after_slash(line: &str, word: &str) -> Option<u32> {
    let slash = line.find('/')?;
    let rest = &line[slash + 1..];
    let end = rest.find(word)?;
    rest[..end].trim().parse().ok()
}

/// Parses an engine's log into the engine part of a record (name, argv and build are
/// the caller's; the version is taken from the log when it prints one).
pub fn parse_log(name: &str, text: &str) -> EngineRun {
    let mut run = EngineRun {
        name: name.to_string(),
        ..EngineRun::default()
    };
    let (mut k_total, mut v_total) = (0u64, 0u64);
    let mut kv_lines = 0;
    for line in text.lines() {
        let l = line.trim();
        if let Some(b) = buffer_line(l) {
            run.buffers.push(b);
            continue;
        }
        if (l.contains("KV self size")
            || l.contains("llama_kv_cache: size =")
            || l.contains("kv_cache: size ="))
            && l.contains(" K (")
        {
            if let Some((k, v)) = kv_split(l) {
                k_total += k;
                v_total += v;
                kv_lines += 1;
            }
            continue;
        }
        if run.version.is_empty() {
            if let Some(rest) = l
                .split("build: ")
                .nth(1)
                .or_else(|| l.strip_prefix("build = "))
            {
                let v: String = rest
                    .split(" with ")
                    .next()
                    .unwrap_or(rest)
                    .trim()
                    .to_string();
                if v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    run.version = v;
                }
            }
        }
        if l.contains("prompt eval time") {
            if let Some(n) = count_after_slash(l, "token") {
                run.prompt_tokens = Some(n);
            }
        } else if l.contains(" eval time") || l.starts_with("eval time") {
            if let Some(n) = count_after_slash(l, "run") {
                run.decode_tokens = Some(n);
            }
        }
    }
    if kv_lines > 0 {
        let kv_type = run
            .buffers
            .iter()
            .find(|b| b.component == BufferKind::Kv)
            .map_or_else(|| "CPU".to_string(), |b| b.buffer.clone());
        run.buffers
            .push(EngineBuffer::new(BufferKind::KvK, &kv_type, k_total));
        run.buffers
            .push(EngineBuffer::new(BufferKind::KvV, &kv_type, v_total));
        if !run.has(BufferKind::Kv) {
            run.buffers
                .push(EngineBuffer::new(BufferKind::Kv, "CPU", k_total + v_total));
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = "\
build: 11434 (0a1b2c3d) with cc (Debian 12.2.0-14) 12.2.0 for x86_64-linux-gnu
load_tensors:   CPU_Mapped model buffer size =    94.21 MiB
load_tensors:   CPU_REPACK model buffer size =    60.50 MiB
llama_context:        CPU  output buffer size =     0.19 MiB
llama_kv_cache:        CPU KV buffer size =    12.00 MiB
llama_kv_cache: size =   12.00 MiB (  4096 cells,  30 layers,  1/1 seqs), K (f16):    6.00 MiB, V (f16):    6.00 MiB
llama_kv_cache:        CPU KV buffer size =     2.00 MiB
llama_kv_cache: size =    2.00 MiB (   768 cells,  15 layers,  1/1 seqs), K (f16):    1.00 MiB, V (f16):    1.00 MiB
llama_context:        CPU compute buffer size =   101.00 MiB
common_perf_print: prompt eval time =      12.34 ms /    17 tokens (    0.73 ms per token,  1377.63 tokens per second)
common_perf_print:        eval time =      40.00 ms /     3 runs   (   13.33 ms per token,    75.00 tokens per second)
";

    const FORK: &str = "\
build = 3947 (406a5036)
llm_load_tensors:        CPU buffer size =  1124.81 MiB
llama_kv_cache_init:        CPU KV buffer size =   150.00 MiB
llama_new_context_with_model: KV self size  =  150.00 MiB, K (f16):   75.00 MiB, V (f16):   75.00 MiB
llama_new_context_with_model:        CPU  output buffer size =     0.49 MiB
llama_new_context_with_model:        CPU compute buffer size =   255.50 MiB
llama_perf_context_print: prompt eval time =     500.00 ms /    64 tokens
llama_perf_context_print:        eval time =     900.00 ms /    15 runs
";

    fn bytes(mib: f64) -> u64 {
        (mib * MIB).round() as u64
    }

    #[test]
    fn upstream_buffer_lines_become_components() {
        let r = parse_log("llama.cpp", UPSTREAM);
        assert_eq!(r.version, "11434 (0a1b2c3d)");
        assert_eq!(
            r.component_bytes(BufferKind::Model),
            bytes(94.21) + bytes(60.50)
        );
        assert_eq!(r.component_bytes(BufferKind::Kv), bytes(14.0));
        assert_eq!(r.component_bytes(BufferKind::KvK), bytes(7.0));
        assert_eq!(r.component_bytes(BufferKind::KvV), bytes(7.0));
        assert_eq!(r.component_bytes(BufferKind::Output), bytes(0.19));
        assert_eq!(r.component_bytes(BufferKind::Compute), bytes(101.0));
        assert_eq!(r.prompt_tokens, Some(17));
        assert_eq!(r.decode_tokens, Some(3));
        let repack = r.buffers.iter().find(|b| b.buffer == "CPU_REPACK").unwrap();
        assert_eq!(repack.component, BufferKind::Model);
    }

    #[test]
    fn the_forks_older_lines_are_read_too() {
        let r = parse_log("bitnet.cpp", FORK);
        assert_eq!(r.version, "3947 (406a5036)");
        assert_eq!(r.component_bytes(BufferKind::Model), bytes(1124.81));
        assert_eq!(r.component_bytes(BufferKind::Kv), bytes(150.0));
        assert_eq!(r.component_bytes(BufferKind::KvK), bytes(75.0));
        assert_eq!(r.component_bytes(BufferKind::Compute), bytes(255.5));
        assert_eq!(r.component_bytes(BufferKind::Output), bytes(0.49));
        assert_eq!(r.prompt_tokens, Some(64));
        assert_eq!(r.decode_tokens, Some(15));
    }

    #[test]
    fn unrelated_lines_are_ignored() {
        let r = parse_log("llama.cpp", "hello\nbuffer size = nonsense MiB\nx: y\n");
        assert!(r.buffers.is_empty());
        assert!(r.version.is_empty());
    }
}
