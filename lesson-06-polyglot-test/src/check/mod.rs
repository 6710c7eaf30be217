//! `check`: test your own program, in any language, against a lesson's
//! wire contract, stage by stage.
//!
//! ```text
//! cargo run -p lesson-06-polyglot-test -- check 03-server -- python3 my_echo_server.py {port}
//! ```
//!
//! `check` starts the program after `--` (with `{port}` replaced by a free
//! port), plays the other end of the lesson's protocol with a plain socket,
//! and reports one line per stage: `pass`, `FAIL`, or `not run` because an
//! earlier stage failed. A failure shows what was sent, what came back,
//! what was expected, a hint for the classic mistake, and what the program
//! printed. This is how codecrafters' testers work; here it runs offline,
//! against the lessons' own protocols.
//!
//! Read it in this order:
//!
//! - this file: the targets ([`Target`]), the options, and [`run`], which
//!   runs the stages in order and stops at the first failure;
//! - [`stage`]: what a stage is, and [`stage::Ctx`], through which a stage
//!   starts the program and connects to it (or lets it connect);
//! - [`wire`]: our end of a connection, where every read has a deadline
//!   and says how it ended;
//! - the stages of each lesson: [`greeting`] (01 and 02), [`echo`] (03 and
//!   05), [`upload`] (04), and the [`hints`] they give;
//! - [`program`]: starting, watching and stopping the program under test;
//! - [`report`]: the lines a student reads.
//!
//! Each stage starts the program afresh and stops it at the end, so the
//! stages do not depend on each other, and a program that serves one
//! client and exits is checked like any other.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

pub mod echo;
pub mod greeting;
pub mod hints;
pub mod program;
pub mod report;
pub mod stage;
pub mod upload;
pub mod wire;

use stage::{Ctx, Stage};

/// The programs the lessons build, one target each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    #[value(name = "01-server")]
    Server01,
    #[value(name = "02-server")]
    Server02,
    #[value(name = "02-client")]
    Client02,
    #[value(name = "03-server")]
    Server03,
    #[value(name = "03-client")]
    Client03,
    #[value(name = "04-server")]
    Server04,
    #[value(name = "04-client")]
    Client04,
    #[value(name = "05-server")]
    Server05,
}

impl Target {
    /// Every target, in lesson order.
    pub const ALL: [Target; 8] = [
        Target::Server01,
        Target::Server02,
        Target::Client02,
        Target::Server03,
        Target::Client03,
        Target::Server04,
        Target::Client04,
        Target::Server05,
    ];

    /// `03-server`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Server01 => "01-server",
            Target::Server02 => "02-server",
            Target::Client02 => "02-client",
            Target::Server03 => "03-server",
            Target::Client03 => "03-client",
            Target::Server04 => "04-server",
            Target::Client04 => "04-client",
            Target::Server05 => "05-server",
        }
    }

    /// The program, in words: "lesson 03's echo server".
    pub fn program(self) -> &'static str {
        match self {
            Target::Server01 => "lesson 01's greeting server",
            Target::Server02 => "lesson 02's server, which greets and reads a reply",
            Target::Client02 => "lesson 02's client, which reads the greeting and replies",
            Target::Server03 => "lesson 03's echo server",
            Target::Client03 => "lesson 03's echo client, which sends the lines of its stdin",
            Target::Server04 => "lesson 04's file transfer server",
            Target::Client04 => "lesson 04's file transfer client",
            Target::Server05 => "lesson 05's threaded echo server, with a connection limit",
        }
    }

    /// The stages, in order: from the first thing a beginner gets right to
    /// the last.
    pub fn stages(self) -> &'static [Stage] {
        match self {
            Target::Server01 => greeting::SERVER_01,
            Target::Server02 => greeting::SERVER_02,
            Target::Client02 => greeting::CLIENT_02,
            Target::Server03 => echo::SERVER_03,
            Target::Client03 => echo::CLIENT_03,
            Target::Server04 => upload::SERVER_04,
            Target::Client04 => upload::CLIENT_04,
            Target::Server05 => echo::SERVER_05,
        }
    }

    /// A client target: `check` listens, and the program connects.
    pub fn is_client(self) -> bool {
        matches!(self, Target::Client02 | Target::Client03 | Target::Client04)
    }

    /// What a client is given on its stdin.
    pub fn client_input(self) -> Vec<u8> {
        match self {
            Target::Client03 => echo::client_input(),
            _ => Vec::new(),
        }
    }

    /// The placeholders the command must hold, besides `{port}`.
    pub fn required_placeholders(self) -> &'static [&'static str] {
        match self {
            Target::Server04 => &["{dir}"],
            Target::Client04 => &["{file}"],
            _ => &[],
        }
    }

    /// How the command is written, for `--list`.
    pub fn example(self) -> &'static str {
        match self {
            Target::Server01 => "python3 greeting_server.py {port}",
            Target::Server02 => "python3 server.py {port}",
            Target::Client02 => "python3 client.py {port}",
            Target::Server03 => "python3 echo_server.py {port}",
            Target::Client03 => "python3 echo_client.py {port}",
            Target::Server04 => "python3 upload_server.py {port} {dir}",
            Target::Client04 => "python3 upload_client.py {port} {file}",
            Target::Server05 => "python3 threaded_server.py {port} {max}",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything `check` was told.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    /// The command, with its placeholders (`{port}`, `{dir}`, `{file}`, `{max}`).
    pub command: Vec<String>,
    /// A fixed address: the server listens there (and is waited for there),
    /// or `check` listens there for a client that always connects to it.
    pub addr: Option<SocketAddr>,
    /// The longest any one wait on the program may take.
    pub timeout: Duration,
    /// The longest the program may take to start listening or to connect.
    pub start_timeout: Duration,
    /// The server's fixed connection limit, if it has one (05-server).
    pub max_connections: Option<u64>,
}

