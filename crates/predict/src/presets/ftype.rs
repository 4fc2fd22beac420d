//! llama.cpp's file types (`enum llama_ftype` in `include/llama.h`): the quantization mix a
//! whole file was made with, as `llama-quantize` names it (`Q4_K_M`), as the loader prints
//! it (`print_info: file type = Q4_K - Medium`, `llama_ftype_name` in
//! `src/llama-model-loader.cpp`) and as `general.file_type` stores it (15).

use crate::ggml_type::GgmlType;
use std::fmt;

/// A llama.cpp file type: the `--ftype`/`type` argument of `llama-quantize`.
///
/// Each one has a default tensor type ([`Ftype::default_type`]) that
/// [`super::quant_mix`] then varies per tensor as llama.cpp's `llama_tensor_get_type`
/// does. Ids are `enum llama_ftype`'s (build 11434).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ftype {
    /// `LLAMA_FTYPE_ALL_F32` (0): everything F32.
    AllF32,
    /// `MOSTLY_F16` (1): matrices F16.
    F16,
    /// `MOSTLY_Q4_0` (2): Q4_0, output Q6_K.
    Q4_0,
    /// `MOSTLY_Q4_1` (3): Q4_1, output Q6_K.
    Q4_1,
    /// `MOSTLY_Q8_0` (7): Q8_0 throughout.
    Q8_0,
    /// `MOSTLY_Q5_0` (8): Q5_0, output Q6_K.
    Q5_0,
    /// `MOSTLY_Q5_1` (9): Q5_1, output Q6_K.
    Q5_1,
    /// `MOSTLY_Q2_K` (10), `Q2_K - Medium`.
    Q2K,
    /// `MOSTLY_Q3_K_S` (11), `Q3_K - Small`.
    Q3KS,
    /// `MOSTLY_Q3_K_M` (12), `Q3_K - Medium`.
    Q3KM,
    /// `MOSTLY_Q3_K_L` (13), `Q3_K - Large`.
    Q3KL,
    /// `MOSTLY_Q4_K_S` (14), `Q4_K - Small`.
    Q4KS,
    /// `MOSTLY_Q4_K_M` (15), `Q4_K - Medium`.
    Q4KM,
    /// `MOSTLY_Q5_K_S` (16), `Q5_K - Small`.
    Q5KS,
    /// `MOSTLY_Q5_K_M` (17), `Q5_K - Medium`.
    Q5KM,
    /// `MOSTLY_Q6_K` (18).
    Q6K,
    /// `MOSTLY_IQ2_XXS` (19), 2.0625 bpw.
    IQ2XXS,
    /// `MOSTLY_IQ2_XS` (20), 2.3125 bpw.
    IQ2XS,
    /// `MOSTLY_Q2_K_S` (21), `Q2_K - Small`.
    Q2KS,
    /// `MOSTLY_IQ3_XS` (22), 3.3 bpw (IQ3_S based).
    IQ3XS,
    /// `MOSTLY_IQ3_XXS` (23), 3.0625 bpw.
    IQ3XXS,
    /// `MOSTLY_IQ1_S` (24), 1.5625 bpw.
    IQ1S,
    /// `MOSTLY_IQ4_NL` (25), 4.5 bpw.
    IQ4NL,
    /// `MOSTLY_IQ3_S` (26), 3.4375 bpw.
    IQ3S,
    /// `MOSTLY_IQ3_M` (27), `IQ3_S mix - 3.66 bpw`.
    IQ3M,
    /// `MOSTLY_IQ2_S` (28), 2.5 bpw (IQ2_XS based).
    IQ2S,
    /// `MOSTLY_IQ2_M` (29), 2.7 bpw (IQ2_S based).
    IQ2M,
    /// `MOSTLY_IQ4_XS` (30), 4.25 bpw.
    IQ4XS,
    /// `MOSTLY_IQ1_M` (31), 1.75 bpw.
    IQ1M,
    /// `MOSTLY_BF16` (32): matrices BF16.
    BF16,
    /// `MOSTLY_TQ1_0` (36), 1.69 bpw ternary.
    TQ1_0,
    /// `MOSTLY_TQ2_0` (37), 2.06 bpw ternary.
    TQ2_0,
    /// `MOSTLY_MXFP4_MOE` (38): experts MXFP4, the rest Q8_0.
    Mxfp4Moe,
    /// `MOSTLY_Q2_0` (41), 2.25 bpw in groups of 64.
    Q2_0,
}

/// Every file type, in id order.
pub const ALL_FTYPES: [Ftype; 34] = {
    use Ftype::*;
    [
        AllF32, F16, Q4_0, Q4_1, Q8_0, Q5_0, Q5_1, Q2K, Q3KS, Q3KM, Q3KL, Q4KS, Q4KM, Q5KS, Q5KM,
        Q6K, IQ2XXS, IQ2XS, Q2KS, IQ3XS, IQ3XXS, IQ1S, IQ4NL, IQ3S, IQ3M, IQ2S, IQ2M, IQ4XS, IQ1M,
        BF16, TQ1_0, TQ2_0, Mxfp4Moe, Q2_0,
    ]
};

