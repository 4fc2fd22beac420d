//! Tensor sizes, offset validation and the per-file reading of type ids that mean one thing
//! upstream and another in the BitNet fork (36 I2_S, 37 I8_S, 38 TL1, 39/42 TL2 in the
//! fork; 39 MXFP4 and 42 Q2_0 upstream, 36-38 removed upstream).
//!
//! ggml requires each tensor's offset to equal the previous offset plus the previous size
//! padded to the alignment. Sizes differ between the readings, so the gaps between offsets
//! decide: a reading under which the offsets are not contiguous cannot be the one the file
//! was written with. When several readings fit (e.g. the ambiguous tensor is the last one),
//! `general.architecture` breaks the tie.

use super::layout::{align_up, RawTensor};
use crate::ggml_type::GgmlType;

/// The outcome: each tensor's type and size, and notes on the readings chosen.
pub(crate) struct Resolved {
    pub(crate) types: Vec<(GgmlType, u64)>,
    pub(crate) notes: Vec<String>,
}

/// Whether an architecture name is one of the BitNet fork's (`bitnet`, `bitnet-b1.58`,
/// `bitnet-25`, ...).
pub fn is_bitnet_architecture(arch: &str) -> bool {
    arch.to_ascii_lowercase().starts_with("bitnet")
}

/// The candidate readings of one type id: (type, is the fork's reading).
fn readings(id: u32) -> Vec<(GgmlType, bool)> {
    let mut out = Vec::with_capacity(2);
    if let Some(t) = GgmlType::from_id(id) {
        out.push((t, false));
    }
    if GgmlType::is_ambiguous_id(id) {
        if let Some(t) = GgmlType::from_bitnet_id(id) {
            out.push((t, true));
        }
    }
    out
}

/// Sizes every tensor under `type_of` and checks offsets and bounds; `Err` says the first
/// thing that does not fit.
fn layout(
    raws: &[RawTensor],
    type_of: &dyn Fn(u32) -> Option<GgmlType>,
    alignment: u64,
    data_room: u64,
) -> Result<Vec<(GgmlType, u64)>, String> {
    let mut out = Vec::with_capacity(raws.len());
    let mut expected: u64 = 0;
    let mut prev: Option<(&str, u64)> = None;
    for r in raws {
        let ty = type_of(r.type_id)
            .ok_or_else(|| format!("tensor '{}' has unknown ggml type id {}", r.name, r.type_id))?;
        let nbytes = ty.nbytes(&r.dims).ok_or_else(|| size_problem(r, ty))?;
        if r.offset % alignment != 0 {
            return Err(format!(
                "tensor '{}' offset {} is not a multiple of the alignment {alignment}",
                r.name, r.offset
            ));
        }
        if r.offset != expected {
            return Err(match prev {
                None => format!(
                    "tensor '{}' is the first tensor but has offset {}, expected 0",
                    r.name, r.offset
                ),
                Some((p, p_end)) if r.offset < expected => format!(
                    "tensor '{}' at offset {} overlaps tensor '{p}', which ends at {p_end} \
                     (next offset {expected} after padding)",
                    r.name, r.offset
                ),
                Some((p, _)) => format!(
                    "tensor '{}' has offset {}, expected {expected}: a gap of {} bytes after \
                     tensor '{p}' (offsets must be contiguous)",
                    r.name,
                    r.offset,
                    r.offset - expected
                ),
            });
        }
        let end = r
            .offset
            .checked_add(nbytes)
            .filter(|&e| e <= data_room)
            .ok_or_else(|| {
                format!(
                    "tensor '{}' data ({nbytes} bytes at data offset {}) extends past the end \
                     of the file ({data_room} bytes of data section)",
                    r.name, r.offset
                )
            })?;
        expected =
            align_up(end, alignment).ok_or_else(|| format!("tensor '{}' end overflows", r.name))?;
        prev = Some((&r.name, end));
        out.push((ty, nbytes));
    }
    Ok(out)
}

/// Why a tensor has no size under a type.
fn size_problem(r: &RawTensor, ty: GgmlType) -> String {
    let ne0 = r.dims.first().copied().unwrap_or(1);
    let why = match ty {
        GgmlType::TL2 if ne0 < 256 => "TL2 needs ne0 >= 256".to_string(),
        GgmlType::TL2 => "TL2 tensors must be 2-D".to_string(),
        t if t.block_elems() > 1 && ne0 % t.block_elems() != 0 => format!(
            "ne0 = {ne0} is not a multiple of the block size {}",
            t.block_elems()
        ),
        _ => "its byte size overflows".to_string(),
    };
    format!(
        "tensor '{}' of type {ty} with dims {:?}: {why}",
        r.name, r.dims
    )
}

