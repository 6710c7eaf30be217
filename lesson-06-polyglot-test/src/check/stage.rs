//! A stage, and what a stage works with.
//!
//! A [`Stage`] is one thing the program must do, named after what it proves
//! ("echoes one line"), with a function that tries it. The function gets a
//! [`Ctx`]: it starts the student's program through it, talks to it through
//! [`Conn`]s, and returns `Ok(())` or a [`Failure`] that says what was sent,
//! what came back, what was expected, and the likely mistake.
//!
//! Every stage starts the program afresh, so no stage depends on what an
//! earlier one left behind, and a program that serves one client and exits
//! (a greeting server) can be checked like any other. The runner stops the
//! program when the stage ends, pass or fail, and keeps what it printed.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::Options;
use super::hints;
use super::program::{Program, Stopped};
use super::wire::{Conn, seconds};

// ANCHOR: stage
/// One named check of a target.
#[derive(Clone, Copy)]
pub struct Stage {
    /// What passing proves, in a few words: "echoes one line".
    pub name: &'static str,
    /// What the stage does to the program, for `check --list` and the book.
    pub does: &'static str,
    /// The usual cause when it fails, for `check --list` and the book (the
    /// report gives the hint that fits what actually arrived).
    pub hint: &'static str,
    /// Tries it.
    pub run: fn(&mut Ctx) -> Result<(), Failure>,
}
// ANCHOR_END: stage

/// Why a stage failed: the problem in one sentence, then the facts (what
/// was sent, what came back, what was expected) and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub problem: String,
    pub facts: Vec<(&'static str, String)>,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(problem: impl Into<String>) -> Failure {
        Failure {
            problem: problem.into(),
            facts: Vec::new(),
            hint: None,
        }
    }

    /// What `check` sent.
    pub fn sent(self, what: impl Into<String>) -> Failure {
        self.fact("sent", what)
    }

    /// What came back.
    pub fn received(self, what: impl Into<String>) -> Failure {
        self.fact("received", what)
    }

    /// What should have come back.
    pub fn expected(self, what: impl Into<String>) -> Failure {
        self.fact("expected", what)
    }

    /// Any other fact, under its own label.
    pub fn fact(mut self, label: &'static str, what: impl Into<String>) -> Failure {
        self.facts.push((label, what.into()));
        self
    }

    /// A fact that comes before the others: what happened before the
    /// stage's own exchange, or what it sent.
    pub fn first_fact(mut self, label: &'static str, what: impl Into<String>) -> Failure {
        self.facts.insert(0, (label, what.into()));
        self
    }

    /// The likely mistake (replaces an earlier hint).
    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

/// The first stage of every server target: the program starts, and its
/// port accepts a connection.
pub const ACCEPTS: Stage = Stage {
    name: "accepts a connection",
    does: "starts the program ({port}: a free port, or --addr) and connects to it",
    hint: hints::LISTEN_ON_THE_PORT,
    run: |ctx| ctx.start_server().map(drop),
};

/// The first stage of every client target: the client connects to the
/// port `check` listens on.
pub const CONNECTS: Stage = Stage {
    name: "connects to the port it is given",
    does: "listens on a free port ({port}, or --addr), starts the client, and waits for it to \
           connect",
    hint: hints::CONNECT_TO_THE_PORT,
    run: |ctx| {
        let input = ctx.options.target.client_input();
        ctx.start_client(input).map(drop)
    },
};

/// What is put in a scratch file for `{file}`: 100 000 bytes that use
/// every byte value, `"\n"`, `"\r"` and NUL included, so a client that
/// reads the file as text, or stops at a NUL, changes them.
pub fn upload_content() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// The name of the `{file}` a 04-client stage gives the client.
pub const UPLOAD_NAME: &str = "upload-me.bin";

/// The least time a program is given to exit (see [`Ctx::exit_limit`]).
pub const EXIT_FLOOR: Duration = Duration::from_secs(10);

