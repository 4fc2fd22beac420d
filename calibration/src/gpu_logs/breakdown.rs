//! llama.cpp's memory breakdown table (`llama_memory_breakdown_print`, from ≈b6500, and
//! `common_memory_breakdown_print`), read from a corpus run and held against the estimate:
//! per GPU its model, context (the KV cache) and compute buffers, and the host's, in whole
//! MiB as the engine rounds them down; and each GPU's `unaccounted` column (the CUDA
//! context, library workspaces, ggml-cuda's pool, and whatever else shares the GPU) against
//! the runtime components memcal models for it.

use super::corpus::Run;
use super::replay::{gpu_name, Covered, Outcome, Source};
use predictor::buffer::BufferKind;
use predictor::components::Estimate;

const MIB: f64 = (1u64 << 20) as f64;

/// One row of the table, in MiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `CUDA0`, `ROCm1`, or `Host`.
    pub device: String,
    /// Model buffers.
    pub model: u64,
    /// The memory module (KV cache).
    pub context: u64,
    /// Compute buffers.
    pub compute: u64,
    /// `total - free - self` (GPU rows only).
    pub unaccounted: Option<i64>,
}

/// The integers of `s` in order (`-17552` keeps its sign).
fn numbers(s: &str) -> Vec<i64> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in s.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() || (ch == '-' && cur.is_empty()) {
            cur.push(ch);
        } else {
            if let Ok(n) = cur.parse::<i64>() {
                out.push(n);
            }
            cur.clear();
        }
    }
    out
}

/// A table row: `- CUDA0 (RTX 4090) | total = free + (self = model + context + compute) +
/// unaccounted` or `- Host | self = model + context + compute`.
fn row(line: &str) -> Option<Row> {
    let (_, rest) = line.split_once("- ")?;
    let end = rest.find([' ', ':', '|', '(']).unwrap_or(rest.len());
    let device = rest[..end].to_string();
    // The numbers come after the device's description (`(RTX 4090)` has digits too).
    let mut tail = rest[end..].trim_start();
    if tail.starts_with('(') {
        tail = &tail[tail.find(')')? + 1..];
    }
    let n = numbers(tail);
    let host = |self_at: usize| -> Option<Row> {
        Some(Row {
            device: "Host".to_string(),
            model: n.get(self_at + 1)?.to_owned().try_into().ok()?,
            context: n.get(self_at + 2)?.to_owned().try_into().ok()?,
            compute: n.get(self_at + 3)?.to_owned().try_into().ok()?,
            unaccounted: None,
        })
    };
    match n.len() {
        // `Host | self = model + context + compute`; the first layout's `CPU (...): total
        // self = model + context + compute`.
        4 => host(0),
        5 => host(1),
        7 => {
            let (total, unaccounted) = (n[0], n[6]);
            Some(Row {
                device,
                model: n[3].try_into().ok()?,
                context: n[4].try_into().ok()?,
                compute: n[5].try_into().ok()?,
                // An unsigned underflow (free + self above total) prints a huge number.
                unaccounted: (unaccounted <= total).then_some(unaccounted),
            })
        }
        _ => None,
    }
}

/// The tables of a run's `memory_breakdown` lines, in order.
fn tables(run: &Run) -> Vec<Vec<Row>> {
    let mut out: Vec<Vec<Row>> = Vec::new();
    for line in &run.memory_breakdown {
        if line.contains("memory breakdown") {
            out.push(Vec::new());
        } else if let (Some(t), Some(r)) = (out.last_mut(), row(line)) {
            t.push(r);
        }
    }
    out
}

/// The table of what the run held (the last one printed), unless it is one of `--fit`'s
/// probes (a GPU row whose `unaccounted` is negative: its figures were never allocated).
pub fn exit_table(run: &Run) -> Option<Vec<Row>> {
    let t = tables(run).pop()?;
    let probe = t.iter().any(|r| r.unaccounted.is_some_and(|u| u < 0));
    (!t.is_empty() && !probe).then_some(t)
}

/// Whether a buffer type lives in host memory.
fn is_host(name: &str) -> bool {
    name.starts_with("CPU") || name.ends_with("_Host") || name == "AMX"
}

