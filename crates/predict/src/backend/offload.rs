//! Where the weights live when the last blocks are offloaded to a GPU: host and GPU
//! bytes, as llama.cpp and the reference runtime both place them.

use crate::profile::{ModelProfile, TensorRole};

/// Weight bytes resident on each device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WeightSplit {
    /// Bytes in host RAM.
    pub host: u64,
    /// Bytes on the GPU.
    pub gpu: u64,
    /// The largest tensor that passes through a host staging buffer on load.
    pub largest_tensor: u64,
}

/// Splits the weights for `gpu_layers` blocks on the GPU.
///
/// As in llama.cpp, the *last* `gpu_layers` blocks go to the GPU; the token embedding stays
/// on the host (a lookup needs only a few rows); the output projection and final norm go to
/// the GPU once every block is there. With tied embeddings the GPU then holds a copy of the
/// embedding matrix as the output projection, so the two devices together hold more than the
/// file.
pub fn split(profile: &ModelProfile, gpu_layers: u32) -> WeightSplit {
    let n = profile.layer_bytes.len();
    let g = (gpu_layers as usize).min(n);
    let largest_tensor = profile.largest_tensor_bytes;
    if g == 0 {
        return WeightSplit {
            host: profile.tensor_data_bytes,
            gpu: 0,
            largest_tensor,
        };
    }
    let gpu_blocks: u64 = profile.layer_bytes[n - g..].iter().sum();
    let mut gpu = gpu_blocks;
    let mut host = profile.tensor_data_bytes.saturating_sub(gpu_blocks);
    if g == n {
        let output = profile.role_bytes(TensorRole::Output);
        if output > 0 {
            gpu += output;
            host = host.saturating_sub(output);
        } else if profile.shape.tied_embeddings {
            gpu += profile.role_bytes(TensorRole::Embedding);
        }
    }
    WeightSplit {
        host,
        gpu,
        largest_tensor,
    }
}