/// `llama-quantize`'s aliases (`QUANT_OPTIONS` in `tools/quantize/quantize.cpp`).
const ALIASES: [(&str, Ftype); 4] = [
    ("Q3_K", Ftype::Q3KM),
    ("Q4_K", Ftype::Q4KM),
    ("Q5_K", Ftype::Q5KM),
    ("MXFP4", Ftype::Mxfp4Moe),
];

impl Ftype {
    /// (id, `llama-quantize` name, `llama_ftype_name`, default tensor type).
    fn info(self) -> (u32, &'static str, &'static str, GgmlType) {
        use Ftype::*;
        use GgmlType as G;
        // The default types are `llama_ftype_get_default_type` (src/llama-quant.cpp).
        match self {
            AllF32 => (0, "F32", "all F32", G::F32),
            F16 => (1, "F16", "F16", G::F16),
            Q4_0 => (2, "Q4_0", "Q4_0", G::Q4_0),
            Q4_1 => (3, "Q4_1", "Q4_1", G::Q4_1),
            Q8_0 => (7, "Q8_0", "Q8_0", G::Q8_0),
            Q5_0 => (8, "Q5_0", "Q5_0", G::Q5_0),
            Q5_1 => (9, "Q5_1", "Q5_1", G::Q5_1),
            Q2K => (10, "Q2_K", "Q2_K - Medium", G::Q2K),
            Q3KS => (11, "Q3_K_S", "Q3_K - Small", G::Q3K),
            Q3KM => (12, "Q3_K_M", "Q3_K - Medium", G::Q3K),
            Q3KL => (13, "Q3_K_L", "Q3_K - Large", G::Q3K),
            Q4KS => (14, "Q4_K_S", "Q4_K - Small", G::Q4K),
            Q4KM => (15, "Q4_K_M", "Q4_K - Medium", G::Q4K),
            Q5KS => (16, "Q5_K_S", "Q5_K - Small", G::Q5K),
            Q5KM => (17, "Q5_K_M", "Q5_K - Medium", G::Q5K),
            Q6K => (18, "Q6_K", "Q6_K", G::Q6K),
            IQ2XXS => (19, "IQ2_XXS", "IQ2_XXS - 2.0625 bpw", G::IQ2XXS),
            IQ2XS => (20, "IQ2_XS", "IQ2_XS - 2.3125 bpw", G::IQ2XS),
            Q2KS => (21, "Q2_K_S", "Q2_K - Small", G::Q2K),
            IQ3XS => (22, "IQ3_XS", "IQ3_XS - 3.3 bpw", G::IQ3S),
            IQ3XXS => (23, "IQ3_XXS", "IQ3_XXS - 3.0625 bpw", G::IQ3XXS),
            IQ1S => (24, "IQ1_S", "IQ1_S - 1.5625 bpw", G::IQ1S),
            IQ4NL => (25, "IQ4_NL", "IQ4_NL - 4.5 bpw", G::IQ4NL),
            IQ3S => (26, "IQ3_S", "IQ3_S - 3.4375 bpw", G::IQ3S),
            IQ3M => (27, "IQ3_M", "IQ3_S mix - 3.66 bpw", G::IQ3S),
            IQ2S => (28, "IQ2_S", "IQ2_S - 2.5 bpw", G::IQ2XS),
            IQ2M => (29, "IQ2_M", "IQ2_M - 2.7 bpw", G::IQ2S),
            IQ4XS => (30, "IQ4_XS", "IQ4_XS - 4.25 bpw", G::IQ4XS),
            IQ1M => (31, "IQ1_M", "IQ1_M - 1.75 bpw", G::IQ1M),
            BF16 => (32, "BF16", "BF16", G::BF16),
            TQ1_0 => (36, "TQ1_0", "TQ1_0 - 1.69 bpw ternary", G::TQ1_0),
            TQ2_0 => (37, "TQ2_0", "TQ2_0 - 2.06 bpw ternary", G::TQ2_0),
            Mxfp4Moe => (38, "MXFP4_MOE", "MXFP4 MoE", G::MXFP4),
            Q2_0 => (41, "Q2_0", "Q2_0", G::Q2_0),
        }
    }

    /// The `general.file_type` id (`enum llama_ftype`).
    pub fn id(self) -> u32 {
        self.info().0
    }