/// How long a failed stage waits for a program that may be exiting.
const EXIT_GRACE: Duration = Duration::from_millis(50);

/// The connection limit `{max}` stands for, unless a stage chooses one.
pub const ROOMY_LIMIT: u64 = 200;

/// What a stage works with: the options, the program it started, and the
/// scratch folder behind `{dir}` and `{file}`.
pub struct Ctx<'a> {
    options: &'a Options,
    program: Option<Program>,
    /// The server's address, once started.
    server: Option<SocketAddr>,
    /// Our listener, for a client target (kept so the client's connection
    /// is never refused while the stage runs).
    listener: Option<TcpListener>,
    scratch: Option<TempDir>,
    /// What `{max}` stands for in this stage.
    limit: u64,
}

impl<'a> Ctx<'a> {
    pub fn new(options: &'a Options) -> Ctx<'a> {
        Ctx {
            options,
            program: None,
            server: None,
            listener: None,
            scratch: None,
            limit: options.max_connections.unwrap_or(ROOMY_LIMIT),
        }
    }

    /// The longest any one wait on the program may take (`--timeout`).
    pub fn timeout(&self) -> Duration {
        self.options.timeout
    }

    /// The longest a stage waits for the program to exit: `--timeout`, but
    /// at least [`EXIT_FLOOR`]. Whether a client exits is what is tested,
    /// not how fast, and a process ends slowly on a busy machine.
    pub fn exit_limit(&self) -> Duration {
        self.options.timeout.max(EXIT_FLOOR)
    }

    /// The connection limit the server has in this stage: the one given
    /// with `--max-connections`, or `{max}`'s value.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Has this stage start the server with `{max}` standing for `limit`.
    /// Fails when the limit cannot be set: a fixed `--max-connections`
    /// wins, and with neither that nor `{max}` the limit is unknown.
    pub fn choose_limit(&mut self, limit: u64) -> Result<(), Failure> {
        if let Some(fixed) = self.options.max_connections {
            self.limit = fixed;
            return Ok(());
        }
        if self.options.command.iter().any(|arg| arg.contains("{max}")) {
            self.limit = limit;
            return Ok(());
        }
        Err(
            Failure::new("check does not know how many clients your server serves at once")
                .hint(hints::TELL_THE_LIMIT),
        )
    }

    /// The scratch folder of this stage, created on first use.
    fn scratch(&mut self) -> Result<&Path, Failure> {
        if self.scratch.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("lesson-06-check-")
                .tempdir()
                .map_err(|err| Failure::new(format!("cannot create a scratch folder: {err}")))?;
            self.scratch = Some(dir);
        }
        match &self.scratch {
            Some(dir) => Ok(dir.path()),
            None => Err(Failure::new("no scratch folder")),
        }
    }

    /// The folder `{dir}` stands for: `received/` in the scratch folder,
    /// which is where a file that escapes it would land (see [`Ctx::scratch_root`]).
    pub fn dir(&mut self) -> Result<PathBuf, Failure> {
        let dir = self.scratch()?.join("received");
        fs::create_dir_all(&dir)
            .map_err(|err| Failure::new(format!("cannot create {}: {err}", dir.display())))?;
        Ok(dir)
    }

    /// The scratch folder itself, the parent of `{dir}`.
    pub fn scratch_root(&mut self) -> Result<PathBuf, Failure> {
        Ok(self.scratch()?.to_path_buf())
    }

    /// The file `{file}` stands for, holding [`upload_content`].
    pub fn file(&mut self) -> Result<PathBuf, Failure> {
        let path = self.scratch()?.join(UPLOAD_NAME);
        if !path.exists() {
            fs::write(&path, upload_content())
                .map_err(|err| Failure::new(format!("cannot write {}: {err}", path.display())))?;
        }
        Ok(path)
    }

