//! A prompt of about `n` tokens for any vocabulary.
//!
//! Engines take text, not token ids, so the prompt is a word repeated: a word the model's
//! vocabulary holds as one token (`the` in SentencePiece or byte-level BPE spelling), or,
//! in a vocabulary without whole words (the synthetic ones), a letter repeated without
//! spaces, one byte token each. The engine's own count of prompt tokens (from its log) is
//! what the record keeps.

use predictor::gguf::{GgufFile, Value};
use std::path::Path;

/// A repeatable word and how many tokens it is expected to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptWord {
    /// The text of one repetition (with its leading space).
    pub text: String,
    /// Tokens one repetition is expected to take.
    pub tokens_each: u32,
}

/// Chooses the word from the model file's vocabulary; a file without one gets " a" with
/// one token assumed.
pub fn prompt_word(model: &Path) -> PromptWord {
    let candidates = [
        ("\u{2581}the", " the"),
        ("\u{120}the", " the"),
        ("the", " the"),
        // No whole words: one byte token per letter (SentencePiece byte fallback, or a
        // byte-level BPE alphabet), with no spaces in between.
        ("<0x61>", "a"),
        ("a", "a"),
    ];
    let tokens: Vec<String> = GgufFile::open(model)
        .ok()
        .and_then(|g| {
            g.get("tokenizer.ggml.tokens")
                .and_then(Value::as_str_array)
                .map(|it| it.map(|s| s.to_string()).collect())
        })
        .unwrap_or_default();
    for (token, text) in candidates {
        if tokens.iter().any(|t| t == token) {
            return PromptWord {
                text: text.into(),
                tokens_each: 1,
            };
        }
    }
    PromptWord {
        text: " a".into(),
        tokens_each: 1,
    }
}

/// Text of about `n` tokens (one of them is the engine's beginning-of-sequence token).
pub fn prompt_text(word: &PromptWord, n: u32) -> String {
    let reps = (n.saturating_sub(1) / word.tokens_each.max(1)).max(1) as usize;
    let mut s = String::from("Once");
    for _ in 1..reps {
        s.push_str(&word.text);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_has_about_one_word_per_token() {
        let w = PromptWord {
            text: " the".into(),
            tokens_each: 1,
        };
        let t = prompt_text(&w, 65);
        assert_eq!(t.split_whitespace().count(), 64);
        assert_eq!(prompt_text(&w, 0).split_whitespace().count(), 1);
    }
}
