//! The command line for lesson 03: `server` runs the echo server, `client`
//! sends lines to it and checks the echoes. All the networking lives in the
//! library (`src/server.rs`, `src/client.rs`); this file parses flags, binds,
//! prints, and turns errors into an exit status and a `hint:` line.

use std::io::{self, BufRead, BufReader, Cursor, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lesson_03_echo_loop::{
    DEFAULT_CLIENT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_PORT, EchoError, EchoErrorKind,
    ServerOptions, display_address, run_client, run_server, unbracketed,
};

/// An echo server that serves clients one after another, and a client that
/// checks every echo.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Echo every byte each client sends, one client at a time.
    Server {
        /// The address to listen on (127.0.0.1: reachable from this machine only).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port to listen on (0: let the system choose a free one).
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
        /// Hang up on a client that sends nothing for this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// Exit after serving this many clients (default: serve until stopped).
        #[arg(long, value_name = "N")]
        max_clients: Option<u64>,
    },
    /// Send lines (standard input, or each --message) and check their echoes.
    Client {
        /// The server's host name or IP address.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The server's port.
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
        /// Give up if connecting, or any echo, takes longer than this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = DEFAULT_CLIENT_TIMEOUT.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// Send TEXT as one line instead of reading standard input (repeatable).
        #[arg(long, value_name = "TEXT")]
        message: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (host, port) = match &cli.command {
        Command::Server { host, port, .. } | Command::Client { host, port, .. } => {
            (host.clone(), *port)
        }
    };
    let result = match cli.command {
        Command::Server {
            host,
            port,
            timeout,
            max_clients,
        } => server(&host, port, timeout, max_clients),
        Command::Client {
            host,
            port,
            timeout,
            message,
        } => client(&host, port, timeout, message),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if let Some(hint) = hint_for(&err, &host, port) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn server(host: &str, port: u16, timeout: u64, max_clients: Option<u64>) -> anyhow::Result<()> {
    // Python: socket() + bind() + listen(), all in one call. The (host, port)
    // pair, not a "host:port" string, so `::1` works; `[::1]` loses its brackets.
    let listener = TcpListener::bind((unbracketed(host), port))
        .with_context(|| format!("cannot listen on {}", display_address(host, port)))?;
    let mut stdout = io::stdout().lock();
    // The first line, flushed, before accepting: tests and scripts wait for it.
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    let options = ServerOptions {
        max_clients,
        idle_timeout: Duration::from_secs(timeout),
    };
    drop(stdout);
    run_server(listener, &options, io::stdout())
}

fn client(host: &str, port: u16, timeout: u64, messages: Vec<String>) -> anyhow::Result<()> {
    // The lines come from --message if given, else from standard input. The
    // writer thread owns the input, so it must be `Send`: a BufReader around
    // `Stdin` is (a `StdinLock` is not).
    let input: Box<dyn BufRead + Send> = if messages.is_empty() {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let mut lines = Vec::new();
        for message in messages {
            lines.extend_from_slice(message.as_bytes());
            lines.push(b'\n');
        }
        Box::new(Cursor::new(lines))
    };
    let mut stdout = io::stdout().lock();
    run_client(host, port, input, Duration::from_secs(timeout), &mut stdout)?;
    Ok(())
}

// ANCHOR: hint_for
/// The usual fix for the usual errors: for an echo that went wrong, what it
/// means with this lesson's server; otherwise found by the `io::ErrorKind`
/// anywhere in the cause chain.
fn hint_for(err: &anyhow::Error, host: &str, port: u16) -> Option<String> {
    if let Some(echo_error) = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<EchoError>())
    {
        let hint = match echo_error.kind {
            EchoErrorKind::TimedOut(_) => {
                "the server serves one client at a time: is it busy with another?"
            }
            EchoErrorKind::Closed => {
                "the server closed before echoing everything we sent; its log says how many \
                 bytes it echoed, and why it stopped"
            }
            EchoErrorKind::DidNotClose(_) => {
                "an echo server closes when it reads end of stream: was our write half shut down?"
            }
            EchoErrorKind::Differs | EchoErrorKind::Failed(_) | EchoErrorKind::SentMore => {
                return None;
            }
        };
        return Some(hint.to_string());
    }
    let kind = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<io::Error>())
        .map(io::Error::kind)?;
    match kind {
        io::ErrorKind::AddrInUse => Some(
            "another server is still running on that port; stop it, or choose another with --port"
                .to_string(),
        ),
        io::ErrorKind::ConnectionRefused => {
            // The command that starts a server this client would reach.
            let mut command = String::from("cargo run -p lesson-03-echo-loop -- server");
            if host != "127.0.0.1" {
                command.push_str(&format!(" --host {host}"));
            }
            Some(format!("start the server first: {command} --port {port}"))
        }
        _ => None,
    }
}
// ANCHOR_END: hint_for
