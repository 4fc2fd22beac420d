//! Run configuration: the device, batch, context and cache settings a prediction is for,
//! and how the run is deployed: one process ([`RunConfig`] alone), a server with parallel
//! slots ([`serve`]) or a model split over several machines or GPUs ([`split`]); and the
//! CPU instruction sets the engine build uses ([`isa`]).

pub mod device;
pub mod isa;
pub mod kv;
pub mod overrides;
pub mod role;
pub mod run;
pub mod serve;
pub mod split;
pub mod toggles;

pub use device::{Device, DeviceKind};
pub use kv::KvDtype;
pub use overrides::{OverrideTarget, TensorOverride, TensorOverrides, TensorPart};
pub use role::Role;
pub use run::{RunConfig, MAX_BATCH, MAX_CTX};
pub use serve::ServeOptions;
pub use split::{SplitDevice, SplitDeviceKind, SplitMode, SplitOptions};
pub use toggles::{parse_on_off, FlashAttn};
