//! The hidden `__child` subcommand: one measured run in this (fresh) process.

use crate::measure::child;
use crate::measure::protocol::{ChildEvent, ChildSpec};

/// Arguments of `profiler __child`.
#[derive(Debug, clap::Args)]
pub struct ChildArgs {
    /// The run, as a JSON `ChildSpec` (written by the parent).
    pub spec: String,
}

/// Runs the child and returns its exit code.
pub fn run(args: &ChildArgs) -> i32 {
    crate::oom_alloc::report_refusals();
    match serde_json::from_str::<ChildSpec>(&args.spec) {
        Ok(spec) => child::run(&spec),
        Err(e) => {
            let ev = ChildEvent::Failed {
                message: format!("unreadable child spec: {e}"),
                oom: false,
            };
            println!("{}", ev.to_line());
            child::EXIT_FAILED
        }
    }
}
