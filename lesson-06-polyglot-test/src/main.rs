//! The command line of lesson 06.
//!
//! - `matrix` (the default): runs every client against every server and
//!   prints the table.
//! - `rust-server` and `rust-client`: the Rust ends of the matrix, lesson
//!   05's server and lesson 03's client, started as processes like the
//!   Python, Java and Go peers are.

use std::io::{self, ErrorKind};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use lesson_06_polyglot_test::peers::Peers;
use lesson_06_polyglot_test::{
    Language, Outcome, render_matrix, run_matrix, run_rust_client, run_rust_server,
    toolchains_required,
};

/// The port the Rust ends use unless told otherwise (7000 + lesson number).
const DEFAULT_PORT: u16 = 7006;

/// One wire, four languages: echo servers and clients in Rust, Python, Java
/// and Go, every client run against every server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run every client against every server and print the table (the default).
    Matrix {
        /// Only these servers, e.g. `--servers go,python`.
        #[arg(long, value_enum, value_delimiter = ',', default_values_t = Language::ALL)]
        servers: Vec<Language>,
        /// Only these clients, e.g. `--clients rust`.
        #[arg(long, value_enum, value_delimiter = ',', default_values_t = Language::ALL)]
        clients: Vec<Language>,
    },
    /// Run lesson 05's threaded echo server (the Rust server of the matrix).
    RustServer {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port to listen on; 0 lets the system choose.
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
    },
    /// Run lesson 03's echo client on the lines of stdin (the Rust client of the matrix).
    RustClient {
        /// The server's address.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The server's port.
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
        /// Seconds to wait to connect, and then for each echo.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Matrix {
        servers: Language::ALL.to_vec(),
        clients: Language::ALL.to_vec(),
    });
    match command {
        Command::Matrix { servers, clients } => matrix(&servers, &clients),
        Command::RustServer { host, port } => {
            let result = run_rust_server(&format!("{host}:{port}"));
            report(result, port)
        }
        Command::RustClient {
            host,
            port,
            timeout,
        } => {
            let result = run_rust_client(&host, port, Duration::from_secs(timeout));
            report(result, port)
        }
    }
}

/// Builds what is needed, runs the pairs, prints the table. Exits 1 if a
/// pair failed, or was skipped while `POLYGLOT_REQUIRE=1`.
fn matrix(servers: &[Language], clients: &[Language]) -> ExitCode {
    let rust_exe = match std::env::current_exe() {
        Ok(path) => path,
        Err(err) => {
            eprintln!("error: cannot find this program's own path: {err}");
            return ExitCode::FAILURE;
        }
    };
    let wanted: Vec<Language> = servers.iter().chain(clients).copied().collect();
    let peers = Peers::prepare(rust_exe, &wanted);
    let results = run_matrix(&peers, servers, clients);
    print!("{}", render_matrix(servers, clients, &results));
    let required = toolchains_required();
    let bad = results.iter().any(|result| match result.outcome {
        Outcome::Ok => false,
        Outcome::Skipped(_) => required,
        Outcome::Failed(_) => true,
    });
    if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints an error with its whole cause chain, and a hint for the usual
/// causes, and picks the exit code.
fn report(result: anyhow::Result<()>, port: u16) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    eprintln!("error: {err:#}");
    let kind = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<io::Error>())
        .map(io::Error::kind);
    match kind {
        Some(ErrorKind::AddrInUse) => eprintln!(
            "hint: another server is still running on that port; stop it, or choose another with --port"
        ),
        Some(ErrorKind::ConnectionRefused) => eprintln!(
            "hint: start the server first: cargo run -p lesson-06-polyglot-test -- rust-server --port {port}"
        ),
        _ => {}
    }
    ExitCode::FAILURE
}
