//! Which process of a deployment a figure is about: calibration tables and records are
//! kept per role, because a server, an RPC client and an RPC worker each hold different
//! parts of the same model.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A process of a deployment.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The one process of a command-line run (`llama-completion`, `llama-cli`, `bitnet run`,
    /// the reference runtime).
    #[default]
    Cli,
    /// `llama-server` with its parallel slots, on one machine.
    Server,
    /// The process that loads the model and drives the workers of a split run (a CLI or a
    /// server started with `--rpc`).
    RpcClient,
    /// One `rpc-server` of a split run, holding the blocks it is sent.
    RpcServer,
}

impl Role {
    /// Every role, in report order.
    pub const ALL: [Role; 4] = [Role::Cli, Role::Server, Role::RpcClient, Role::RpcServer];

    /// The role of the process that runs `config` (the client of a split over RPC workers,
    /// the server when served, else the command-line run; a split over local GPUs is one
    /// process).
    pub fn of_client(config: &super::run::RunConfig) -> Role {
        let rpc = config.split.as_ref().is_some_and(|s| !s.on_gpus());
        match (rpc, &config.serve) {
            (true, _) => Role::RpcClient,
            (false, Some(_)) => Role::Server,
            (false, None) => Role::Cli,
        }
    }

    /// The name records and tables carry.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Cli => "cli",
            Role::Server => "server",
            Role::RpcClient => "rpc-client",
            Role::RpcServer => "rpc-server",
        }
    }

    /// Whether this is the default role (records and tables omit it).
    pub fn is_cli(&self) -> bool {
        *self == Role::Cli
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "unknown role {s:?} (expected cli, server, rpc-client or rpc-server)"
                ))
            })
    }
}
