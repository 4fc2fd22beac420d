//! A model spread over several devices: llama.cpp's RPC workers (`--rpc host:port,...`,
//! one `rpc-server` per machine) or several local GPUs, with `--tensor-split` proportions
//! and `-sm layer|row`.
//!
//! The client (the process that runs `llama-cli`/`llama-server`) keeps the input layer and
//! every block that is not offloaded (`-ngl`); the offloaded blocks and, when every block is
//! offloaded, the output layer are spread over the split's devices in order.

use super::device::Device;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How llama.cpp splits a model over several devices (`-sm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitMode {
    /// Whole blocks per device (`-sm layer`, the default).
    #[default]
    Layer,
    /// Each block's matrices split by rows over the GPUs; KV and the rest on the main
    /// GPU (`-sm row`; CUDA only).
    Row,
}

impl SplitMode {
    /// The name llama.cpp takes.
    pub fn as_str(&self) -> &'static str {
        match self {
            SplitMode::Layer => "layer",
            SplitMode::Row => "row",
        }
    }
}

impl fmt::Display for SplitMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SplitMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "layer" => Ok(SplitMode::Layer),
            "row" => Ok(SplitMode::Row),
            _ => Err(Error::InvalidConfig(format!(
                "unknown split mode {s:?} (expected layer or row; llama.cpp's -sm tensor is \
                 not modelled, and -sm none is one GPU: leave out --tensor-split)"
            ))),
        }
    }
}

/// What kind of device holds a share of the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitDeviceKind {
    /// An `rpc-server` on a machine of its own (its CPU backend holds what it is sent).
    Rpc,
    /// A local CUDA GPU.
    Cuda,
    /// A local ROCm GPU.
    Rocm,
}

impl SplitDeviceKind {
    /// Whether it is a local GPU.
    pub fn is_gpu(&self) -> bool {
        matches!(self, SplitDeviceKind::Cuda | SplitDeviceKind::Rocm)
    }

    /// The kind of a local GPU `device` (None for the CPU).
    pub fn of_gpu(device: Device) -> Option<SplitDeviceKind> {
        match device {
            Device::Cpu => None,
            Device::Cuda(_) => Some(SplitDeviceKind::Cuda),
            Device::Rocm(_) => Some(SplitDeviceKind::Rocm),
        }
    }

    /// The run device of GPU `n` of this kind (the CPU for an RPC worker).
    pub fn device(&self, n: u32) -> Device {
        match self {
            SplitDeviceKind::Rpc => Device::Cpu,
            SplitDeviceKind::Cuda => Device::Cuda(n),
            SplitDeviceKind::Rocm => Device::Rocm(n),
        }
    }
}

/// One device of a split.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SplitDevice {
    /// Its name: a machine name given to `--hosts`, or `cuda:N`.
    pub name: String,
    /// What it is.
    pub kind: SplitDeviceKind,
}

/// The devices a model is split over, in llama.cpp's device order (RPC endpoints in the
/// order `--rpc` lists them), with the share of the offloaded blocks each gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitOptions {
    /// The devices, in order.
    pub devices: Vec<SplitDevice>,
    /// `--tensor-split` proportions, one per device (any positive scale).
    pub tensor_split: Vec<f64>,
    /// `-sm`.
    #[serde(default)]
    pub mode: SplitMode,
}

impl SplitOptions {
    /// `n` RPC workers named `names`, with proportions `tensor_split` (equal shares when
    /// empty).
    pub fn rpc(names: &[String], tensor_split: &[f64]) -> Result<SplitOptions, Error> {
        let s = SplitOptions {
            devices: names
                .iter()
                .map(|n| SplitDevice {
                    name: n.clone(),
                    kind: SplitDeviceKind::Rpc,
                })
                .collect(),
            tensor_split: if tensor_split.is_empty() {
                vec![1.0; names.len()]
            } else {
                tensor_split.to_vec()
            },
            mode: SplitMode::Layer,
        };
        s.validate()?;
        Ok(s)
    }

    /// `k` local GPUs of `device`'s API (`cuda:0` ... `cuda:k-1`, llama.cpp's device order)
    /// with proportions `tensor_split` (one per GPU, equal shares when empty).
    pub fn gpus(
        device: Device,
        k: usize,
        tensor_split: &[f64],
        mode: SplitMode,
    ) -> Result<SplitOptions, Error> {
        let kind = SplitDeviceKind::of_gpu(device).ok_or_else(|| {
            Error::InvalidConfig("a split over GPUs needs a GPU device (cuda, rocm)".into())
        })?;
        let s = SplitOptions {
            devices: (0..k)
                .map(|i| SplitDevice {
                    name: kind.device(i as u32).to_string(),
                    kind,
                })
                .collect(),
            tensor_split: if tensor_split.is_empty() {
                vec![1.0; k]
            } else {
                tensor_split.to_vec()
            },
            mode,
        };
        s.validate()?;
        Ok(s)
    }

    /// Whether every device is a local GPU (one process; no RPC worker).
    pub fn on_gpus(&self) -> bool {
        self.devices.iter().all(|d| d.kind.is_gpu())
    }

    /// The same devices with other proportions.
    pub fn with_shares(&self, tensor_split: &[f64]) -> Result<SplitOptions, Error> {
        let s = SplitOptions {
            tensor_split: tensor_split.to_vec(),
            ..self.clone()
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks the split is usable: at least one device, names unique and not `client`,
    /// one finite non-negative proportion per device with a positive sum, row mode on GPUs
    /// only.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.devices.is_empty() {
            return bad("a split needs at least one device".into());
        }
        if self.devices.len() > MAX_SPLIT_DEVICES {
            return bad(format!(
                "a split has at most {MAX_SPLIT_DEVICES} devices, got {}",
                self.devices.len()
            ));
        }
        for (i, d) in self.devices.iter().enumerate() {
            if d.name.is_empty() || d.name == CLIENT {
                return bad(format!(
                    "split device {i} needs a name other than {CLIENT:?}"
                ));
            }
            if self.devices[..i].iter().any(|o| o.name == d.name) {
                return bad(format!("split device {:?} is named twice", d.name));
            }
        }
        if self.tensor_split.len() != self.devices.len() {
            return bad(format!(
                "--tensor-split has {} proportions for {} devices",
                self.tensor_split.len(),
                self.devices.len()
            ));
        }
        if self.tensor_split.iter().any(|x| !x.is_finite() || *x < 0.0)
            || self.tensor_split.iter().sum::<f64>() <= 0.0
        {
            return bad(format!(
                "--tensor-split proportions must be non-negative with a positive sum, got {:?}",
                self.tensor_split
            ));
        }
        if self.mode == SplitMode::Row && self.devices.iter().any(|d| !d.kind.is_gpu()) {
            return bad("-sm row splits rows over local GPUs only, not over RPC workers".into());
        }
        Ok(())
    }

    /// The `--tensor-split` argument (`a,b,c`).
    pub fn tensor_split_arg(&self) -> String {
        self.tensor_split
            .iter()
            .map(|x| format!("{x}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A short key of the split, for record keys (`|split...`).
    pub fn key(&self) -> String {
        format!(
            "|split{}:{}:{}",
            self.mode,
            self.devices
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            self.tensor_split_arg()
        )
    }
}

/// A machine of a deployment and the memory it may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Its name.
    pub name: String,
    /// Its memory budget in bytes, when given.
    pub budget: Option<u64>,
}

/// Reads `--hosts NAME[=SIZE],NAME[=SIZE],...`: the machines of a split, the first of which
/// runs the client (llama-cli or llama-server with `--rpc`), each of the others one
/// `rpc-server`. Sizes are written as people write them (`8G`, `512MiB`).
pub fn parse_hosts(s: &str) -> Result<Vec<Host>, Error> {
    let mut hosts: Vec<Host> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, budget) = match part.split_once('=') {
            Some((n, b)) => (n.trim(), Some(crate::units::parse_size(b.trim())?)),
            None => (part, None),
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(Error::InvalidConfig(format!(
                "--hosts: {part:?} needs a machine name (NAME or NAME=SIZE)"
            )));
        }
        if hosts.iter().any(|h| h.name == name) {
            return Err(Error::InvalidConfig(format!(
                "--hosts: machine {name:?} is named twice"
            )));
        }
        hosts.push(Host {
            name: name.to_string(),
            budget,
        });
    }
    if hosts.len() < 2 {
        return Err(Error::InvalidConfig(format!(
            "--hosts {s:?}: name the client's machine and at least one RPC worker \
             (e.g. client=8G,gpu-box=24G)"
        )));
    }
    if hosts.len() > MAX_SPLIT_DEVICES + 1 {
        return Err(Error::InvalidConfig(format!(
            "--hosts: at most {MAX_SPLIT_DEVICES} RPC workers"
        )));
    }
    Ok(hosts)
}

/// Reads `--tensor-split a,b,c` (proportions, as llama.cpp takes them).
pub fn parse_tensor_split(s: &str) -> Result<Vec<f64>, Error> {
    s.split(',')
        .map(|x| {
            x.trim().parse::<f64>().map_err(|_| {
                Error::InvalidConfig(format!("--tensor-split {s:?}: {x:?} is not a number"))
            })
        })
        .collect()
}

/// The name of the machine that runs the client process in a split.
pub const CLIENT: &str = "client";

/// The most devices a split may name (llama.cpp's `LLAMA_MAX_DEVICES` is 16).
pub const MAX_SPLIT_DEVICES: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_read_as_names_with_optional_budgets() {
        let h = parse_hosts("client=8G, box-a=512MiB,box-b").unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].name, "client");
        assert_eq!(h[0].budget, Some(8 << 30));
        assert_eq!(h[1].budget, Some(512 << 20));
        assert_eq!(h[2].budget, None);
        assert!(parse_hosts("client=8G").is_err());
        assert!(parse_hosts("a=1G,a=2G").is_err());
        assert!(parse_hosts("a=1G,=2G").is_err());
        assert!(parse_hosts("a=1G,b=lots").is_err());
        assert_eq!(parse_tensor_split("3, 1").unwrap(), [3.0, 1.0]);
        assert!(parse_tensor_split("3,x").is_err());
    }

    #[test]
    fn a_split_needs_one_proportion_per_named_device() {
        let names = vec!["a".to_string(), "b".to_string()];
        let s = SplitOptions::rpc(&names, &[]).unwrap();
        assert_eq!(s.tensor_split, [1.0, 1.0]);
        assert_eq!(s.tensor_split_arg(), "1,1");
        assert!(SplitOptions::rpc(&names, &[1.0]).is_err());
        assert!(SplitOptions::rpc(&names, &[0.0, 0.0]).is_err());
        assert!(SplitOptions::rpc(&names, &[1.0, f64::NAN]).is_err());
        let twice = vec!["a".to_string(), "a".to_string()];
        assert!(SplitOptions::rpc(&twice, &[]).is_err());
        let client = vec![CLIENT.to_string()];
        assert!(SplitOptions::rpc(&client, &[]).is_err());
        let row = SplitOptions {
            mode: SplitMode::Row,
            ..s
        };
        assert!(row.validate().is_err());
    }
}
