//! The command line for lesson 05: `server` runs the threaded echo server,
//! `client` is lesson 03's client (the protocol did not change, so neither
//! did the client), and `load` runs many clients at once and reports.

use std::io::{self, BufRead, BufReader, Cursor, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use lesson_05_threaded::load::{LoadOptions, MAX_REQUEST_SIZE, default_threads, run_load};
use lesson_05_threaded::{
    CLIENT_STACK_SIZE, DEFAULT_BACKLOG, DEFAULT_PORT, ServerConfig, Shutdown, bind, run_server,
};

/// A thread-per-client echo server with limits, idle time-outs and a clean
/// shutdown; lesson 03's client; and a load tool.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Echo every byte each client sends, one thread per client, until Ctrl-C.
    Server {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Serve at most N clients at once; one more is sent "ERR server busy" and closed.
        #[arg(long, value_name = "N", default_value_t = 1024,
              value_parser = clap::value_parser!(u64).range(1..))]
        max_connections: u64,
        /// Disconnect a client that sends nothing for this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 30,
              value_parser = clap::value_parser!(u64).range(1..))]
        idle_timeout: u64,
        /// Connections the kernel may queue before we accept them (listen backlog).
        #[arg(long, value_name = "N", default_value_t = DEFAULT_BACKLOG,
              value_parser = clap::value_parser!(i32).range(1..))]
        backlog: i32,
        /// On Ctrl-C or SIGTERM, give connected clients this many seconds to finish.
        #[arg(long, value_name = "SECS", default_value_t = 5)]
        grace: u64,
        /// Leave Nagle's algorithm on for client sockets (for the TCP_NODELAY demonstration).
        #[arg(long)]
        nagle: bool,
    },
    /// Send lines (standard input, or each --message) and check their echoes (lesson 03's client).
    Client {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Give up if connecting, or any echo, takes longer than this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// Send TEXT as one line instead of reading standard input (repeatable).
        #[arg(long, value_name = "TEXT")]
        message: Vec<String>,
    },
    /// Run many echo clients at once and print one line of figures.
    Load {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Concurrent connections.
        #[arg(long, value_name = "N", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..))]
        clients: u64,
        /// Round trips per connection.
        #[arg(long, value_name = "R", default_value_t = 100,
              value_parser = clap::value_parser!(u64).range(1..))]
        rounds: u64,
        /// Bytes per request, newline included (at most 65536, so a request fits in the socket buffers).
        // One load thread writes to many connections and writes a whole
        // request before it reads the echo; a larger request could block
        // that write on an echo nobody is reading yet (see MAX_REQUEST_SIZE).
        #[arg(long, value_name = "BYTES", default_value_t = 64,
              value_parser = clap::value_parser!(u64).range(1..=MAX_REQUEST_SIZE as u64))]
        size: u64,
        /// Threads that drive the connections [default: one per CPU, at most --clients].
        #[arg(long, value_name = "T",
              value_parser = clap::value_parser!(u64).range(1..))]
        threads: Option<u64>,
        /// Give up on a connect, or an echo, after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// Write each request in two pieces before reading the echo.
        #[arg(long)]
        split: bool,
        /// Leave Nagle's algorithm on for the load's sockets.
        #[arg(long)]
        nagle: bool,
    },
}

/// Where the server listens, or where the client connects.
#[derive(Args)]
struct Endpoint {
    /// The host name or IP address (127.0.0.1: this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The TCP port (0 lets the system choose a free one, for the server).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
}

