//! GGUF: a validating header-only reader ([`GgufFile`]), lazily decoded metadata values
//! ([`Value`]), the per-file reading of ambiguous BitNet type ids, split models joined
//! ([`split`]), and a writer
//! ([`writer::GgufWriter`]) for tests, benches and synthetic models.

pub mod bitnet;
mod layout;
pub mod reader;
pub mod split;
pub mod value;
pub mod writer;

pub use bitnet::is_bitnet_architecture;
pub use layout::align_up;
pub use reader::{GgufFile, TensorInfo, DEFAULT_ALIGNMENT};
pub use value::{Array, OwnedArray, OwnedValue, Value, ValueType};
pub use writer::GgufWriter;
