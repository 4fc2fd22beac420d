//! What every engine's estimate shares: the notes any configuration gets.

use crate::config::RunConfig;
use crate::profile::ModelProfile;

/// The note when a configuration asks for more context than the model was trained for.
pub(crate) fn context_note(profile: &ModelProfile, config: &RunConfig) -> Option<String> {
    (config.ctx as u64 > profile.shape.ctx_train && profile.shape.ctx_train > 0).then(|| {
        format!(
            "context {} exceeds the model's trained context {}",
            config.ctx, profile.shape.ctx_train
        )
    })
}
