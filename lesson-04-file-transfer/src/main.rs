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
use lesson_04_file_transfer::{
    ClientOptions, DEFAULT_PORT, ServerConfig, ServerRefused, megabytes_per_second, prepare_dir,
    printable, remove_unfinished_upload, send_file, serve,
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
        /// Drop a client that sends nothing for this many seconds.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// Exit after serving this many clients (default: serve forever).
        #[arg(long)]
        max_clients: Option<u64>,
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
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
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
            max_clients,
        } => run_server(
            &host,
            port,
            ServerConfig {
                dir,
                max_size,
                overwrite,
                timeout: Duration::from_secs(timeout),
                max_clients,
            },
        ),
        Command::Client {
            file,
            name,
            host,
            port,
            timeout,
        } => run_client(
            file,
            name,
            ClientOptions {
                host,
                port,
                timeout: Duration::from_secs(timeout),
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
    // Ctrl-C, SIGTERM and SIGHUP end the process without running `Drop`, so
    // the temporary file of an upload in progress is removed here, by name.
    ctrlc::set_handler(|| {
        remove_unfinished_upload();
        std::process::exit(130);
    })
    .context("installing the Ctrl-C handler")?;
    prepare_dir(&config.dir)?;
    let listener = TcpListener::bind((host, port))
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    // Tests and scripts read this first line to learn the port: flush it now.
    println!("listening on {}", listener.local_addr()?);
    println!("saving files in {}", config.dir.display());
    io::stdout().flush()?;
    serve(listener, &config)
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
    if let Some(refused) = err.downcast_ref::<ServerRefused>() {
        return match refused.code.as_str() {
            "exists" => {
                Some("choose another name with --name, or start the server with --overwrite".into())
            }
            "too-large" => Some("the server's --max-size is lower than this file".into()),
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
            "the other side went quiet; is the server busy with another client? raise --timeout"
                .into(),
        ),
        _ => None,
    }
}
