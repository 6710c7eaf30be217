//! The command line of lesson 01: parse the flags, bind, print the address,
//! greet one client. The steps themselves live in `lib.rs`.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lesson_01_hello_server::{DEFAULT_GREETING, display_address, greet_one_client, listen};

/// A TCP server that greets one client with a line of text, then closes.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (127.0.0.1 accepts only this machine's clients)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// Port to listen on (0 lets the system choose a free one)
    #[arg(long, default_value_t = 7001)]
    port: u16,

    /// Text to send to the client, followed by "\n"; one line, so no "\n" inside
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_GREETING, value_parser = one_line)]
    greeting: String,

    /// Seconds to wait for a slow client to take the greeting before giving up
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        // A client that hung up early also ends here: see `greet_one_client`.
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole chain of causes, separated by ": ".
            eprintln!("error: {err:#}");
            if let Some(hint) = hint(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: run
fn run(args: &Args) -> anyhow::Result<()> {
    let listener = listen(&args.host, args.port).with_context(|| {
        format!(
            "cannot listen on {}",
            display_address(&args.host, args.port)
        )
    })?;

    // The first line a server prints is the address it really bound (with
    // --port 0 that is the only way to learn the port). Tests and scripts
    // wait for this line, so flush it before blocking in accept.
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;

    let timeout = Duration::from_secs(args.timeout);
    greet_one_client(&listener, &args.greeting, timeout, &mut stdout)?;
    Ok(())
}
// ANCHOR_END: run

/// The usual fix for an error, when we know one.
fn hint(err: &anyhow::Error) -> Option<&'static str> {
    let io_error = err.chain().find_map(|e| e.downcast_ref::<io::Error>())?;
    match io_error.kind() {
        io::ErrorKind::AddrInUse => Some(
            "another server is still running on that port; stop it, or choose another with --port",
        ),
        io::ErrorKind::AddrNotAvailable => {
            Some("--host must be an address of this machine, such as 127.0.0.1")
        }
        io::ErrorKind::PermissionDenied => {
            Some("ports below 1024 are reserved for the system; choose one above 1023 with --port")
        }
        _ => None,
    }
}

/// Accepts text without a "\n": the greeting is sent as exactly one line.
fn one_line(text: &str) -> Result<String, String> {
    if text.contains('\n') {
        Err("the greeting is sent as one line, so it cannot contain \"\\n\"".to_string())
    } else {
        Ok(text.to_string())
    }
}
