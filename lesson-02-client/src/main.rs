//! The command line of lesson 02: `server` or `client`. Parsing, binding
//! and printing live here; the conversation itself lives in `lib.rs`.

use std::io::{self, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lesson_02_client::{
    DEFAULT_GREETING, DEFAULT_MESSAGE, DEFAULT_PORT, LineError, display_address, run_client,
    run_server, server_command, unbracketed,
};

/// A greeting and a reply over TCP: the server greets, the client answers.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Accept one client, send it the greeting, print its reply line, exit
    Server {
        /// Address to listen on (127.0.0.1 accepts only this machine's clients)
        #[arg(long, default_value = "127.0.0.1")]
        host: String,

        /// Port to listen on (0 lets the system choose a free one)
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,

        /// Seconds to wait for the client to take the greeting and to send its reply
        #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,

        /// Line to greet the client with ("\n" is added; none allowed inside)
        #[arg(long, value_name = "TEXT", default_value = DEFAULT_GREETING, value_parser = one_line)]
        greeting: String,
    },
    /// Connect, print the server's greeting line, answer with a line, exit
    Client {
        /// Address of the server
        #[arg(long, default_value = "127.0.0.1")]
        host: String,

        /// Port of the server
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,

        /// Seconds to wait for the connection, the greeting, the send, and the server's close
        #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,

        /// Line to answer with ("\n" is added; none allowed inside)
        #[arg(long, value_name = "TEXT", default_value = DEFAULT_MESSAGE, value_parser = one_line)]
        message: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole chain of causes, separated by ": ".
            eprintln!("error: {err:#}");
            if let Some(hint) = hint(&err, &cli.command) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: run
fn run(command: &Command) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match command {
        Command::Server {
            host,
            port,
            timeout,
            greeting,
        } => {
            // The (host, port) pair, so `::1` works; `[::1]` loses its brackets.
            let listener = TcpListener::bind((unbracketed(host), *port))
                .with_context(|| format!("cannot listen on {}", display_address(host, *port)))?;
            // First line: the address really bound, flushed before we block
            // in accept, so a client (or a test) can learn the port.
            writeln!(stdout, "listening on {}", listener.local_addr()?)?;
            stdout.flush()?;
            let timeout = Duration::from_secs(*timeout);
            run_server(&listener, greeting, timeout, &mut stdout)?;
        }
        Command::Client {
            host,
            port,
            timeout,
            message,
        } => {
            let timeout = Duration::from_secs(*timeout);
            run_client(host, *port, message, timeout, &mut stdout)?;
        }
    }
    Ok(())
}
// ANCHOR_END: run

/// The usual fix for an error, when we know one.
fn hint(err: &anyhow::Error, command: &Command) -> Option<String> {
    if let Some(line_error) = err.chain().find_map(|e| e.downcast_ref::<LineError>()) {
        let peer = match command {
            Command::Server { .. } => "the client",
            Command::Client { .. } => "the server",
        };
        return line_error.hint(peer);
    }
    let io_error = err.chain().find_map(|e| e.downcast_ref::<io::Error>())?;
    let hint = match (io_error.kind(), command) {
        (io::ErrorKind::AddrInUse, _) => {
            "another server is still running on that port; stop it, or choose another with --port"
                .to_string()
        }
        (io::ErrorKind::ConnectionRefused, Command::Client { host, port, .. }) => {
            format!("start the server first: {}", server_command(host, *port))
        }
        (io::ErrorKind::TimedOut, Command::Client { .. }) => {
            "nothing answered at that address in time; check --host and --port".to_string()
        }
        (io::ErrorKind::AddrNotAvailable, Command::Server { .. }) => {
            "--host must be an address of this machine, such as 127.0.0.1".to_string()
        }
        (io::ErrorKind::PermissionDenied, Command::Server { .. }) => {
            "ports below 1024 are reserved for the system; choose one above 1023 with --port"
                .to_string()
        }
        _ => return None,
    };
    Some(hint)
}

/// Accepts text without a "\n": it is sent as exactly one line.
fn one_line(text: &str) -> Result<String, String> {
    if text.contains('\n') {
        Err("it is sent as one line, so it cannot contain \"\\n\"".to_string())
    } else {
        Ok(text.to_string())
    }
}
