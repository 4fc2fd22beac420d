//! CUDA device memory readings through cudarc: device name, driver and CUDA versions,
//! device-wide free/total (`cuMemGetInfo`), and a sampler thread for peaks.
//!
//! With the `cuda-probe` feature cudarc loads `libcuda.so` at run time; its absence makes
//! cudarc panic, so [`driver_present`] checks with `is_culib_present()` before any call and
//! everything here turns "absent" into a [`GpuUnavailable`] that says why ("no CUDA
//! device"). With the `cuda` feature the driver is linked and must be present to start.
//! Without either, every probe reports "built without CUDA support".
//!
//! `cuMemGetInfo` is device-wide (other processes count) and needs a context; a
//! [`GpuMonitor`] holds the device's primary context of the calling process, so figures
//! taken by one monitor include its own context. The profiler's parent reads the baseline
//! with its monitor before the child starts; the child's use is the difference.

use predictor::record::GpuInfo;
use std::fmt;

/// Why no GPU reading is available (no driver, no device, or a driver error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuUnavailable(pub String);

impl fmt::Display for GpuUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GpuUnavailable {}

/// Free and total device memory at one moment, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    /// Free bytes.
    pub free: u64,
    /// Total bytes.
    pub total: u64,
}

impl MemInfo {
    /// Bytes in use device-wide.
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }
}

