//! A CPU reached over llama.cpp's RPC backend (an `rpc-server` on another machine): its
//! buffers are named `RPC<i>[host]` in the client's log, its figures are a CPU's (tables
//! key them `cpu`, with the role `rpc-server`), and its compute buffer is resident as the
//! pages its graphs write.

use super::DeviceModel;
use crate::config::DeviceKind;

/// An RPC worker's CPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rpc;

impl DeviceModel for Rpc {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Cpu
    }

    fn buffer_name(&self, index: usize, name: &str) -> String {
        format!("RPC{index}[{name}]")
    }

    fn context_bytes(&self) -> u64 {
        0
    }

    fn host_bytes(&self) -> u64 {
        0
    }

    fn holds_offloaded_layers(&self) -> bool {
        true
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn compute_resident(&self, _reserved: u64, touched: u64) -> u64 {
        touched
    }
}
