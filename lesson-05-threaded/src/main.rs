//! The command line for lesson 05: `server` runs the threaded echo server,
//! `client` is lesson 03's client (the protocol did not change, so neither
//! did the client), and `load` runs many clients at once and reports.

use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use lesson_03_echo_loop::{EchoError, EchoErrorKind};
use lesson_05_threaded::descriptors::{
    RESERVED_DESCRIPTORS, clients_that_fit, raise_open_file_limit,
};
use lesson_05_threaded::load::{LoadOptions, MAX_REQUEST_SIZE, default_threads, run_load};
use lesson_05_threaded::{
    BUSY_REPLY, CLIENT_STACK_SIZE, DEFAULT_BACKLOG, DEFAULT_PORT, ServerConfig, Shutdown, bind,
    run_server,
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
        /// Concurrent connections (at most 10000).
        #[arg(long, value_name = "N", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..))]
        clients: u64,
        /// Round trips per connection (at most 10 million over all clients).
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
    },
}

/// Where the server listens, or where the client connects.
#[derive(Args)]
struct Endpoint {
    /// The host name or IP address (127.0.0.1: this machine only; IPv6 as ::1 or [::1]).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The TCP port (0 lets the system choose a free one, for the server).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
}

impl Endpoint {
    /// The host without the brackets of `[::1]`: std resolves `("::1", port)`,
    /// not `("[::1]", port)`.
    fn host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// The first address the host and port resolve to.
    fn resolve(&self) -> anyhow::Result<SocketAddr> {
        (self.host(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {self}"))?
            .next()
            .with_context(|| format!("{self} resolves to no address"))
    }
}

/// `127.0.0.1:7005`, `[::1]:7005`, `localhost:7005`: for messages.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host().contains(':') {
            write!(f, "[{}]:{}", self.host(), self.port)
        } else {
            write!(f, "{}:{}", self.host(), self.port)
        }
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
            server(&endpoint, backlog, config)
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
            threads,
        } => {
            let options = LoadOptions {
                clients: usize::try_from(clients).unwrap_or(usize::MAX),
                rounds,
                size: usize::try_from(size).unwrap_or(usize::MAX),
                timeout: Duration::from_secs(timeout),
                split,
                // run_load caps it at the number of clients.
                threads: match threads {
                    Some(threads) => usize::try_from(threads).unwrap_or(usize::MAX),
                    None => default_threads(),
                },
            };
            // Values out of bounds are a usage error (exit 2), like clap's own.
            if let Err(problem) = options.check() {
                usage_error("load", problem);
            }
            load(&endpoint, &options)
        }
    };
    match outcome {
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

/// Exits with status 2 and `problem`, the way clap reports bad usage of
/// `subcommand`.
fn usage_error(subcommand: &str, problem: String) -> ! {
    let mut command = Cli::command();
    // Building fills in the full usage line of each subcommand.
    command.build();
    let kind = clap::error::ErrorKind::ValueValidation;
    match command.find_subcommand_mut(subcommand) {
        Some(subcommand) => subcommand.error(kind, problem).exit(),
        None => command.error(kind, problem).exit(),
    }
}

// ANCHOR: server_main
fn server(endpoint: &Endpoint, backlog: i32, mut config: ServerConfig) -> anyhow::Result<()> {
    let listener = bind((endpoint.host(), endpoint.port), backlog)
        .with_context(|| format!("cannot listen on {endpoint}"))?;

    // Every client is a file descriptor: make room for as many as we may,
    // and if --max-connections still does not fit, serve fewer and say so.
    let open_files = raise_open_file_limit();
    let fit = clients_that_fit(open_files);
    if fit == 0 {
        anyhow::bail!(
            "the open-file limit ({}, see ulimit -n) leaves no room for clients: the server \
             keeps {RESERVED_DESCRIPTORS} descriptors for itself; raise it with ulimit -n \
             before starting the server",
            open_files.unwrap_or(0)
        );
    }
    if config.max_connections > fit {
        eprintln!(
            "warning: serving at most {fit} clients at once, not {}: each client is an open \
             file, and this process may have only {} open (ulimit -n), {RESERVED_DESCRIPTORS} \
             of them for the server itself",
            config.max_connections,
            open_files.unwrap_or(0)
        );
        config.max_connections = fit;
    }

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

    run_server(listener, &config, shutdown, io::stdout())?;
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
    let sent = lesson_03_echo_loop::run_client(
        endpoint.host(),
        endpoint.port,
        input,
        Duration::from_secs(timeout),
        &mut stdout,
    );
    match sent {
        Ok(_) => Ok(()),
        // Say what the "wrong echo" really was.
        Err(err) if is_busy_reply(&err) => Err(err.context(ServerBusy)),
        Err(err) => Err(err),
    }
}
// ANCHOR_END: client_main

// ANCHOR: busy_reply
/// Lesson 03's client knows echoes, not this server's busy reply: to it,
/// `ERR server busy\n` is an echo that differs from the line sent (or one
/// that stopped early). Its [`EchoError`] keeps everything the server sent
/// for that line, up to the server's `\n` or its close, so the first line's
/// answer can be compared with [`BUSY_REPLY`] whole. An echo server sends
/// back only what it was sent, so that answer to another line means busy.
fn is_busy_reply(err: &anyhow::Error) -> bool {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<EchoError>())
        .is_some_and(|echo| {
            echo.line == 1
                && echo.offset == 0
                && echo.received == BUSY_REPLY
                && echo.sent != BUSY_REPLY
        })
}

/// What the client says when the server turned it away.
#[derive(Debug)]
struct ServerBusy;

impl fmt::Display for ServerBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server is busy: it answered \"ERR server busy\" and closed the connection"
        )
    }
}
// ANCHOR_END: busy_reply

fn load(endpoint: &Endpoint, options: &LoadOptions) -> anyhow::Result<()> {
    // A thousand clients are a thousand open files here too.
    raise_open_file_limit();
    let report = run_load(endpoint.resolve()?, options)?;
    println!("{report}");
    if report.errors == 0 {
        return Ok(());
    }
    let total = options.clients as u64 * options.rounds;
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
fn hint_for(err: &anyhow::Error, port: u16) -> Option<String> {
    if err.downcast_ref::<ServerBusy>().is_some() {
        return Some(
            "it serves at most --max-connections clients at once (its second line says how \
             many); try again when a client has left, or start it with a higher \
             --max-connections"
                .to_string(),
        );
    }
    // Lesson 03's client reports echo trouble as an `EchoError`; the hints
    // are this lesson's, for a server with a thread per client.
    if let Some(echo) = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<EchoError>())
    {
        let hint = match echo.kind {
            EchoErrorKind::TimedOut(_) => {
                "the server has a thread for every client, so it is not busy with another: \
                 is it stopped (Ctrl-Z), or still working through a burst of connections?"
            }
            EchoErrorKind::Closed => {
                "the server closed before echoing everything we sent; its log says why \
                 (an idle time-out, or a shutdown)"
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
    match error_kind(err)? {
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
