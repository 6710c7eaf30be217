//! The lessons' own programs, run through their libraries.
//!
//! `check`'s tests prove every target against the program its lesson
//! built: `lesson-06-polyglot-test lesson 03-server --port 7003` runs
//! lesson 03's server exactly as its own `main` does (bind, print
//! `listening on ADDR`, serve), with the lesson's defaults. A test cannot
//! run the other lessons' binaries (Cargo builds only this package's), but
//! it can run this one, the way the matrix runs `rust-server`.

use std::io::{self, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::check::Target;

/// The time-out the lessons' programs use by default.
const LESSON_TIMEOUT: Duration = Duration::from_secs(10);

/// What a lesson's program needs besides its address.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// 04-server: the folder to save files in.
    pub dir: Option<PathBuf>,
    /// 04-client: the file to send.
    pub file: Option<PathBuf>,
    /// 05-server: clients served at once (lesson 05's default otherwise).
    pub max_connections: Option<u64>,
}

/// Binds `host:port` and prints `listening on ADDR` first, flushed, as
/// every lesson's server does.
fn listen(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind((host, port))
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    announce(&listener)?;
    Ok(listener)
}

fn announce(listener: &TcpListener) -> anyhow::Result<()> {
    let mut stdout = io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    Ok(())
}

/// Runs `target`'s program from its lesson's library.
pub fn run_lesson_program(
    target: Target,
    host: &str,
    port: u16,
    extras: &Extras,
) -> anyhow::Result<()> {
    let mut stdout = io::stdout();
    match target {
        Target::Server01 => {
            let listener = lesson_01_hello_server::listen(host, port)
                .with_context(|| format!("cannot listen on {host}:{port}"))?;
            announce(&listener)?;
            let greeting = lesson_01_hello_server::DEFAULT_GREETING;
            lesson_01_hello_server::greet_one_client(
                &listener,
                greeting,
                LESSON_TIMEOUT,
                &mut stdout,
            )?;
        }
        Target::Server02 => {
            let listener = listen(host, port)?;
            let greeting = lesson_02_client::DEFAULT_GREETING;
            lesson_02_client::run_server(&listener, greeting, LESSON_TIMEOUT, &mut stdout)?;
        }
        Target::Client02 => {
            let message = lesson_02_client::DEFAULT_MESSAGE;
            lesson_02_client::run_client(host, port, message, LESSON_TIMEOUT, &mut stdout)?;
        }
        Target::Server03 => {
            let listener = listen(host, port)?;
            let options = lesson_03_echo_loop::ServerOptions::default();
            lesson_03_echo_loop::run_server(listener, &options, io::stdout())?;
        }
        Target::Client03 => {
            crate::run_rust_client(host, port, LESSON_TIMEOUT)?;
        }
        Target::Server04 => {
            let Some(dir) = extras.dir.clone() else {
                bail!("04-server needs --dir");
            };
            lesson_04_file_transfer::prepare_dir(&dir)?;
            let listener = listen(host, port)?;
            let config = lesson_04_file_transfer::ServerConfig {
                dir,
                max_size: 4 * 1024 * 1024 * 1024,
                overwrite: false,
                timeout: LESSON_TIMEOUT,
                min_rate: 256 * 1024,
                max_clients: None,
                copy: lesson_04_file_transfer::CopyMode::platform_default(),
            };
            lesson_04_file_transfer::serve(listener, &config, io::stdout())?;
        }
        Target::Client04 => {
            let Some(file) = &extras.file else {
                bail!("04-client needs FILE");
            };
            let options = lesson_04_file_transfer::ClientOptions {
                host: host.to_string(),
                port,
                timeout: LESSON_TIMEOUT,
                copy: lesson_04_file_transfer::CopyMode::platform_default(),
                progress: false,
            };
            let sent = lesson_04_file_transfer::send_file(file, None, &options)?;
            writeln!(stdout, "sent {}: {} bytes", sent.name, sent.size)?;
        }
        Target::Server05 => {
            let listener =
                lesson_05_threaded::bind((host, port), lesson_05_threaded::DEFAULT_BACKLOG)
                    .with_context(|| format!("cannot listen on {host}:{port}"))?;
            announce(&listener)?;
            let mut config = lesson_05_threaded::ServerConfig::default();
            if let Some(max) = extras.max_connections {
                config.max_connections = usize::try_from(max).unwrap_or(usize::MAX);
            }
            let shutdown = lesson_05_threaded::Shutdown::new();
            lesson_05_threaded::run_server(listener, &config, shutdown, io::stdout())?;
        }
    }
    Ok(())
}
