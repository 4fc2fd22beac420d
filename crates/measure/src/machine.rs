//! The machine a measurement runs on: CPU, cores, RAM, OS, kernel, transparent huge pages
//! and GPU, and a short stable fingerprint naming the data file of its records.

use predictor::record::{GpuInfo, Machine};
use sysinfo::System;

/// The transparent huge pages mode from `/sys/kernel/mm/transparent_hugepage/enabled`
/// (the bracketed word of `always [madvise] never`), or `unknown`.
pub fn thp_setting() -> String {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|t| parse_thp(&t))
        .unwrap_or_else(|| "unknown".into())
}

fn parse_thp(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_string())
}

/// Lower-case letters and digits, other runs turned into one `-`.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Drops the marketing words from a CPU brand string so the slug stays short.
fn short_cpu(brand: &str) -> String {
    let noise = ["(r)", "(tm)", "cpu", "processor", "@"];
    let mut s = brand.to_ascii_lowercase();
    for n in noise {
        s = s.replace(n, " ");
    }
    // Drop the clock ("2.20ghz") and the core count ("64-core").
    let words: Vec<&str> = s
        .split_whitespace()
        .filter(|w| !w.ends_with("ghz") && !w.ends_with("-core"))
        .collect();
    slug(&words.join(" "))
}

/// The fingerprint: CPU model, logical cores, RAM in GiB (rounded) and the GPU name if
/// one is used, e.g. `amd-epyc-7b13-2c-24g` or `...-nvidia-h100-80gb-hbm3`.
pub fn fingerprint(cpu_model: &str, cores: u32, ram_bytes: u64, gpu: Option<&GpuInfo>) -> String {
    let gib = (ram_bytes + (1 << 29)) >> 30;
    let mut f = format!("{}-{cores}c-{gib}g", short_cpu(cpu_model));
    if let Some(g) = gpu {
        f.push('-');
        f.push_str(&slug(&g.name));
    }
    f
}

/// Describes this machine. `gpu` is the device the run uses (None for CPU runs), so CPU
/// and GPU records of one host land in different files.
pub fn describe(gpu: Option<GpuInfo>) -> Machine {
    let mut sys = System::new().ok();
    let (cpu_model, cores, ram_bytes) = match sys.as_mut() {
        Some(sys) => {
            sys.refresh_cpu_all();
            sys.refresh_memory();
            let brand = sys
                .cpus()
                .first()
                .map(|c| c.brand().trim().to_string())
                .unwrap_or_default();
            (brand, sys.cpus().len() as u32, sys.total_memory())
        }
        None => (String::new(), 0, 0),
    };
    let cores = if cores == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    } else {
        cores
    };
    let cpu_model = if cpu_model.is_empty() {
        "unknown-cpu".to_string()
    } else {
        cpu_model
    };
    let os = match (System::name(), System::os_version()) {
        (Ok(n), Ok(v)) => format!("{n} {v}"),
        (Ok(n), Err(_)) => n,
        _ => std::env::consts::OS.to_string(),
    };
    Machine {
        fingerprint: fingerprint(&cpu_model, cores, ram_bytes, gpu.as_ref()),
        hostname: System::host_name().unwrap_or_default(),
        cpu_model,
        cpu_cores: cores,
        ram_bytes,
        os,
        kernel: System::kernel_version().unwrap_or_else(|_| "unknown".into()),
        thp: thp_setting(),
        gpu,
    }
}

/// `base` (a CPU description) with `gpu` as the device used, fingerprint included.
pub fn with_gpu(base: &Machine, gpu: GpuInfo) -> Machine {
    let mut m = base.clone();
    m.fingerprint = fingerprint(&m.cpu_model, m.cpu_cores, m.ram_bytes, Some(&gpu));
    m.gpu = Some(gpu);
    m
}

/// System memory available now (sysinfo's `available_memory`), 0 if unreadable.
pub fn available_memory() -> u64 {
    System::new()
        .map(|mut s| {
            s.refresh_memory();
            s.available_memory()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_short_slugs() {
        let f = fingerprint(
            "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz",
            2,
            24 * (1 << 30) - (300 << 20),
            None,
        );
        assert_eq!(f, "intel-xeon-platinum-8481c-2c-24g");
        let gpu = GpuInfo {
            name: "NVIDIA H100 80GB HBM3".into(),
            ..Default::default()
        };
        let f = fingerprint("AMD EPYC 7B13 64-Core Processor", 16, 128 << 30, Some(&gpu));
        assert_eq!(f, "amd-epyc-7b13-16c-128g-nvidia-h100-80gb-hbm3");
    }

    #[test]
    fn reads_the_thp_mode() {
        assert_eq!(
            parse_thp("always [madvise] never\n").as_deref(),
            Some("madvise")
        );
        assert_eq!(parse_thp("garbage"), None);
    }

    #[test]
    fn describes_this_machine() {
        let m = describe(None);
        assert!(m.cpu_cores >= 1);
        assert!(m.ram_bytes > 0);
        assert!(!m.fingerprint.is_empty());
    }
}
