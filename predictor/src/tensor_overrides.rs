//! llama.cpp's tensor placement flags read into typed overrides: `-ot PATTERN=BUFT`
//! (`--override-tensor`, repeatable, comma lists), `--cpu-moe` and `--n-cpu-moe N`.
//!
//! A pattern is a regular expression searched in tensor names, as llama.cpp's
//! `std::regex_search`; it is tried on the names llama.cpp gives each part of a block
//! (`blk.3.attn_q.weight`, `blk.3.ffn_norm.weight`, `blk.3.ffn_up_exps.weight`, ...), and
//! every part it matches goes to its buffer type, and so does the output layer where it
//! matches `output.weight`. Moving the token embedding to a GPU is refused (not modelled;
//! it stays on the host otherwise). Overrides keep llama.cpp's order (the first that
//! matches a tensor wins); `--n-cpu-moe` and `--cpu-moe` come after `-ot`.

use predictor::config::overrides::{OverrideTarget, TensorOverride, TensorOverrides, TensorPart};
use predictor::error::{Error, Result};

/// Blocks a pattern is tried on (its overrides for blocks a model lacks are never used).
const MAX_BLOCKS: u32 = 512;

/// The names llama.cpp gives each part of block `il`, the part, and the names that decide
/// whether a pattern takes the part (a pattern that matches one of them moves it).
fn parts(il: u32) -> [(TensorPart, Vec<String>); 3] {
    let n = |s: &str| format!("blk.{il}.{s}.weight");
    [
        (
            TensorPart::Attention,
            ["attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output"]
                .map(n)
                .to_vec(),
        ),
        (
            TensorPart::FfnDense,
            [
                "ffn_up",
                "ffn_gate",
                "ffn_down",
                "ffn_gate_inp",
                "ffn_up_shexp",
            ]
            .map(n)
            .to_vec(),
        ),
        (
            TensorPart::Experts,
            [
                "ffn_up_exps",
                "ffn_gate_exps",
                "ffn_down_exps",
                "ffn_gate_up_exps",
            ]
            .map(n)
            .to_vec(),
        ),
    ]
}

/// A buffer type name as `-ot` takes it: `CPU`, or a GPU's (`CUDA1`, `ROCm0`).
fn target(buft: &str) -> Result<OverrideTarget> {
    let b = buft.trim();
    if b.eq_ignore_ascii_case("cpu") {
        return Ok(OverrideTarget::Host);
    }
    let lower = b.to_ascii_lowercase();
    let n = ["cuda", "rocm"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .and_then(|n| n.parse::<u32>().ok());
    n.map(OverrideTarget::Gpu).ok_or_else(|| {
        Error::InvalidConfig(format!(
            "-ot {buft:?}: the buffer type must be CPU or a GPU's (CUDA0, CUDA1, ROCm0...)"
        ))
    })
}

/// The overrides of one `-ot` argument (`PATTERN=BUFT[,PATTERN=BUFT...]`).
pub fn parse_override(arg: &str) -> Result<TensorOverrides> {
    let mut out = Vec::new();
    for item in arg.split(',').filter(|s| !s.trim().is_empty()) {
        let (pattern, buft) = item.rsplit_once('=').ok_or_else(|| {
            Error::InvalidConfig(format!("-ot {item:?}: expected PATTERN=BUFFER_TYPE"))
        })?;
        let re = regex_lite::Regex::new(pattern)
            .map_err(|e| Error::InvalidConfig(format!("-ot {pattern:?}: {e}")))?;
        let to = target(buft)?;
        if re.is_match("token_embd.weight") && to != OverrideTarget::Host {
            return Err(Error::InvalidConfig(format!(
                "-ot {item:?}: the pattern moves token_embd.weight to a GPU, which memcal does \
                 not model (llama.cpp keeps it in host memory otherwise); narrow the pattern"
            )));
        }
        if re.is_match("output.weight") {
            out.push(TensorOverride {
                layer: None,
                part: TensorPart::Output,
                target: to,
            });
        }
        for (part, _) in parts(0) {
            let hits: Vec<u32> = (0..MAX_BLOCKS)
                .filter(|&il| {
                    parts(il)
                        .iter()
                        .find(|(p, _)| *p == part)
                        .is_some_and(|(_, names)| names.iter().any(|n| re.is_match(n)))
                })
                .collect();
            if hits.len() == MAX_BLOCKS as usize {
                out.push(TensorOverride {
                    layer: None,
                    part,
                    target: to,
                });
            } else {
                out.extend(hits.into_iter().map(|il| TensorOverride {
                    layer: Some(il),
                    part,
                    target: to,
                }));
            }
        }
    }
    Ok(TensorOverrides(out))
}

/// Every placement flag of a configuration, in llama.cpp's order.
pub fn overrides(ot: &[String], cpu_moe: bool, n_cpu_moe: Option<u32>) -> Result<TensorOverrides> {
    let mut all = Vec::new();
    for a in ot {
        all.extend(parse_override(a)?.0);
    }
    if cpu_moe {
        all.extend(TensorOverrides::cpu_moe().0);
    }
    if let Some(n) = n_cpu_moe {
        all.extend(TensorOverrides::n_cpu_moe(n).0);
    }
    Ok(TensorOverrides(all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use predictor::config::overrides::BlockPart;

    #[test]
    fn patterns_from_public_logs_read_as_parts_of_blocks() {
        // `-ot ".ffn_.*_exps.=CPU"`: every block's experts.
        let o = parse_override(".ffn_.*_exps.=CPU").unwrap();
        assert_eq!(o.target(47, BlockPart::Experts), Some(OverrideTarget::Host));
        assert_eq!(o.target(47, BlockPart::Ffn), None);
        // `blk\.1[3-9]\.ffn.*=CPU`: blocks 13-19, their whole FFN.
        let o = parse_override(r"blk\.1[3-9]\.ffn.*=CPU").unwrap();
        assert_eq!(o.target(13, BlockPart::Ffn), Some(OverrideTarget::Host));
        assert_eq!(o.target(19, BlockPart::Experts), Some(OverrideTarget::Host));
        assert_eq!(o.target(12, BlockPart::Experts), None);
        assert_eq!(o.target(13, BlockPart::Attention), None);
        let o = parse_override(r"blk\.(0|1)\.ffn.*=CUDA1").unwrap();
        assert_eq!(o.target(1, BlockPart::Ffn), Some(OverrideTarget::Gpu(1)));
        // The output layer, from a public -ot list; block patterns leave it alone.
        let o = parse_override(r"^output\.weight$=CPU").unwrap();
        assert_eq!(o.output_target(), Some(OverrideTarget::Host));
        assert_eq!(o.target(0, BlockPart::Attention), None);
        assert_eq!(parse_override("exps=CPU").unwrap().output_target(), None);
        // A pattern that would move the token embedding to a GPU is refused.
        let e = parse_override("token_embd=CUDA0").unwrap_err().to_string();
        assert!(e.contains("token_embd.weight"), "{e}");
        assert!(parse_override(".*=CPU").is_ok());
        assert!(parse_override("exps=Vulkan0").is_err());
        assert!(parse_override("exps").is_err());
        let all = overrides(&["blk\\.0\\.ffn.*=CUDA0".into()], false, Some(2)).unwrap();
        // The -ot override comes first and wins for block 0.
        assert_eq!(
            all.target(0, BlockPart::Experts),
            Some(OverrideTarget::Gpu(0))
        );
        assert_eq!(
            all.target(1, BlockPart::Experts),
            Some(OverrideTarget::Host)
        );
    }
}
