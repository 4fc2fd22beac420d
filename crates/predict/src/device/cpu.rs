//! The host CPU: buffers named `CPU`, no context of its own, compute buffers resident as
//! the pages a run writes (the allocation is lazily faulted in).

use super::DeviceModel;
use crate::config::DeviceKind;

/// The host CPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu;

impl DeviceModel for Cpu {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Cpu
    }

    fn buffer_name(&self, _index: usize, _name: &str) -> String {
        "CPU".into()
    }

    fn context_bytes(&self) -> u64 {
        0
    }

    fn host_bytes(&self) -> u64 {
        0
    }

    fn holds_offloaded_layers(&self) -> bool {
        false
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn compute_resident(&self, _reserved: u64, touched: u64) -> u64 {
        touched
    }
}
