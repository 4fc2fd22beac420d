//! Serves the test models on 127.0.0.1 in the layouts the tests use, until killed:
//! `/files/tiny_llama.gguf`, the Hugging Face-like repositories `test/tiny-gguf` (a Q8_0
//! file and a 3-part split model) and `test/tiny-st` (sharded SafeTensors), and the
//! Ollama-like models `tiny:latest` and `me/tiny-ctx:v1` (params: num_ctx 128). Prints
//! the base URL. For trying the remote references by hand (the README's examples):
//!
//! `cargo run -p memcal-testserver --bin memcal-testserver [PORT]`

use memcal_testserver::{models, Server};

fn main() {
    let server = match std::env::args().nth(1) {
        Some(port) => match port.parse() {
            Ok(p) => Server::start_on(p),
            Err(e) => panic!("{port:?} is not a port: {e}"),
        },
        None => Server::start(),
    };
    let gguf = models::tiny_gguf();
    let split = models::split_gguf(&gguf, "tiny", 3);
    server.add("/files/tiny_llama.gguf", gguf.clone());
    let mut repo = vec![("tiny_llama-Q8_0.gguf".to_string(), gguf.clone())];
    repo.extend(split);
    let commit = "0123456789abcdef0123456789abcdef01234567";
    server.add_hf_repo("test/tiny-gguf", commit, &repo);
    server.add_hf_repo("test/tiny-st", commit, &models::sharded_safetensors());
    server.add_ollama_model("library", "tiny", "latest", &gguf, None);
    let params = serde_json::json!({"num_ctx": 128});
    server.add_ollama_model("me", "tiny-ctx", "v1", &gguf, Some(&params));
    println!("{}", server.url());
    loop {
        std::thread::park();
    }
}
