//! Readable summaries of records for the terminal.

use predictor::record::{PhaseMeasure, Record, Status};
use predictor_cli::cli_args::human_bytes;
use std::fmt::Write;

fn phase<'a>(r: &'a Record, name: &str) -> Option<&'a PhaseMeasure> {
    r.measured.phases.iter().find(|p| p.name == name)
}

fn opt_bytes(b: Option<u64>) -> String {
    b.map(human_bytes).unwrap_or_else(|| "-".into())
}

/// The growth of the resident set from the end of phase `a` to the end (or peak) of `b`.
fn delta(r: &Record, a: &str, b: &str, peak: bool) -> Option<u64> {
    let (pa, pb) = (phase(r, a)?, phase(r, b)?);
    let end = if peak {
        pb.peak_rss_bytes
    } else {
        pb.rss_bytes
    };
    Some(end.saturating_sub(pa.rss_bytes))
}

/// A multi-line summary: model, configuration, status, the phases, and the measured
/// components beside the analytic ones.
pub fn record_summary(r: &Record) -> String {
    let mut s = String::new();
    let p = &r.profile;
    let c = &r.config;
    let _ = writeln!(
        s,
        "model    {} ({} {}, {} layers, hidden {}, {}, file {}, {})",
        r.model.path,
        p.shape.architecture,
        p.dominant_name(),
        p.shape.n_layers,
        p.shape.hidden,
        human_bytes(p.tensor_data_bytes),
        human_bytes(r.model.bytes),
        r.model.hash
    );
    let _ = writeln!(
        s,
        "config   {} batch {} ctx {} ubatch {} kv {} gpu-layers {} | prompt {} decode {} ({} cached prefix)",
        c.device,
        c.batch,
        c.ctx,
        c.ubatch,
        c.kv_dtype,
        c.gpu_layers.map(|g| g.to_string()).unwrap_or_else(|| "all".into()),
        r.prompt_tokens,
        r.decode_tokens,
        c.ctx.saturating_sub(r.prompt_tokens + r.decode_tokens),
    );
    let status = match r.status {
        Status::Ok => "ok",
        Status::Oom => "oom",
        Status::Error => "error",
    };
    let _ = writeln!(s, "machine  {} ({})", r.machine.fingerprint, r.backend);
    let _ = write!(s, "status   {status}");
    match &r.message {
        Some(m) => {
            let _ = writeln!(s, ": {m}");
        }
        None => s.push('\n'),
    }
    let _ = writeln!(
        s,
        "\n{:<9} {:>11} {:>11} {:>11} {:>11} {:>11} {:>10}",
        "phase", "rss", "peak", "anon", "file", "gpu used", "time"
    );
    for ph in &r.measured.phases {
        let _ = writeln!(
            s,
            "{:<9} {:>11} {:>11} {:>11} {:>11} {:>11} {:>8.0}ms",
            ph.name,
            human_bytes(ph.rss_bytes),
            human_bytes(ph.peak_rss_bytes),
            human_bytes(ph.rss_anon_bytes),
            human_bytes(ph.rss_file_bytes),
            opt_bytes(ph.gpu_used_bytes),
            ph.elapsed_ms
        );
    }
    let m = &r.measured;
    let _ = writeln!(
        s,
        "\npeak RSS {} (baseline {}, wait4 ru_maxrss {} = peak since the last reset), GPU peak {}",
        human_bytes(m.peak_rss_bytes),
        human_bytes(m.baseline_rss_bytes),
        human_bytes(m.rusage_maxrss_bytes),
        opt_bytes(m.gpu_peak_used_bytes)
    );
    if let Some(c) = m.cgroup_peak_bytes {
        let _ = writeln!(
            s,
            "cgroup peak {} (memory the tree charged to its own cgroup: pages it faulted in \
             and page cache it read; pages already cached, such as the binary, are not charged)",
            human_bytes(c)
        );
    }
    let h = &r.predicted.host;
    let _ = writeln!(
        s,
        "{:<12} {:>11} {:>11} {:>11} {:>11}",
        "", "weights", "kv cache", "activations", "total"
    );
    let _ = writeln!(
        s,
        "{:<12} {:>11} {:>11} {:>11} {:>11}",
        "predicted",
        human_bytes(h.weights),
        human_bytes(h.kv_cache),
        human_bytes(h.activations),
        human_bytes(h.used())
    );
    let _ = writeln!(
        s,
        "{:<12} {:>11} {:>11} {:>11} {:>11}",
        "measured",
        opt_bytes(delta(r, "baseline", "load", false)),
        opt_bytes(delta(r, "load", "kv_alloc", false)),
        opt_bytes(delta(r, "kv_alloc", "prefill", true)),
        human_bytes(m.peak_rss_bytes)
    );
    if let Some(tps) = m.decode_tokens_per_s {
        let _ = writeln!(s, "decode   {tps:.1} tokens/s, wall {:.0} ms", m.wall_ms);
    }
    s
}
