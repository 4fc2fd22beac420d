//! `predictor`: how much RAM and GPU memory a model will take, from its file's header.

mod cli;

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`predictor presets | head`), as Unix tools do, instead
    // of panicking in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