impl Endpoint {
    fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let port = match &cli.command {
        Command::Server { endpoint, .. }
        | Command::Client { endpoint, .. }
        | Command::Load { endpoint, .. } => endpoint.port,
    };
    let outcome = match cli.command {
        Command::Server {
            endpoint,
            max_connections,
            idle_timeout,
            backlog,
            grace,
            nagle,
        } => {
            let config = ServerConfig {
                max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
                idle_timeout: Duration::from_secs(idle_timeout),
                grace: Duration::from_secs(grace),
                nodelay: !nagle,
                stack_size: CLIENT_STACK_SIZE,
            };
            server(&endpoint, backlog, &config)
        }
        Command::Client {
            endpoint,
            timeout,
            message,
        } => client(&endpoint, timeout, message),
        Command::Load {
            endpoint,
            clients,
            rounds,
            size,
            timeout,
            split,
            nagle,
            threads,
        } => {
            let threads = match threads {
                Some(threads) => usize::try_from(threads).unwrap_or(usize::MAX),
                None => default_threads(),
            };
            let options = LoadOptions {
                clients: usize::try_from(clients).unwrap_or(usize::MAX),
                rounds: usize::try_from(rounds).unwrap_or(usize::MAX),
                size: usize::try_from(size).unwrap_or(usize::MAX),
                timeout: Duration::from_secs(timeout),
                split,
                nodelay: !nagle,
                // run_load caps it at the number of clients.
                threads,
            };
            load(&endpoint, &options)
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if let Some(hint) = hint_for(error_kind(&err), port) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: server_main
fn server(endpoint: &Endpoint, backlog: i32, config: &ServerConfig) -> anyhow::Result<()> {
    let address = endpoint.address();
    let listener =
        bind(address.as_str(), backlog).with_context(|| format!("cannot listen on {address}"))?;

    // Install the handler before announcing the address: whoever reads
    // `listening on` may send SIGINT right away, and without a handler
    // that signal would kill the process instead of shutting it down.
    let shutdown = Shutdown::new();
    let on_signal = shutdown.clone();
    ctrlc::set_handler(move || on_signal.trigger())
        .context("cannot install the Ctrl-C / SIGTERM handler")?;

    let mut stdout = io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;

    run_server(listener, config, shutdown, io::stdout())?;
    Ok(())
}
// ANCHOR_END: server_main

// ANCHOR: client_main
/// Lesson 03's client, reused: same protocol, same program.
fn client(endpoint: &Endpoint, timeout: u64, messages: Vec<String>) -> anyhow::Result<()> {
    // The lines come from --message if given, else from standard input.
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
    lesson_03_echo_loop::run_client(
        &endpoint.host,
        endpoint.port,
        input,
        Duration::from_secs(timeout),
        &mut stdout,
    )?;
    Ok(())
}
// ANCHOR_END: client_main

fn load(endpoint: &Endpoint, options: &LoadOptions) -> anyhow::Result<()> {
    let report = run_load(&endpoint.address(), options)?;
    println!("{report}");
    if report.errors == 0 {
        return Ok(());
    }
    let total = options.clients * options.rounds;
    let summary = format!("{} of {total} round trips failed", report.errors);
    // Keep the first failure's I/O error kind in the chain, so that main
    // finds the same hint as for a single client (connection refused...).
    match report.first_error {
        Some(first) => {
            let kind = first.kind.unwrap_or(io::ErrorKind::InvalidData);
            Err(io::Error::new(kind, first.message)).context(summary)
        }
        None => Err(anyhow::anyhow!(summary)),
    }
}

/// The `io::ErrorKind` anywhere in an error's cause chain.
fn error_kind(err: &anyhow::Error) -> Option<io::ErrorKind> {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<io::Error>())
        .map(io::Error::kind)
}

/// The usual fix for the usual errors.
fn hint_for(kind: Option<io::ErrorKind>, port: u16) -> Option<String> {
    match kind? {
        io::ErrorKind::AddrInUse => Some(
            "another server is still running on that port; stop it, or choose another with --port"
                .to_string(),
        ),
        io::ErrorKind::ConnectionRefused => Some(format!(
            "start the server first: cargo run -p lesson-05-threaded -- server --port {port}"
        )),
        io::ErrorKind::AddrNotAvailable => Some(
            "that address is not on this machine; use --host 127.0.0.1, or one of its own addresses"
                .to_string(),
        ),
        _ => None,
    }
}
