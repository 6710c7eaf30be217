//! The command line of lesson 06.
//!
//! - `matrix` (the default): runs every client against every server and
//!   prints the table.
//! - `check`: tests a program of your own, in any language, against a
//!   lesson's wire contract, stage by stage.
//! - `rust-server` and `rust-client`: the Rust ends of the matrix, lesson
//!   05's server and lesson 03's client, started as processes like the
//!   Python, Java and Go peers are.
//! - `lesson` (hidden): the lessons' own programs, for `check`'s tests.

use std::io::{self, ErrorKind, IsTerminal};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use lesson_06_polyglot_test::check::{self, Options, Target};
use lesson_06_polyglot_test::lessons::{Extras, run_lesson_program};
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
    /// Check your own program, in any language, against a lesson's wire contract.
    ///
    /// Example: cargo run -p lesson-06-polyglot-test -- check 03-server -- python3 my_echo_server.py {port}
    #[command(
        override_usage = "lesson-06-polyglot-test check [OPTIONS] TARGET -- COMMAND...\n       \
                                lesson-06-polyglot-test check --list [TARGET]"
    )]
    Check {
        /// The program to check; `--list` shows them all.
        #[arg(value_enum, required_unless_present = "list")]
        target: Option<Target>,
        /// List the targets; with a TARGET, what each of its stages does.
        #[arg(long)]
        list: bool,
        /// With --list: the book's appendix, as Markdown.
        #[arg(long, hide = true, requires = "list")]
        markdown: bool,
        /// A server that always listens on this address: wait for it there
        /// instead of giving it {port}. (For a client: listen there.)
        #[arg(long, value_name = "HOST:PORT", value_parser = parse_addr)]
        addr: Option<SocketAddr>,
        /// Seconds to wait for each answer from your program.
        #[arg(long, value_name = "SECS", default_value_t = check::DEFAULT_TIMEOUT_SECS,
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// Seconds your program may take to start listening (or to connect).
        #[arg(long, value_name = "SECS", default_value_t = check::DEFAULT_START_TIMEOUT_SECS,
              value_parser = clap::value_parser!(u64).range(1..))]
        start_timeout: u64,
        /// 05-server: the connection limit written in your server's code
        /// (otherwise put {max} in the command and check chooses it).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=500))]
        max_connections: Option<u64>,
        /// The command that runs your program, after `--`. Check fills in
        /// {port}, and {dir} (04-server), {file} (04-client), {max} (05-server).
        #[arg(last = true, value_name = "COMMAND", required_unless_present = "list")]
        command: Vec<String>,
    },
    /// Run one of the lessons' own programs, through its library (for check's tests).
    #[command(hide = true)]
    Lesson {
        /// The program: the same names as check's targets.
        #[arg(value_enum)]
        program: Target,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long)]
        port: u16,
        /// 04-server: the folder to save files in.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// 05-server: how many clients it serves at once.
        #[arg(long)]
        max_connections: Option<u64>,
        /// 04-client: the file to send.
        file: Option<PathBuf>,
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
        Command::Check {
            target,
            list,
            markdown,
            addr,
            timeout,
            start_timeout,
            max_connections,
            command,
        } => {
            if list {
                if markdown {
                    print!("{}", check::report::markdown());
                } else {
                    print!("{}", check::report::list(target));
                }
                return ExitCode::SUCCESS;
            }
            let Some(target) = target else {
                // clap requires a target without --list; this is a guard.
                return usage_error("give a TARGET (check --list shows them)");
            };
            let options = Options {
                target,
                command,
                addr,
                timeout: Duration::from_secs(timeout),
                start_timeout: Duration::from_secs(start_timeout),
                max_connections,
            };
            check_program(&options)
        }
        Command::Lesson {
            program,
            host,
            port,
            dir,
            max_connections,
            file,
        } => {
            let extras = Extras {
                dir,
                file,
                max_connections,
            };
            report(run_lesson_program(program, &host, port, &extras), port)
        }
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

// ANCHOR: check_program
/// Runs `check` and picks the exit status: 0 when every stage passed, 1
/// when one failed, 2 for a command line that cannot work (clap's status
/// for bad usage).
fn check_program(options: &Options) -> ExitCode {
    if let Some(problem) = options.usage_error() {
        return usage_error(&problem);
    }
    // The program runs in a process group of its own, so the terminal's
    // Ctrl-C reaches only us: stop it before we go, or it keeps its port.
    let stop_on_ctrl_c = ctrlc::set_handler(|| {
        check::program::stop_all_now();
        std::process::exit(130);
    });
    if let Err(err) = stop_on_ctrl_c {
        eprintln!(
            "warning: cannot catch Ctrl-C ({err}); if you press it, stop your program by hand"
        );
    }
    let progress = io::stdout().is_terminal();
    match check::run(options, &mut io::stdout(), progress) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: cannot write the report: {err}");
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: check_program

/// Prints a usage error the way clap does (with the usage line) and exits 2.
fn usage_error(problem: &str) -> ExitCode {
    let mut command = Cli::command();
    let check = command
        .find_subcommand_mut("check")
        .map(|check| check.clone());
    let error = match check {
        Some(mut check) => check.error(clap::error::ErrorKind::ValueValidation, problem),
        None => command.error(clap::error::ErrorKind::ValueValidation, problem),
    };
    let _ = error.print();
    ExitCode::from(2)
}

/// `127.0.0.1:7000`, `localhost:7000` or `[::1]:7000`: the first IPv4
/// address the name has, else its first address.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let addresses: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|err| format!("expected HOST:PORT, such as 127.0.0.1:12345 ({err})"))?
        .collect();
    addresses
        .iter()
        .find(|addr| addr.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| format!("{text} has no address"))
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