/// The predicted bytes of `kind` in `device`'s buffers (`Host`: every host buffer type;
/// `CUDA0`: that GPU's, its `_Split` part too).
fn predicted(est: &Estimate, device: &str, kind: BufferKind) -> f64 {
    let all = est
        .buffers
        .iter()
        .chain(est.devices.iter().flat_map(|d| d.buffers.iter()));
    all.filter(|b| b.component == kind)
        .filter(|b| {
            if device == "Host" {
                is_host(&b.buffer)
            } else {
                b.buffer == device || b.buffer.strip_suffix("_Split") == Some(device)
            }
        })
        .map(|b| b.bytes as f64)
        .sum()
}

/// The runtime components memcal predicts for the GPU a row names (`CUDA1` -> `cuda:1`).
fn runtime(est: &Estimate, device: &str) -> Option<f64> {
    let index = device.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let d = est
        .devices
        .iter()
        .find(|d| d.name.rsplit(':').next() == Some(index))?;
    Some(d.runtime.iter().map(|r| r.bytes as f64).sum())
}

/// The exit table of a covered run held against its estimate: model, KV and compute per
/// row (a printed whole MiB taken as its middle, +0.5 MiB), and each GPU's unaccounted
/// memory against the runtime components (`unaccounted`, never part of the buffer checks).
pub fn outcomes(c: &Covered, est: &Estimate) -> Vec<Outcome> {
    let Some(table) = exit_table(&c.run) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |device: &str, kind: &str, printed_mib: f64, predicted: f64| {
        if printed_mib == 0.0 && predicted < MIB {
            return;
        }
        out.push(Outcome {
            run: c.run.id.clone(),
            build: c.run.build.replayed().unwrap_or(0),
            build_label: c.run.build.label(),
            held_out: c.run.held_out,
            gpu: gpu_name(&c.run),
            device: device.to_string(),
            kind: kind.to_string(),
            printed: (printed_mib + 0.5) * MIB,
            predicted,
            source: Source::Breakdown,
        });
    };
    for r in &table {
        let d = r.device.as_str();
        push(
            d,
            "model",
            r.model as f64,
            predicted(est, d, BufferKind::Model),
        );
        push(d, "kv", r.context as f64, predicted(est, d, BufferKind::Kv));
        push(
            d,
            "compute",
            r.compute as f64,
            predicted(est, d, BufferKind::Compute),
        );
        if let (Some(u), Some(rt)) = (r.unaccounted, runtime(est, d)) {
            push(d, "unaccounted", u as f64, rt);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::row;

    #[test]
    fn rows_of_both_table_layouts_are_read() {
        let gpu = row(
            "llama_memory_breakdown_print: |   - CUDA0 (RTX 4090)   | 24077 =  945 + \
                       (19187 = 17904 +     384 +     898) +        3945 |",
        )
        .expect("a GPU row");
        assert_eq!(
            (gpu.device.as_str(), gpu.model, gpu.context, gpu.compute),
            ("CUDA0", 17904, 384, 898)
        );
        assert_eq!(gpu.unaccounted, Some(3945));
        let host = row(
            "llama_memory_breakdown_print: |   - Host               |                 \
                        58271 = 58259 +       0 +      12                |",
        )
        .expect("the host row");
        assert_eq!(
            (host.model, host.context, host.compute, host.unaccounted),
            (58259, 0, 12, None)
        );
        let early = row(
            "llama_print_memory_breakdown:   - CUDA1 (RTX 4090):  24080 = 9868 + \
                         (13756 = 13169 +      38 +     548) +         456",
        )
        .expect("the first layout");
        assert_eq!(
            (early.device.as_str(), early.compute, early.unaccounted),
            ("CUDA1", 548, Some(456))
        );
        let cpu = row("llama_print_memory_breakdown:   - CPU (EPYC 7742):  515628              72 =     0 +      57 +      15")
            .expect("the first layout's host row");
        assert_eq!(
            (cpu.device.as_str(), cpu.model, cpu.context, cpu.compute),
            ("Host", 0, 57, 15)
        );
        let underflow = row("|   - CUDA0 (GTX 1080 Ti) | 11165 = 8702 + (10001 =  9814 +     134 +      51) + 17592186036877 |")
            .expect("a row");
        assert_eq!(underflow.unaccounted, None);
    }
}