    /// The command line with its placeholders filled in.
    fn command_for(&mut self, port: u16) -> Result<Vec<String>, Failure> {
        let template = self.options.command.clone();
        let mut argv = Vec::with_capacity(template.len());
        for arg in template {
            let mut arg = arg.replace("{port}", &port.to_string());
            if arg.contains("{dir}") {
                arg = arg.replace("{dir}", &self.dir()?.to_string_lossy());
            }
            if arg.contains("{file}") {
                arg = arg.replace("{file}", &self.file()?.to_string_lossy());
            }
            arg = arg.replace("{max}", &self.limit.to_string());
            argv.push(arg);
        }
        Ok(argv)
    }

    /// Starts the program, with `input` on its stdin for a client.
    fn start(&mut self, argv: &[String], input: Option<Vec<u8>>) -> Result<(), Failure> {
        let program = Program::start(argv, input).map_err(|err| {
            Failure::new(format!(
                "cannot start `{}`: {err}",
                argv.first().map_or("", String::as_str)
            ))
            .hint(hints::CANNOT_START)
        })?;
        self.program = Some(program);
        Ok(())
    }

    // ANCHOR: start_server
    /// Starts the server and waits until its port accepts a connection;
    /// returns that connection.
    ///
    /// A program that does not print anything cannot tell us it is ready,
    /// so we try to connect every 25 ms: a refused attempt never reaches the
    /// program, and the first one that succeeds is the stage's first
    /// client. The wait is bounded (`--start-timeout`), and ends early, with
    /// its output, if the program exits.
    pub fn start_server(&mut self) -> Result<Conn, Failure> {
        let addr = match self.options.addr {
            Some(addr) => {
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    return Err(Failure::new(format!(
                        "something already accepts connections on {addr}, before check \
                         started your program"
                    ))
                    .hint(hints::ALREADY_RUNNING));
                }
                addr
            }
            None => free_local_port()?,
        };
        let argv = self.command_for(addr.port())?;
        self.start(&argv, None)?;
        self.server = Some(addr);

