//! Which blocks of a GGUF model slide: its pattern key, else llama.cpp's default pattern
//! for the architecture.

use super::arch_keys::ArchKeys;
use crate::error::{Error, Result};
use crate::gguf::Value;

/// Sliding layers of a GGUF: `attention.sliding_window_pattern` (a bool per block, or N:
/// every N-th block is global), else the family's layout (gemma2 alternates, gemma3 uses 6).
pub(super) fn gguf_sliding_layers(
    k: &ArchKeys,
    n_layers: u32,
    window: Option<u64>,
    notes: &mut Vec<String>,
) -> Result<Vec<bool>> {
    let n = n_layers as usize;
    let key = "attention.sliding_window_pattern";
    if window.is_none() {
        return Ok(Vec::new());
    }
    let pattern = match k.g.get(&k.key(key)) {
        Some(Value::Array(a)) if a.elem_type() == crate::gguf::ValueType::Bool => {
            if a.len() != n as u64 {
                return Err(Error::malformed(
                    &k.g.path,
                    format!("{} has {} entries for {n} blocks", k.key(key), a.len()),
                ));
            }
            return Ok(a.iter().map(|v| v.as_bool().unwrap_or(false)).collect());
        }
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| k.wrong(key, "an integer or a bool per block", v))?,
        ),
        None => match DEFAULT_SWA_PATTERNS.iter().find(|d| d.0 == k.arch) {
            Some(&(arch, period, dense_first)) => {
                let global = if dense_first { "first" } else { "last" };
                notes.push(format!(
                    "{arch}: the {global} block of every {period} is global, the others \
                     slide (llama.cpp's default pattern)"
                ));
                return Ok(swa_pattern(n, period, dense_first));
            }
            None => None,
        },
    };
    Ok(match pattern {
        Some(p) => swa_pattern(n, p, false),
        None => Vec::new(),
    })
}

/// The sliding-window layout llama.cpp gives an architecture whose file has a window but
/// no `attention.sliding_window_pattern` (`load_swa_pattern(ml, period, dense_first)` in
/// its `load_arch_hparams`, b11434): architecture, period, whether the global block is the
/// first of each period instead of the last.
const DEFAULT_SWA_PATTERNS: &[(&str, u64, bool)] = &[
    ("afmoe", 4, false),
    ("cohere2", 4, false),
    ("cohere2moe", 4, true),
    ("exaone-moe", 4, false),
    ("exaone4", 4, false),
    ("gemma-embedding", 6, false),
    ("gemma2", 2, false),
    ("gemma3", 6, false),
    ("gemma3n", 5, false),
    ("gpt-oss", 2, false),
    ("mellum", 4, false),
    ("muse-glimmer", 4, false),
    ("olmo2", 4, false),
    ("plamo3", 8, false),
    ("smallthinker", 4, true),
];

/// Which of `n` blocks slide for a pattern of `period` (llama.cpp's `set_swa_pattern`):
/// all but the last of each period, or all but the first with `dense_first`; every block
/// with a period of 0.
fn swa_pattern(n: usize, period: u64, dense_first: bool) -> Vec<bool> {
    (0..n as u64)
        .map(|i| match (period, dense_first) {
            (0, _) => true,
            (p, true) => i % p != 0,
            (p, false) => i % p < p - 1,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::swa_pattern;

    /// llama.cpp's `set_swa_pattern`: the global block closes each period, or opens it
    /// with `dense_first`; a period of 0 makes every block slide.
    #[test]
    fn sliding_patterns_follow_llama_cpp() {
        assert_eq!(swa_pattern(4, 2, false), [true, false, true, false]);
        assert_eq!(
            swa_pattern(6, 3, false),
            [true, true, false, true, true, false]
        );
        assert_eq!(swa_pattern(5, 4, true), [false, true, true, true, false]);
        assert_eq!(swa_pattern(3, 0, false), [true, true, true]);
    }
}
