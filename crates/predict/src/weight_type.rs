//! The storage type of a model's tensors, as one typed key: a ggml type (GGUF), a
//! SafeTensors dtype, or BitNet SafeTensors checkpoints' ternary weights packed four per
//! byte. Profiles count bytes by it and calibration tables are keyed by it; it is written
//! and read as its name (`Q4_K`, `I2_S`, `BF16`, `U8_TERNARY`), exactly as those files
//! have always carried it.

use crate::ggml_type::GgmlType;
use crate::safetensors::Dtype;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The name BitNet ternary weights packed four per byte in SafeTensors U8 tensors carry.
pub const PACKED_TERNARY: &str = "U8_TERNARY";

/// A tensor storage type.
///
/// Two types are the same when their names are (`F16` in a GGUF file and in a SafeTensors
/// checkpoint is one type), and types order by name, as the maps they key always have.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum WeightType {
    /// A ggml type (every GGUF tensor).
    Ggml(GgmlType),
    /// A SafeTensors dtype.
    SafeTensors(Dtype),
    /// BitNet ternary weights packed four per byte in U8 tensors ([`PACKED_TERNARY`]).
    PackedTernary,
}

impl WeightType {
    /// The type's name.
    pub fn name(&self) -> &'static str {
        match self {
            WeightType::Ggml(t) => t.name(),
            WeightType::SafeTensors(d) => d.name(),
            WeightType::PackedTernary => PACKED_TERNARY,
        }
    }

    /// The ggml type of this name, if there is one.
    pub fn ggml(&self) -> Option<GgmlType> {
        match self {
            WeightType::Ggml(t) => Some(*t),
            _ => GgmlType::from_name(self.name()),
        }
    }

    /// Whether it is a BitNet ternary type: I2_S, TL1, TL2 or packed U8.
    pub fn is_ternary(&self) -> bool {
        matches!(self.name(), "I2_S" | "TL1" | "TL2" | PACKED_TERNARY)
    }

    /// Whether it is a quantized type: a ggml block type, a BitNet ternary type, or
    /// SafeTensors' packed ternary U8.
    pub fn is_quantized(&self) -> bool {
        *self == WeightType::PackedTernary || self.ggml().is_some_and(|t| t.is_quantized())
    }
}

impl PartialEq for WeightType {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for WeightType {}

impl Hash for WeightType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl PartialOrd for WeightType {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for WeightType {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name().cmp(other.name())
    }
}

/// Maps keyed by type can be looked up by name (`by_type["I2_S"]`): equality, order and
/// hash are the name's.
impl std::borrow::Borrow<str> for WeightType {
    fn borrow(&self) -> &str {
        self.name()
    }
}

impl PartialEq<str> for WeightType {
    fn eq(&self, other: &str) -> bool {
        self.name() == other
    }
}

impl PartialEq<&str> for WeightType {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl fmt::Display for WeightType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A name that is no known storage type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tensor storage type {0:?}")]
pub struct UnknownWeightType(pub String);

impl FromStr for WeightType {
    type Err = UnknownWeightType;

    /// A ggml type name first, then a SafeTensors dtype name, then [`PACKED_TERNARY`].
    fn from_str(s: &str) -> Result<WeightType, UnknownWeightType> {
        if s == PACKED_TERNARY {
            return Ok(WeightType::PackedTernary);
        }
        GgmlType::from_name(s)
            .map(WeightType::Ggml)
            .or_else(|| Dtype::from_name(s).map(WeightType::SafeTensors))
            .ok_or_else(|| UnknownWeightType(s.to_string()))
    }
}

impl From<WeightType> for String {
    fn from(t: WeightType) -> String {
        t.name().to_string()
    }
}

impl TryFrom<String> for WeightType {
    type Error = UnknownWeightType;
    fn try_from(s: String) -> Result<WeightType, UnknownWeightType> {
        s.parse()
    }
}

/// Serde for an `Option<WeightType>` written as its name, or `""` for none (a profile's
/// dominant type has always been written so).
pub mod name_or_empty {
    use super::WeightType;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the name, or `""`.
    pub fn serialize<S: Serializer>(t: &Option<WeightType>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.as_ref().map_or("", |t| t.name()))
    }

    /// Reads a name, `""` as none.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<WeightType>, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        s.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

impl From<GgmlType> for WeightType {
    fn from(t: GgmlType) -> WeightType {
        WeightType::Ggml(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_equal_names_are_one_type() {
        for name in [
            "Q4_K",
            "I2_S",
            "TL2",
            "BF16",
            "U8",
            "F8_E4M3",
            PACKED_TERNARY,
        ] {
            let t: WeightType = name.parse().unwrap();
            assert_eq!(t.name(), name);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<WeightType>(&json).unwrap(), t);
        }
        assert_eq!(
            WeightType::Ggml(GgmlType::F16),
            WeightType::SafeTensors(Dtype::F16)
        );
        assert!("NOPE".parse::<WeightType>().is_err());
        assert!(WeightType::PackedTernary.is_ternary() && WeightType::PackedTernary.is_quantized());
        assert!(!WeightType::Ggml(GgmlType::F16).is_quantized());
    }
}