/// The default of `--timeout`, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 5;

/// The default of `--start-timeout`, in seconds: enough for `go run` or a
/// JVM to start on a busy machine.
pub const DEFAULT_START_TIMEOUT_SECS: u64 = 30;

impl Options {
    /// What is wrong with the command line for this target, if anything:
    /// a usage error (exit status 2), found before anything starts.
    pub fn usage_error(&self) -> Option<String> {
        let has = |placeholder: &str| self.command.iter().any(|arg| arg.contains(placeholder));
        let Some(program) = self.command.first() else {
            return Some("give the command that runs your program after `--`".to_string());
        };
        if program.is_empty() {
            return Some("the command after `--` starts with an empty word".to_string());
        }
        if !has("{port}") && self.addr.is_none() {
            let role = if self.target.is_client() {
                "where your client takes the port to connect to"
            } else {
                "where your server takes its port"
            };
            return Some(format!(
                "the command has no {{port}}: write {{port}} {role} (check replaces it with a \
                 free port), or give --addr HOST:PORT if it always uses the same one"
            ));
        }
        for placeholder in self.target.required_placeholders() {
            if !has(placeholder) {
                let what = match *placeholder {
                    "{dir}" => "the folder your server saves files in",
                    _ => "the file your client sends",
                };
                return Some(format!(
                    "{} needs {placeholder} in the command, where your program takes {what} \
                     (check gives it a scratch one and looks inside)",
                    self.target
                ));
            }
        }
        if self.max_connections.is_some() && self.target != Target::Server05 {
            return Some(format!(
                "--max-connections is for 05-server, not {}",
                self.target
            ));
        }
        None
    }
}

// ANCHOR: run
/// Runs the stages of `options.target` in order, writing one line per
/// stage to `out`, and stops at the first failure: the later stages are
/// listed as not run, and the failure is explained below the list.
/// Returns whether every stage passed.
///
/// `progress` draws a line while a stage runs (only on a terminal).
pub fn run(options: &Options, out: &mut impl Write, progress: bool) -> io::Result<bool> {
    let stages = options.target.stages();
    write!(out, "{}", report::header(options))?;
    out.flush()?;
    for (index, stage) in stages.iter().enumerate() {
        let number = index + 1;
        let shown = progress.then(|| report::Progress::start(number, stage.name));
        let mut ctx = Ctx::new(options);
        let result = (stage.run)(&mut ctx);
        // The program is stopped, pass or fail, before the next stage.
        let stopped = ctx.finish(result.is_err());
        if let Some(shown) = shown {
            shown.finish();
        }
        match result {
            Ok(()) => {
                write!(out, "{}", report::stage_line("pass", number, stage.name))?;
                out.flush()?;
            }
            Err(failure) => {
                write!(out, "{}", report::stage_line("FAIL", number, stage.name))?;
                for (later, stage) in stages.iter().enumerate().skip(number) {
                    write!(
                        out,
                        "{}",
                        report::stage_line("not run", later + 1, stage.name)
                    )?;
                }
                write!(
                    out,
                    "{}",
                    report::failure(number, stage, &failure, stopped.as_ref())
                )?;
                write!(out, "{}", report::summary(stages.len(), Some(number)))?;
                out.flush()?;
                return Ok(false);
            }
        }
    }
    write!(out, "{}", report::summary(stages.len(), None))?;
    out.flush()?;
    Ok(true)
}
// ANCHOR_END: run
