//! Synthetic tokenizer metadata shaped like real files: a SentencePiece-style `llama`
//! vocabulary (unk/bos/eos, 256 byte tokens, pieces with scores) for small vocabularies, a
//! byte-level BPE `gpt2` vocabulary (the 256 byte symbols first, then pieces, merges and 256
//! trailing special tokens, as Llama 3 and BitNet 2B-4T have) for vocabularies of 65536 and
//! more. Both kinds load in llama.cpp and in bitnet.cpp's fork, and every text tokenizes
//! (byte fallback in the first, byte symbols in the second), so engines can run them.

use predictor::gguf::writer::{GgufWriter, WriteResult};

/// Token types as llama.cpp numbers them.
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const BYTE: i32 = 6;

/// Trailing special tokens of a `gpt2`-style vocabulary.
const GPT2_SPECIALS: usize = 256;

/// Whether a vocabulary of this size gets the `gpt2` (byte-level BPE) tokenizer.
pub fn is_bpe(vocab: usize) -> bool {
    vocab >= 65536
}

/// GPT-2's byte-level alphabet: the character byte `b` is written as in a BPE vocabulary
/// (printable Latin-1 bytes stand for themselves, the others are shifted past 255).
fn byte_symbol(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        char::from(b)
    } else {
        let n = (0..b).filter(|&x| !printable(x)).count() as u32;
        char::from_u32(256 + n).unwrap_or('?')
    }
}

/// The text of token `i` of a `vocab`-sized vocabulary.
fn token(i: usize, vocab: usize) -> String {
    if is_bpe(vocab) {
        let first_special = vocab - GPT2_SPECIALS;
        match i.checked_sub(first_special) {
            Some(0) => "<|begin_of_text|>".into(),
            Some(1) => "<|end_of_text|>".into(),
            Some(j) => format!("<|reserved_special_token_{j}|>"),
            None if i < 256 => byte_symbol(i as u8).to_string(),
            None => format!("t{i}"),
        }
    } else {
        match i {
            0 => "<unk>".into(),
            1 => "<s>".into(),
            2 => "</s>".into(),
            3..=258 => format!("<0x{:02X}>", i - 3),
            _ => format!("\u{2581}t{i}"),
        }
    }
}

fn token_type(i: usize, vocab: usize) -> i32 {
    if is_bpe(vocab) {
        if i >= vocab - GPT2_SPECIALS {
            CONTROL
        } else {
            NORMAL
        }
    } else {
        match i {
            0 => UNKNOWN,
            1 | 2 => CONTROL,
            3..=258 => BYTE,
            _ => NORMAL,
        }
    }
}

/// Beginning- and end-of-sequence token ids.
pub fn bos_eos(vocab: usize) -> (u32, u32) {
    if is_bpe(vocab) {
        let s = (vocab - GPT2_SPECIALS) as u32;
        (s, s + 1)
    } else {
        (1.min(vocab as u32 - 1), 2.min(vocab as u32 - 1))
    }
}

/// Adds the `tokenizer.ggml.*` keys for a vocabulary of `vocab` tokens.
pub fn add_tokenizer(w: &mut GgufWriter, vocab: usize) -> WriteResult<()> {
    let bpe = is_bpe(vocab);
    w.add_string("tokenizer.ggml.model", if bpe { "gpt2" } else { "llama" })?;
    w.add_string(
        "tokenizer.ggml.pre",
        if bpe { "llama-bpe" } else { "default" },
    )?;
    w.add_string_array("tokenizer.ggml.tokens", (0..vocab).map(|i| token(i, vocab)))?;
    let scores: Vec<f32> = (0..vocab).map(|i| -(i as f32)).collect();
    w.add_f32_array("tokenizer.ggml.scores", &scores)?;
    let types: Vec<i32> = (0..vocab).map(|i| token_type(i, vocab)).collect();
    w.add_i32_array("tokenizer.ggml.token_type", &types)?;
    if bpe {
        let n = vocab - GPT2_SPECIALS;
        w.add_string_array(
            "tokenizer.ggml.merges",
            (0..n.saturating_sub(256)).map(|i| format!("t{} t{}", 256 + i % 997, 256 + i / 997)),
        )?;
    }
    let (bos, eos) = bos_eos(vocab);
    w.add_u32("tokenizer.ggml.bos_token_id", bos)?;
    w.add_u32("tokenizer.ggml.eos_token_id", eos)?;
    if !bpe {
        w.add_u32("tokenizer.ggml.unknown_token_id", 0)?;
    }
    w.add_bool("tokenizer.ggml.add_bos_token", true)?;
    Ok(())
}