/// The driver's version string from the kernel module (`/proc/driver/nvidia/version`,
/// e.g. `580.65.06`), or `unknown`.
pub fn kernel_driver_version() -> String {
    let text = std::fs::read_to_string("/proc/driver/nvidia/version")
        .or_else(|_| std::fs::read_to_string("/sys/module/nvidia/version"))
        .unwrap_or_default();
    // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 ..."
    text.split_whitespace()
        .find(|w| w.contains('.') && w.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .map(str::to_string)
        .unwrap_or_else(|| "unknown".into())
}

/// `13000` -> `13.0`.
pub fn cuda_version_string(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

#[cfg(any(feature = "cuda-probe", feature = "cuda"))]
mod imp {
    use super::{GpuUnavailable, MemInfo};
    use cudarc::driver::{result, sys, CudaContext};
    use predictor::record::GpuInfo;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    /// Whether the CUDA driver library can be loaded (always true when it is linked).
    pub fn driver_present() -> bool {
        #[cfg(feature = "cuda-probe")]
        {
            // SAFETY: only tries to dlopen the library and closes it again.
            unsafe { sys::is_culib_present() }
        }
        #[cfg(not(feature = "cuda-probe"))]
        {
            true
        }
    }

    fn err(what: &str, e: impl std::fmt::Debug) -> GpuUnavailable {
        GpuUnavailable(format!("no CUDA device: {what}: {e:?}"))
    }

    /// Holds the primary context of one device in this process and reads its memory.
    pub struct GpuMonitor {
        ctx: Arc<CudaContext>,
        ordinal: u32,
    }

    impl GpuMonitor {
        /// Opens device `ordinal` (creates or retains this process's primary context).
        pub fn open(ordinal: u32) -> Result<GpuMonitor, GpuUnavailable> {
            if !driver_present() {
                return Err(GpuUnavailable(
                    "no CUDA device: the CUDA driver library (libcuda.so.1) is not installed"
                        .into(),
                ));
            }
            result::init().map_err(|e| err("cuInit failed", e))?;
            let count = result::device::get_count().map_err(|e| err("cuDeviceGetCount", e))?;
            if count <= ordinal as i32 {
                return Err(GpuUnavailable(format!(
                    "no CUDA device: device {ordinal} asked for, {count} present"
                )));
            }
            let ctx =
                CudaContext::new(ordinal as usize).map_err(|e| err("creating a context", e))?;
            Ok(GpuMonitor { ctx, ordinal })
        }

        /// Device-wide free/total now.
        pub fn mem_info(&self) -> Result<MemInfo, GpuUnavailable> {
            let (free, total) = self
                .ctx
                .mem_get_info()
                .map_err(|e| err("cuMemGetInfo", e))?;
            Ok(MemInfo {
                free: free as u64,
                total: total as u64,
            })
        }

        /// Name, driver and CUDA versions, total memory. `shared` is left false; the
        /// caller decides it from the baseline.
        pub fn info(&self) -> Result<GpuInfo, GpuUnavailable> {
            let name = self.ctx.name().map_err(|e| err("cuDeviceGetName", e))?;
            let mut v: std::ffi::c_int = 0;
            // SAFETY: plain query into a local.
            unsafe { sys::cuDriverGetVersion(&mut v) }
                .result()
                .map_err(|e| err("cuDriverGetVersion", e))?;
            let total = self
                .ctx
                .total_mem()
                .map_err(|e| err("cuDeviceTotalMem", e))?;
            Ok(GpuInfo {
                name,
                ordinal: self.ordinal,
                driver_version: super::kernel_driver_version(),
                cuda_version: super::cuda_version_string(v),
                total_bytes: total as u64,
                shared: false,
            })
        }

        /// Bytes one more context costs on this device: a second (non-primary) context is
        /// created, the drop in free memory read, and the context destroyed. Used to tell
        /// other processes' use apart from this process's own context.
        pub fn context_cost(&self) -> Result<u64, GpuUnavailable> {
            let before = self.mem_info()?;
            let extra = CudaContext::new_non_primary(self.ordinal as usize, 0)
                .map_err(|e| err("creating a second context", e))?;
            let during = extra.mem_get_info().map_err(|e| err("cuMemGetInfo", e))?;
            drop(extra);
            self.ctx
                .bind_to_thread()
                .map_err(|e| err("rebinding the context", e))?;
            Ok(before.free.saturating_sub(during.0 as u64))
        }

        /// Starts a thread that reads used memory every `interval` and keeps the peak.
        pub fn sampler(&self, interval: Duration) -> GpuSampler {
            let shared = Arc::new(SamplerState::default());
            let state = shared.clone();
            let ctx = self.ctx.clone();
            let handle = std::thread::spawn(move || {
                while !state.stop.load(Ordering::Relaxed) {
                    if let Ok((free, total)) = ctx.mem_get_info() {
                        let used = (total as u64).saturating_sub(free as u64);
                        state.peak.fetch_max(used, Ordering::Relaxed);
                        state.phase_peak.fetch_max(used, Ordering::Relaxed);
                    }
                    std::thread::sleep(interval);
                }
            });
            GpuSampler {
                state: shared,
                handle: Some(handle),
            }
        }
    }

    #[derive(Default)]
    struct SamplerState {
        stop: AtomicBool,
        peak: AtomicU64,
        phase_peak: AtomicU64,
    }

    /// A running sampler of device-wide used memory.
    pub struct GpuSampler {
        state: Arc<SamplerState>,
        handle: Option<JoinHandle<()>>,
    }

    impl GpuSampler {
        /// Peak used since the previous call (or the start), then starts a new phase at
        /// `now_used`.
        pub fn take_phase_peak(&self, now_used: u64) -> u64 {
            let p = self.state.phase_peak.swap(now_used, Ordering::Relaxed);
            self.state.peak.fetch_max(now_used, Ordering::Relaxed);
            p.max(now_used)
        }

        /// Stops the thread and returns the peak used over its whole life.
        pub fn stop(mut self) -> u64 {
            self.finish()
        }

        fn finish(&mut self) -> u64 {
            self.state.stop.store(true, Ordering::Relaxed);
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
            self.state.peak.load(Ordering::Relaxed)
        }
    }

    impl Drop for GpuSampler {
        fn drop(&mut self) {
            self.finish();
        }
    }
}

#[cfg(not(any(feature = "cuda-probe", feature = "cuda")))]
mod imp {
    use super::{GpuUnavailable, MemInfo};
    use predictor::record::GpuInfo;
    use std::time::Duration;

    const ABSENT: &str = "no CUDA device: this profiler was built without CUDA support \
                          (features cuda-probe or cuda)";

    /// Always false: built without CUDA support.
    pub fn driver_present() -> bool {
        false
    }

    /// Never constructed in this build.
    pub struct GpuMonitor(());

    impl GpuMonitor {
        /// Always reports that no CUDA device is available.
        pub fn open(_ordinal: u32) -> Result<GpuMonitor, GpuUnavailable> {
            Err(GpuUnavailable(ABSENT.into()))
        }
        /// Unreachable in this build.
        pub fn mem_info(&self) -> Result<MemInfo, GpuUnavailable> {
            Err(GpuUnavailable(ABSENT.into()))
        }
        /// Unreachable in this build.
        pub fn info(&self) -> Result<GpuInfo, GpuUnavailable> {
            Err(GpuUnavailable(ABSENT.into()))
        }
        /// Unreachable in this build.
        pub fn context_cost(&self) -> Result<u64, GpuUnavailable> {
            Err(GpuUnavailable(ABSENT.into()))
        }
        /// Unreachable in this build.
        pub fn sampler(&self, _interval: Duration) -> GpuSampler {
            GpuSampler(())
        }
    }

    /// Never constructed in this build.
    pub struct GpuSampler(());

    impl GpuSampler {
        /// Unreachable in this build.
        pub fn take_phase_peak(&self, now_used: u64) -> u64 {
            now_used
        }
        /// Unreachable in this build.
        pub fn stop(self) -> u64 {
            0
        }
    }
}

pub use imp::{driver_present, GpuMonitor, GpuSampler};

/// What a probe of one device found: its description and the memory in use before our
/// run, with our own context's cost taken out where it could be measured.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuBaseline {
    /// The device, `shared` set when other processes held memory.
    pub info: GpuInfo,
    /// Device-wide used bytes seen by the probing context (its own context included).
    pub used_with_probe: u64,
    /// What one context costs (0 when it could not be measured).
    pub context_cost: u64,
}

/// Other processes' use above which a device counts as shared (the driver itself keeps a
/// little even on an idle device).
pub const SHARED_THRESHOLD_BYTES: u64 = 256 << 20;

impl GpuBaseline {
    /// Reads the baseline of an open device.
    pub fn read(monitor: &GpuMonitor) -> Result<GpuBaseline, GpuUnavailable> {
        let mut info = monitor.info()?;
        let context_cost = monitor.context_cost().unwrap_or(0);
        let used_with_probe = monitor.mem_info()?.used();
        info.shared = used_with_probe.saturating_sub(context_cost) > SHARED_THRESHOLD_BYTES;
        Ok(GpuBaseline {
            info,
            used_with_probe,
            context_cost,
        })
    }

    /// Device memory used by others before our run (our probing context taken out).
    pub fn others_used(&self) -> u64 {
        self.used_with_probe.saturating_sub(self.context_cost)
    }
}

/// One line about the first device, or why there is none: for `--help`-style reports and
/// the sweep's device list.
pub fn describe_device(ordinal: u32) -> Result<GpuInfo, GpuUnavailable> {
    GpuMonitor::open(ordinal).and_then(|m| m.info())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_versions() {
        assert_eq!(cuda_version_string(13000), "13.0");
        assert_eq!(cuda_version_string(12040), "12.4");
    }

    #[test]
    fn probing_without_a_gpu_is_a_clean_error_not_a_panic() {
        match describe_device(0) {
            Ok(info) => assert!(!info.name.is_empty()),
            Err(e) => assert!(e.0.starts_with("no CUDA device"), "{e}"),
        }
    }
}
