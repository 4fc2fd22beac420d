//! What memory this machine has free: host RAM through sysinfo, GPU memory through
//! cudarc's dynamic loading of the CUDA driver (nothing CUDA is needed to build or run
//! without a GPU).

/// Free and total memory of one CUDA device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CudaMemory {
    /// Device name.
    pub name: String,
    /// Free bytes (device-wide, other processes included).
    pub free_bytes: u64,
    /// Total bytes.
    pub total_bytes: u64,
}

/// Host memory available to a new process (MemAvailable), in bytes.
/// 0 when the OS does not say.
pub fn host_available_bytes() -> u64 {
    system().map_or(0, |s| s.available_memory())
}

/// Host physical memory, in bytes.
/// 0 when the OS does not say.
pub fn host_total_bytes() -> u64 {
    system().map_or(0, |s| s.total_memory())
}

fn system() -> Option<sysinfo::System> {
    let mut sys = sysinfo::System::new().ok()?;
    sys.refresh_memory();
    Some(sys)
}

/// Free/total memory of CUDA device `ordinal`. `Ok(None)` when there is no CUDA driver;
/// `Err` with the driver's message when the driver is present but the query fails (no
/// such device, driver too old).
///
/// The query creates (or retains) the device's primary context, as cuMemGetInfo needs one.
#[cfg(feature = "cuda-probe")]
pub fn cuda_memory(ordinal: u32) -> Result<Option<CudaMemory>, String> {
    // SAFETY: only tries to dlopen the driver library; a missing library makes cudarc
    // panic on first use, which this check prevents.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Ok(None);
    }
    let ctx = cudarc::driver::CudaContext::new(ordinal as usize)
        .map_err(|e| format!("CUDA device {ordinal}: {e}"))?;
    let name = ctx
        .name()
        .unwrap_or_else(|_| format!("CUDA device {ordinal}"));
    let (free, total) = ctx
        .mem_get_info()
        .map_err(|e| format!("CUDA device {ordinal}: cuMemGetInfo failed: {e}"))?;
    Ok(Some(CudaMemory {
        name,
        free_bytes: free as u64,
        total_bytes: total as u64,
    }))
}

/// Without the `cuda-probe` feature there is no way to ask: reports no driver.
#[cfg(not(feature = "cuda-probe"))]
pub fn cuda_memory(_ordinal: u32) -> Result<Option<CudaMemory>, String> {
    Ok(None)
}

/// The free/total memory of every CUDA device, in ordinal order. `Ok(None)` when there is
/// no CUDA driver (or the command was built without `cuda-probe`).
pub fn cuda_devices() -> Result<Option<Vec<CudaMemory>>, String> {
    let Some(n) = cuda_device_count()? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for i in 0..n {
        match cuda_memory(i)? {
            Some(m) => out.push(m),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

#[cfg(feature = "cuda-probe")]
fn cuda_device_count() -> Result<Option<u32>, String> {
    // SAFETY: as in `cuda_memory`.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Ok(None);
    }
    let n = cudarc::driver::CudaContext::device_count()
        .map_err(|e| format!("cannot count CUDA devices: {e}"))?;
    Ok(Some(u32::try_from(n).unwrap_or(0)))
}

#[cfg(not(feature = "cuda-probe"))]
fn cuda_device_count() -> Result<Option<u32>, String> {
    Ok(None)
}
