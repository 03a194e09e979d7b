//! The `capsim` command: parses arguments, runs, and maps errors to exit codes
//! (0 ok, 1 a check failed, 2 bad input, 3 internal error).

use capsim::cli::{Cli, Outcome, dispatch};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // A panic is a bug, never the user's fault: report it as an internal error (exit 3).
    std::panic::set_hook(Box::new(|info| {
        eprintln!("capsim: internal error (please report it): {info}");
    }));
    match std::panic::catch_unwind(|| dispatch(cli)) {
        Ok(Ok(Outcome::Ok)) => ExitCode::SUCCESS,
        Ok(Ok(Outcome::ChecksFailed)) => ExitCode::from(1),
        Ok(Err(e)) => {
            if let Some(input) = e.downcast_ref::<capsim::scenario::InputErrors>() {
                eprintln!("{input}");
                ExitCode::from(2)
            } else {
                eprintln!("capsim: {e:#}");
                ExitCode::from(3)
            }
        }
        Err(_) => ExitCode::from(3),
    }
}