        let deadline = Instant::now() + self.options.start_timeout;
        loop {
            let attempt = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
            if let Ok(stream) = attempt {
                return self.conn_to_server(stream);
            }
            if let Some(status) = self.program_mut()?.exited() {
                let stderr = self.program_mut()?.stop().stderr;
                let hint = if String::from_utf8_lossy(&stderr)
                    .to_lowercase()
                    .contains("address already in use")
                {
                    hints::PORT_IN_USE
                } else {
                    hints::EXITED_AT_START
                };
                return Err(Failure::new(format!(
                    "your program exited ({}) before it accepted a connection on {addr}",
                    describe_status(status)
                ))
                .hint(hint));
            }
            if Instant::now() >= deadline {
                return Err(Failure::new(format!(
                    "nothing accepted a connection on {addr} within {} of starting your program",
                    seconds(self.options.start_timeout)
                ))
                .hint(hints::LISTEN_ON_THE_PORT));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }
    // ANCHOR_END: start_server

    /// Connects another client to the server this stage started.
    pub fn connect(&mut self) -> Result<Conn, Failure> {
        let addr = self
            .server
            .ok_or_else(|| Failure::new("connect() before start_server()"))?;
        match TcpStream::connect_timeout(&addr, self.timeout()) {
            Ok(stream) => self.conn_to_server(stream),
            Err(err) => {
                let exited = self.program_mut()?.exited();
                let why = match exited {
                    Some(status) => {
                        format!("; your program had exited ({})", describe_status(status))
                    }
                    None => String::new(),
                };
                Err(Failure::new(format!(
                    "a new client could not connect to {addr}: {err}{why}"
                ))
                .hint(hints::ACCEPT_IN_A_LOOP))
            }
        }
    }

    /// Starts the client with `input` on its stdin, `{port}` standing for a
    /// port `check` listens on, and waits (bounded) until it connects;
    /// returns that connection.
    pub fn start_client(&mut self, input: Vec<u8>) -> Result<Conn, Failure> {
        let bind_to = self
            .options
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(bind_to).map_err(|err| {
            Failure::new(format!("check cannot listen on {bind_to}: {err}"))
                .hint(hints::ALREADY_RUNNING)
        })?;
        let addr = listener
            .local_addr()
            .map_err(|err| Failure::new(format!("cannot read our own address: {err}")))?;
        // Non-blocking, so the wait for the client can be bounded and can
        // notice a client that exits without connecting.
        listener
            .set_nonblocking(true)
            .map_err(|err| Failure::new(format!("cannot set up our listener: {err}")))?;
        let argv = self.command_for(addr.port())?;
        self.start(&argv, Some(input))?;

        let deadline = Instant::now() + self.options.start_timeout;
        let accepted = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(Failure::new(format!("accepting your client: {err}"))),
            }
            if let Some(status) = self.program_mut()?.exited() {
                return Err(Failure::new(format!(
                    "your client exited ({}) without connecting to {addr}",
                    describe_status(status)
                ))
                .hint(hints::CONNECT_TO_THE_PORT));
            }
            if Instant::now() >= deadline {
                return Err(Failure::new(format!(
                    "your client did not connect to {addr} within {} of starting",
                    seconds(self.options.start_timeout)
                ))
                .hint(hints::CONNECT_TO_THE_PORT));
            }
            thread::sleep(Duration::from_millis(10));
        };
        self.listener = Some(listener);
        accepted
            .set_nonblocking(false)
            .map_err(|err| Failure::new(format!("cannot set up the connection: {err}")))?;
        self.conn(accepted)
    }

    fn conn(&self, stream: TcpStream) -> Result<Conn, Failure> {
        Conn::new(stream, self.timeout())
            .map_err(|err| Failure::new(format!("cannot set up the connection: {err}")))
    }

    /// A connection to the server: reset when dropped if the server is on
    /// a fixed `--addr`, so that its port is free for the next stage (see
    /// [`Conn`]'s `Drop`).
    fn conn_to_server(&self, stream: TcpStream) -> Result<Conn, Failure> {
        let fixed_port = self.options.addr.is_some();
        Conn::closed_with_reset(stream, self.timeout(), fixed_port)
            .map_err(|err| Failure::new(format!("cannot set up the connection: {err}")))
    }

    fn program_mut(&mut self) -> Result<&mut Program, Failure> {
        self.program
            .as_mut()
            .ok_or_else(|| Failure::new("no program was started"))
    }

    /// How the program exited, if it has; never waits.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.program.as_mut().and_then(Program::exited)
    }

    /// Waits at most `limit` for the program to exit.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.program
            .as_mut()
            .and_then(|program| program.wait_for_exit(limit))
    }

    /// Waits at most `limit` until the program has printed `text`.
    pub fn wait_for_output(&mut self, text: &str, limit: Duration) -> bool {
        self.program
            .as_mut()
            .is_some_and(|program| program.wait_for_output(text, limit))
    }

    /// What the program has printed on stdout so far.
    pub fn output(&self) -> Vec<u8> {
        self.program
            .as_ref()
            .map(Program::stdout)
            .unwrap_or_default()
    }

    /// Ends the stage: stops the program (if one was started) and returns
    /// what it left behind. The scratch folder goes when `self` does.
    ///
    /// After a failure, a program that is exiting (it closed its sockets a
    /// moment ago) is given a moment to finish, so the report says truly
    /// whether it exited by itself.
    pub fn finish(mut self, failed: bool) -> Option<Stopped> {
        let program = self.program.as_mut()?;
        if failed {
            program.wait_for_exit(EXIT_GRACE);
        }
        Some(program.stop())
    }
}

/// `exit status 1`, or `killed by signal 9`.
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// A loopback port nothing listens on: bind port 0, note it, let it go.
fn free_local_port() -> Result<SocketAddr, Failure> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|err| Failure::new(format!("cannot find a free port: {err}")))
}

/// The names of the entries of `dir` (hidden ones included), sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
