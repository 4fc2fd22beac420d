//! Options shared by the measuring commands (`run`, `sweep`): limits put on the child
//! and where records go.

use crate::measure::isolate::IsolateOptions;
use crate::measure::machine;
use crate::measure::runner::Runner;
use anyhow::Context;
use predictor_cli::cli_args::parse_size;
use std::path::PathBuf;
use std::time::Duration;

/// Limits of each measured child.
#[derive(Debug, Clone, clap::Args)]
pub struct ChildLimits {
    /// Kill a run after this many seconds (recorded as an error).
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Address-space limit (RLIMIT_AS) of the child, e.g. 2G: an allocation past it fails
    /// and the run is recorded as `oom`. Counts reservations too (thread stacks, malloc
    /// arenas), so leave a few hundred MiB above what the run needs.
    #[arg(long, value_name = "SIZE")]
    pub address_limit: Option<String>,
    /// Kill the child when its resident memory passes this size (recorded as `oom`);
    /// default: 90% of the memory available when the command starts.
    #[arg(long, value_name = "SIZE")]
    pub max_rss: Option<String>,
    /// Worker threads of the child (sets MEMCAL_THREADS; default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ChildLimits {
    /// The resident-memory guard in bytes.
    pub fn max_rss_bytes(&self) -> anyhow::Result<u64> {
        match &self.max_rss {
            Some(s) => parse_size(s).with_context(|| format!("--max-rss {s}")),
            None => Ok(machine::available_memory() / 10 * 9),
        }
    }

    /// A runner re-executing this binary under these limits.
    pub fn runner(&self) -> anyhow::Result<Runner> {
        let mut opts = IsolateOptions::for_current_exe()?;
        opts.watch.timeout = Some(Duration::from_secs(self.timeout.max(1)));
        let max_rss = self.max_rss_bytes()?;
        opts.watch.rss_limit = (max_rss > 0).then_some(max_rss);
        if let Some(s) = &self.address_limit {
            opts.address_limit =
                Some(parse_size(s).with_context(|| format!("--address-limit {s}"))?);
        }
        if let Some(n) = self.threads {
            anyhow::ensure!(n > 0, "--threads must be at least 1");
            for var in ["MEMCAL_THREADS", "CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
                opts.env.push((var.to_string(), n.to_string()));
            }
        }
        Ok(Runner::new(opts))
    }
}

/// Where records go by default: `calibration/data` of the working directory when it has
/// one, else of the source tree this binary was built from, else `./calibration/data`.
pub fn default_data_dir() -> PathBuf {
    let here = PathBuf::from("calibration/data");
    if here.is_dir() {
        return here;
    }
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../calibration/data");
    if built.is_dir() {
        return built;
    }
    here
}