    /// The `llama-quantize` name, e.g. `Q4_K_M`, `IQ4_XS`, `MXFP4_MOE`, `F32`.
    pub fn name(self) -> &'static str {
        self.info().1
    }

    /// The name the loader prints (`llama_ftype_name`), e.g. `Q4_K - Medium`.
    pub fn print_name(self) -> &'static str {
        self.info().2
    }

    /// The tensor type the mix starts from (`llama_ftype_get_default_type`): Q4_K for
    /// Q4_K_M, IQ2_XS for IQ2_S, IQ3_S for IQ3_XS and IQ3_M, and so on.
    pub fn default_type(self) -> GgmlType {
        self.info().3
    }

    /// The file type of a `general.file_type` id; `None` for ids llama.cpp no longer has
    /// (4-6, 33-35) or that have no default type (NVFP4 39, Q1_0 40 are not modelled).
    pub fn from_id(id: u32) -> Option<Ftype> {
        ALL_FTYPES.into_iter().find(|f| f.id() == id)
    }

    /// Reads a file type from any of the spellings llama.cpp uses, case-insensitively:
    ///
    /// * `llama-quantize` names: `Q4_K_M`, `IQ4_XS`, `MXFP4_MOE`, and its aliases `Q3_K`,
    ///   `Q4_K`, `Q5_K` (the `_M` mixes);
    /// * enum names: `LLAMA_FTYPE_MOSTLY_Q4_K_M`, `MOSTLY_Q4_K_M`, `ALL_F32`;
    /// * the loader's print: `Q4_K - Medium`, `IQ3_S mix - 3.66 bpw`, `MXFP4 MoE`, with or
    ///   without a `(guessed) ` or old `mostly ` prefix, or a whole
    ///   `print_info: file type = ...` line (the text after `=`);
    /// * `general.file_type` ids: `15`.
    pub fn parse(s: &str) -> Option<Ftype> {
        let mut s = s.trim();
        if let Some((_, v)) = s.rsplit_once('=') {
            s = v.trim();
        }
        for prefix in ["(guessed) ", "mostly "] {
            if s.get(..prefix.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
            {
                s = s[prefix.len()..].trim();
            }
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().ok().and_then(Ftype::from_id);
        }
        let bare = strip_enum_prefix(s);
        ALL_FTYPES
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(bare) || f.print_name().eq_ignore_ascii_case(s))
            .or_else(|| {
                ALIASES
                    .iter()
                    .find(|(a, _)| a.eq_ignore_ascii_case(bare))
                    .map(|&(_, f)| f)
            })
    }

    /// Whether `s` names a file type unambiguously: an enum spelling (`MOSTLY_Q4_0`,
    /// `LLAMA_FTYPE_MOSTLY_Q4_0`, `ALL_F32`) or the loader's print with a ` - ` part
    /// (`Q4_K - Medium`), as opposed to a name such as `Q4_0` that is also a ggml type.
    pub fn is_explicit_spelling(s: &str) -> bool {
        let s = s.trim();
        strip_enum_prefix(s).len() != s.len() || s.contains(" - ") || s.contains(' ')
    }
}

/// `s` without a leading `LLAMA_FTYPE_`, then `MOSTLY_` or `ALL_` (case-insensitive).
fn strip_enum_prefix(s: &str) -> &str {
    let mut s = s;
    for prefix in ["LLAMA_FTYPE_", "MOSTLY_", "ALL_"] {
        if s.len() > prefix.len()
            && s.get(..prefix.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
        {
            s = &s[prefix.len()..];
        }
    }
    s
}

impl fmt::Display for Ftype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_back() {
        for f in ALL_FTYPES {
            assert_eq!(Ftype::parse(f.name()), Some(f));
            assert_eq!(Ftype::parse(f.print_name()), Some(f), "{}", f.print_name());
            assert_eq!(Ftype::parse(&f.id().to_string()), Some(f));
            assert_eq!(Ftype::from_id(f.id()), Some(f));
        }
        assert_eq!(Ftype::parse("(guessed) Q4_K - Medium"), Some(Ftype::Q4KM));
        assert_eq!(Ftype::parse("mostly Q4_K - Medium"), Some(Ftype::Q4KM));
        assert_eq!(
            Ftype::parse("print_info: file type   = IQ4_XS - 4.25 bpw"),
            Some(Ftype::IQ4XS)
        );
        assert_eq!(Ftype::parse("LLAMA_FTYPE_MOSTLY_Q5_K_S"), Some(Ftype::Q5KS));
        assert_eq!(Ftype::parse("mostly_q4_0"), Some(Ftype::Q4_0));
        assert_eq!(Ftype::parse("ALL_F32"), Some(Ftype::AllF32));
        assert_eq!(Ftype::parse("q4_k"), Some(Ftype::Q4KM));
        assert_eq!(Ftype::parse("Q4_K_L"), None);
        assert_eq!(Ftype::parse("5"), None);
    }

    #[test]
    fn explicit_spellings() {
        assert!(Ftype::is_explicit_spelling("MOSTLY_Q4_0"));
        assert!(Ftype::is_explicit_spelling("Q4_K - Medium"));
        assert!(!Ftype::is_explicit_spelling("Q4_0"));
        assert!(!Ftype::is_explicit_spelling("Q4_K_M"));
    }
}
