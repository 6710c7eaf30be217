//! The command line of lesson 04: `server` saves the files clients send,
//! `client FILE` sends one. The work is done in the library; this file parses
//! the flags, binds, prints, and turns errors into messages and exit codes.

use std::io::{self, IsTerminal, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lesson_04_file_transfer::client::{address, without_brackets};
use lesson_04_file_transfer::{
    ClientOptions, CopyMode, DEFAULT_PORT, ErrorCode, Refusal, ServerConfig, megabytes_per_second,
    prepare_dir, printable, send_file, serve,
};

/// Lesson 04: a file transfer that names the file, detects a cut-off upload
/// and confirms the save.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive files into --dir, one client after another.
    Server {
        /// The address to listen on (127.0.0.1: only this machine can connect).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port to listen on (0: let the system choose a free one).
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
        /// The folder to save files in (created if missing).
        #[arg(long, default_value = "received")]
        dir: PathBuf,
        /// The largest file accepted, in bytes.
        #[arg(long, default_value_t = 4 * 1024 * 1024 * 1024)]
        max_size: u64,
        /// Replace a file that already exists instead of refusing it.
        #[arg(long)]
        overwrite: bool,
        /// Drop a client that is silent this long; the header must arrive within it too.
        #[arg(long, value_name = "SECS", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// The slowest body accepted: it must arrive within --timeout + size / this many bytes/s.
        #[arg(long, value_name = "BYTES_PER_SEC", default_value_t = 256 * 1024,
              value_parser = clap::value_parser!(u64).range(1..))]
        min_rate: u64,
        /// Exit after serving this many clients (default: serve forever).
        #[arg(long, value_name = "N")]
        max_clients: Option<u64>,
        /// How the body goes from the socket to the file (zero-copy: splice, Linux only).
        #[arg(long, value_enum, default_value_t = CopyMode::platform_default())]
        copy: CopyMode,
    },
    /// Send FILE to the server.
    Client {
        /// The file to send.
        file: PathBuf,
        /// The name to save it under (default: the file's base name).
        #[arg(long)]
        name: Option<String>,
        /// The server's host name or address.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The server's port.
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
        /// Give up when connecting, or when the server is silent, for this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// How the body goes from the file to the socket (zero-copy: sendfile, Linux only).
        #[arg(long, value_enum, default_value_t = CopyMode::platform_default())]
        copy: CopyMode,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let port = match &cli.command {
        Command::Server { port, .. } | Command::Client { port, .. } => *port,
    };
    let result = match cli.command {
        Command::Server {
            host,
            port,
            dir,
            max_size,
            overwrite,
            timeout,
            min_rate,
            max_clients,
            copy,
        } => run_server(
            &host,
            port,
            ServerConfig {
                dir,
                max_size,
                overwrite,
                timeout: Duration::from_secs(timeout),
                min_rate,
                max_clients,
                copy,
            },
        ),
        Command::Client {
            file,
            name,
            host,
            port,
            timeout,
            copy,
        } => run_client(
            file,
            name,
            ClientOptions {
                host,
                port,
                timeout: Duration::from_secs(timeout),
                copy,
                progress: io::stderr().is_terminal(),
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if let Some(hint) = hint_for(&err, port) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run_server(host: &str, port: u16, config: ServerConfig) -> anyhow::Result<()> {
    exit_on_signal()?;
    // Bind first: a server that cannot listen must not leave a new --dir
    // behind either.
    let listener = TcpListener::bind((without_brackets(host), port))
        .with_context(|| format!("cannot listen on {}", address(host, port)))?;
    prepare_dir(&config.dir)?;
    // Tests and scripts read this first line to learn the port: flush it now.
    // Every later line goes through the log writer (see `serve`).
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    drop(stdout);
    serve(listener, &config, io::stdout())
}

// ANCHOR: exit_on_signal
/// Ctrl-C (SIGINT), `kill` (SIGTERM) and a closed terminal (SIGHUP) end the
/// server without running `Drop`, so a thread waits for them, removes the
/// temporary file of an upload in progress by name, and exits with 128 + the
/// signal's number (130, 143, 129), as a shell reports a process a signal
/// ended. The handler itself is `signal-hook`'s: it only wakes this thread.
#[cfg(unix)]
fn exit_on_signal() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the signal handler")?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            lesson_04_file_transfer::remove_unfinished_upload();
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}
// ANCHOR_END: exit_on_signal

/// Other systems: Ctrl-C ends the process as usual; a temporary file it
/// leaves is removed when the server starts next.
#[cfg(not(unix))]
fn exit_on_signal() -> anyhow::Result<()> {
    Ok(())
}

fn run_client(file: PathBuf, name: Option<String>, options: ClientOptions) -> anyhow::Result<()> {
    let sent = send_file(&file, name.as_deref(), &options)?;
    println!(
        "sent {}: {} bytes in {:.3} s ({:.1} MB/s)",
        printable(&sent.name),
        sent.size,
        sent.elapsed.as_secs_f64(),
        megabytes_per_second(sent.size, sent.elapsed)
    );
    Ok(())
}

/// The usual fix for the errors a student meets most, if we know it.
fn hint_for(err: &anyhow::Error, port: u16) -> Option<String> {
    if let Some(refusal) = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<Refusal>())
    {
        return match refusal.code {
            ErrorCode::Exists => {
                Some("choose another name with --name, or start the server with --overwrite".into())
            }
            ErrorCode::TooLarge => Some("the server's --max-size is lower than this file".into()),
            _ => None,
        };
    }
    let io_error = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<io::Error>())?;
    match io_error.kind() {
        io::ErrorKind::AddrInUse => Some(
            "another server is still running on that port; stop it, or choose another with --port"
                .into(),
        ),
        io::ErrorKind::ConnectionRefused => Some(format!(
            "start the server first: cargo run -p lesson-04-file-transfer -- server --port {port}"
        )),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            Some("the server closed the connection before the end; its log says why".into())
        }
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Some(
            "if the server is busy with another upload, or slow to save a large file, \
             try again later or wait longer with --timeout"
                .into(),
        ),
        _ => None,
    }
}