/// Decides each tensor's type and size. `data_room` is the number of file bytes after the
/// data offset.
pub(crate) fn resolve_types(
    raws: &[RawTensor],
    alignment: u64,
    data_room: u64,
    arch: Option<&str>,
    file_type: Option<u64>,
) -> Result<Resolved, String> {
    let mut ids: Vec<u32> = raws
        .iter()
        .map(|r| r.type_id)
        .filter(|&id| GgmlType::is_ambiguous_id(id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if let Some(r) = raws.iter().find(|r| r.type_id == 37) {
        return Err(format!(
            "tensor '{}' has type id 37: I8_S in the BitNet fork, an activation type that is \
             never stored, and a removed type upstream",
            r.name
        ));
    }
    if let Some(r) = raws.iter().find(|r| {
        GgmlType::from_id(r.type_id).is_none() && GgmlType::from_bitnet_id(r.type_id).is_none()
    }) {
        return Err(format!(
            "tensor '{}' has unknown ggml type id {}",
            r.name, r.type_id
        ));
    }

    // Every combination of readings of the ambiguous ids (at most 2 ids with 2 readings).
    let options: Vec<Vec<(GgmlType, bool)>> = ids.iter().map(|&id| readings(id)).collect();
    let mut combos: Vec<Vec<(GgmlType, bool)>> = vec![Vec::new()];
    for opts in &options {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                opts.iter().map(move |&o| {
                    let mut c = c.clone();
                    c.push(o);
                    c
                })
            })
            .collect();
    }
    let bitnet_arch = arch.is_some_and(is_bitnet_architecture);
    let mut fits = Vec::new();
    let mut failures = Vec::new();
    for combo in &combos {
        let type_of = |id: u32| match ids.iter().position(|&a| a == id) {
            Some(k) => Some(combo[k].0),
            None => GgmlType::from_id(id),
        };
        match layout(raws, &type_of, alignment, data_room) {
            Ok(types) => fits.push((combo, types)),
            Err(e) => failures.push((combo, e)),
        }
    }
    if ids.is_empty() {
        return match (fits.pop(), failures.pop()) {
            (Some((_, types)), _) => Ok(Resolved {
                types,
                notes: Vec::new(),
            }),
            (None, Some((_, e))) => Err(e),
            (None, None) => Err("no tensor layout".to_string()),
        };
    }
    let describe = |combo: &[(GgmlType, bool)]| {
        ids.iter()
            .zip(combo)
            .map(|(id, (t, _))| format!("{id} as {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if fits.is_empty() {
        let tried = failures
            .iter()
            .map(|(c, e)| format!("reading {}: {e}", describe(c)))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!(
            "no reading of type id(s) {ids:?} fits this file's tensor offsets ({tried})"
        ));
    }
    // Prefer the fork's readings for a BitNet architecture, upstream's otherwise.
    let n_fits = fits.len();
    let best = fits
        .into_iter()
        .max_by_key(|(c, _)| c.iter().filter(|(_, fork)| *fork == bitnet_arch).count());
    let Some((combo, types)) = best else {
        return Err("no tensor layout".to_string());
    };
    let mut context = vec![match arch {
        Some(a) => format!("architecture {a}"),
        None => "no general.architecture".to_string(),
    }];
    if let Some(ft) = file_type {
        let fork_ft = match ft {
            38 => " (TL1 in the BitNet fork)",
            39 => " (TL2 in the BitNet fork)",
            40 => " (MOSTLY_I2_S in the BitNet fork)",
            _ => "",
        };
        context.push(format!("general.file_type {ft}{fork_ft}"));
    }
    let context = context.join("; ");
    let notes = ids
        .iter()
        .zip(combo.iter())
        .map(|(&id, &(t, fork))| {
            let whose = if fork { "BitNet" } else { "upstream ggml" };
            let why = if readings(id).len() == 1 {
                format!("upstream ggml has no type {id}")
            } else if n_fits == 1 {
                "offsets contiguous only under this reading".to_string()
            } else {
                "offsets fit several readings; chosen by architecture".to_string()
            };
            format!("type id {id} read as {whose} {t} ({context}; {why})")
        })
        .collect();
    Ok(Resolved { types, notes })
}
