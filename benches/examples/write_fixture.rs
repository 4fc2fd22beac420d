//! Writes a bench fixture header (sparse GGUF with a full tokenizer) so other tools can be
//! timed on the same file: `cargo run --release -p memcal-benches --example write_fixture --
//! DIR llama-3.1-8b:Q4_K`.

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(spec)) = (args.next(), args.next()) else {
        eprintln!("usage: write_fixture DIR PRESET[:TYPE]");
        return std::process::ExitCode::FAILURE;
    };
    match memcal_benches::write_header_fixture(std::path::Path::new(&dir), &spec) {
        Ok(p) => {
            println!("{}", p.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
