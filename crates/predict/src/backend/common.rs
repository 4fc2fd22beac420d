//! What every engine's estimate shares: the notes any configuration or model gets.

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

/// The note of an engine without expert routing (its runtime has none, or was never
/// measured on one) for a mixture-of-experts model.
pub(crate) fn no_moe_note(engine: &str, profile: &ModelProfile) -> Option<String> {
    profile.shape.is_moe().then(|| {
        format!(
            "{engine} has no mixture-of-experts support modelled (its runtime has no expert \
             routing, or was never measured on one): this estimate treats the experts as \
             a dense FFN; llama.cpp runs it"
        )
    })
}
