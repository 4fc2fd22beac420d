//! `predictor`: how much RAM and GPU memory a model will take, from its file's header.

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`predictor presets | head`), as Unix tools do, instead
    // of panicking in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let status = predictor_cli::cli::main_from("predictor", std::env::args_os());
    std::process::ExitCode::from(u8::try_from(status).unwrap_or(1))
}
