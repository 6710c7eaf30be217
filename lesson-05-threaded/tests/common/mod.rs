//! The test toolkit: start the lesson's real binary, learn a server's address
//! from its first line, play the other side with a plain socket, and explain
//! every failure in terms of the bytes that crossed the wire.
//!
//! This file is the same, byte for byte, in every lesson (CI compares the
//! copies), so a helper has one name and one meaning wherever a student meets
//! it. What only this lesson needs lives next to it, in `lesson.rs`.
//!
//! Every wait here has a bound, so a broken lesson fails in seconds with a
//! message instead of hanging the test run. Every process started here is
//! killed and reaped when its `Running` is dropped, pass or fail.

// Each test file includes this module and uses only part of it.
#![allow(dead_code)]

pub mod lesson;

use std::cell::RefCell;
use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// The lesson's own binary, built by Cargo for the tests (it is named after
/// the package).
pub const BIN: &str = env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME")));

/// How long a test waits for a process: to print a line, to exit.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long a test's socket waits for the next bytes from the other side.
/// Shorter than the programs' default time-out (10 s), so a program that
/// forgets a step is caught while it still waits, not after it gave up.
pub const SOCKET_WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// The lesson's binary, running, with its output read on helper threads.
/// Dropping it kills and reaps the process, pass or fail.
pub struct Running {
    child: Child,
    /// Stdout, one line per message; the channel closes when the process
    /// closes its stdout, that is, when it exits.
    stdout_lines: Receiver<String>,
    /// Stderr, one line per message, likewise.
    stderr_lines: Receiver<String>,
    /// Every stdout line taken so far, for failure messages.
    seen: Vec<String>,
    /// Every stderr line taken so far (by `stderr_so_far` or
    /// `next_stderr_line`), so that `finish` still returns all of stderr.
    stderr_seen: RefCell<String>,
    /// A stdout nobody reads (see [`start_server_with_unread_stdout`]): kept
    /// open, never read, so the pipe fills up.
    _unread_stdout: Option<ChildStdout>,
}

/// How a finished process ended and what it printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// Standard output, one entry per line (without the "\n"), including
    /// the lines a test already took with [`Running::next_line`].
    pub stdout: Vec<String>,
    /// Standard error, whole.
    pub stderr: String,
}

impl Finished {
    /// Everything the process printed, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "{}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout.join("\n"),
            self.stderr
        )
    }
}

/// Starts the lesson's binary with `args`, stdin empty.
#[track_caller]
pub fn spawn(args: &[impl AsRef<OsStr>]) -> Running {
    spawn_with_input(args, &[])
}

/// Starts the lesson's binary with `args`; `input` is written to its stdin
/// on a helper thread, which then closes it (end of input).
#[track_caller]
pub fn spawn_with_input(args: &[impl AsRef<OsStr>], input: &[u8]) -> Running {
    let mut command = Command::new(BIN);
    command.args(args);
    let mut running = spawn_command(command, Stdio::piped());
    let mut stdin = running
        .child
        .stdin
        .take()
        .expect("taking the child's stdin");
    let input = input.to_vec();
    thread::spawn(move || {
        // A program that exits without reading its input is fine here; the
        // test checks what it printed.
        let _ = stdin.write_all(&input);
    });
    running
}

/// Starts `command`, set up by the caller (the lesson's binary through
/// another program, such as `sh` or `setpriv`), with `stdin` as its input,
/// and reads its output like [`spawn`] does.
#[track_caller]
pub fn spawn_command(mut command: Command, stdin: Stdio) -> Running {
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {command:?}: {err}"));
    let stdout = child.stdout.take().expect("taking the child's stdout");
    let stderr = child.stderr.take().expect("taking the child's stderr");
    Running {
        child,
        stdout_lines: lines_of(stdout),
        stderr_lines: lines_of(stderr),
        seen: Vec::new(),
        stderr_seen: RefCell::new(String::new()),
        _unread_stdout: None,
    }
}

/// Starts the lesson's binary with `args` under a lower open-file limit,
/// set in the child only (`sh -c 'ulimit ULIMIT && exec BIN ARGS'`), never
/// in the test process. `ulimit` is what the shell's `ulimit` takes: `-n 24`
/// (soft and hard limits), `-S -n 64` (the soft limit only).
#[track_caller]
pub fn spawn_with_ulimit(ulimit: &str, args: &[impl AsRef<OsStr>]) -> Running {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args);
    spawn_command(command, Stdio::null())
}

/// [`start_server`] under a lower open-file limit (see [`spawn_with_ulimit`]).
#[track_caller]
pub fn start_server_with_ulimit(ulimit: &str, args: &[&str]) -> (Running, SocketAddr) {
    let mut server = spawn_with_ulimit(ulimit, &server_args(args));
    let addr = server.listening_addr();
    (server, addr)
}

/// Runs the binary with `args` to its end (bounded by [`WAIT`]).
#[track_caller]
pub fn run(args: &[impl AsRef<OsStr>]) -> Finished {
    spawn(args).finish()
}

/// Runs the binary with `args` and `input` on stdin, to its end.
#[track_caller]
pub fn run_with_input(args: &[impl AsRef<OsStr>], input: &[u8]) -> Finished {
    spawn_with_input(args, input).finish()
}

/// Starts the server on a free port (`--port 0`, plus `args`) and returns it
/// with its address, read from its first line, `listening on ADDR`.
#[track_caller]
pub fn start_server(args: &[&str]) -> (Running, SocketAddr) {
    let mut server = spawn(&server_args(args));
    let addr = server.listening_addr();
    (server, addr)
}

/// Like [`start_server`], for a server that may refuse to start (a flag it
/// does not know yet, say): `Err` holds how it ended and what it printed.
#[track_caller]
pub fn try_start_server(args: &[&str]) -> Result<(Running, SocketAddr), Finished> {
    try_start(&server_args(args))
}

/// Starts the binary with exactly `args` (subcommand and `--port 0`
/// included) and waits for its `listening on ADDR` line. If the program
/// exits instead, `Err` holds how it ended and what it printed.
#[track_caller]
pub fn try_start(args: &[impl AsRef<OsStr>]) -> Result<(Running, SocketAddr), Finished> {
    let mut server = spawn(args);
    match server.stdout_lines.recv_timeout(WAIT) {
        Ok(line) => {
            server.seen.push(line.clone());
            let addr = server.parse_listening_line(&line);
            Ok((server, addr))
        }
        // It closed its stdout: it is exiting, with its reason on stderr.
        Err(RecvTimeoutError::Disconnected) => Err(server.finish()),
        Err(RecvTimeoutError::Timeout) => panic!(
            "the program printed nothing within {WAIT:?}; its first line must be \
             `listening on ADDR`, flushed before it accepts; stderr so far:\n{}",
            server.stderr_so_far()
        ),
    }
}

/// Like [`start_server`], but after the first line nobody reads the
/// server's stdout: the pipe fills up (64 KiB on Linux) and every later
/// write to it blocks, like a paused terminal or a `| less` nobody scrolls.
#[track_caller]
pub fn start_server_with_unread_stdout(args: &[&str]) -> (Running, SocketAddr) {
    let mut child = Command::new(BIN)
        .args(server_args(args))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {BIN}: {err}"));
    let mut stdout = child.stdout.take().expect("taking the child's stdout");
    let stderr = child.stderr.take().expect("taking the child's stderr");
    // Read the first line, one byte at a time so nothing after it is taken,
    // on a thread (a pipe read has no time-out), then hand the pipe back.
    let (sender, first_line) = mpsc::channel();
    thread::spawn(move || {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = stdout.read(&mut byte) {
            if byte[0] == b'\n' {
                break;
            }
            line.push(byte[0]);
        }
        let _ = sender.send((String::from_utf8_lossy(&line).into_owned(), stdout));
    });
    let (line, stdout) = first_line.recv_timeout(WAIT).unwrap_or_else(|_| {
        panic!("the server printed no first line within {WAIT:?}");
    });
    let (_, no_more_lines) = mpsc::channel();
    let mut server = Running {
        child,
        stdout_lines: no_more_lines,
        stderr_lines: lines_of(stderr),
        seen: vec![line.clone()],
        stderr_seen: RefCell::new(String::new()),
        _unread_stdout: Some(stdout),
    };
    let addr = server.parse_listening_line(&line);
    (server, addr)
}

/// Starts the client against the server at `addr`, with `args` added.
#[track_caller]
pub fn start_client(addr: SocketAddr, args: &[&str], input: &[u8]) -> Running {
    spawn_with_input(&client_args(addr, args), input)
}

/// Runs the client against the server at `addr` to its end.
#[track_caller]
pub fn run_client(addr: SocketAddr, args: &[&str], input: &[u8]) -> Finished {
    start_client(addr, args, input).finish()
}

/// The server's command line: the lesson's server command, `--port 0`, `args`.
fn server_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all: Vec<&str> = lesson::SERVER_COMMAND.to_vec();
    all.extend(["--port", "0"]);
    all.extend_from_slice(args);
    all
}

/// The client's command line: `client --host IP --port PORT`, then `args`.
fn client_args(addr: SocketAddr, args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = vec![
        "client".into(),
        "--host".into(),
        addr.ip().to_string(),
        "--port".into(),
        addr.port().to_string(),
    ];
    all.extend(args.iter().map(|arg| arg.to_string()));
    all
}

/// Sends each line of `stream` through a channel, which closes at the end.
fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

impl Running {
    /// The process id, to send the process a signal.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the process a signal by name (`INT`, `TERM`, `KILL`), with the
    /// system's `kill` command (std has no portable way to signal).
    #[track_caller]
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .unwrap_or_else(|err| panic!("running kill -s {name}: {err}"));
        assert!(status.success(), "kill -s {name} {} failed", self.pid());
    }

    /// Waits for the first line of stdout, which must be `listening on ADDR`.
    #[track_caller]
    pub fn listening_addr(&mut self) -> SocketAddr {
        let line = self.next_line();
        self.parse_listening_line(&line)
    }

    #[track_caller]
    fn parse_listening_line(&mut self, line: &str) -> SocketAddr {
        let Some(addr) = line.strip_prefix("listening on ") else {
            panic!(
                "the server's first line must be `listening on ADDR`, got {line:?}; stderr:\n{}",
                self.stderr_so_far()
            );
        };
        addr.parse()
            .unwrap_or_else(|err| panic!("`{addr}` in {line:?} is not an address: {err}"))
    }

    /// The next line of stdout, waiting at most [`WAIT`] for it.
    #[track_caller]
    pub fn next_line(&mut self) -> String {
        match self.stdout_lines.recv_timeout(WAIT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "the program printed no new line within {WAIT:?}; its stdout so far:\n{}\n\
                 stderr so far:\n{}\nhint: is the line written but not flushed?",
                self.seen.join("\n"),
                self.stderr_so_far()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the program closed its stdout (it exited?) while a line was expected; \
                 stdout:\n{}\nstderr:\n{}",
                self.seen.join("\n"),
                self.stderr_so_far()
            ),
        }
    }

    /// Waits (at most [`WAIT`] in all) for a stdout line that contains
    /// `text`, skipping the lines before it; returns it.
    #[track_caller]
    pub fn line_containing(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no stdout line containing {text:?} within {WAIT:?}; stdout so far:\n{}\n\
                     stderr so far:\n{}",
                    self.seen.join("\n"),
                    self.stderr_so_far()
                ),
            }
        }
    }

    /// What stderr holds so far (every line, also those already taken),
    /// without waiting.
    pub fn stderr_so_far(&self) -> String {
        let mut seen = self.stderr_seen.borrow_mut();
        for line in self.stderr_lines.try_iter() {
            seen.push_str(&line);
            seen.push('\n');
        }
        seen.clone()
    }

    /// The next line of stderr, waiting at most [`WAIT`] for it. (A line on
    /// stderr may still be on its way when a later stdout line has arrived.)
    #[track_caller]
    pub fn next_stderr_line(&mut self) -> String {
        match self.stderr_lines.recv_timeout(WAIT) {
            Ok(line) => {
                let mut seen = self.stderr_seen.borrow_mut();
                seen.push_str(&line);
                seen.push('\n');
                line
            }
            Err(_) => panic!(
                "the program printed no new line on stderr within {WAIT:?}; stdout so far:\n{}\n\
                 stderr so far:\n{}",
                self.seen.join("\n"),
                self.stderr_seen.borrow()
            ),
        }
    }

    /// Waits at most `limit` for the process to exit, taking its output as
    /// it comes (so a chatty program never blocks on a full pipe); `None` if
    /// it is still running then.
    #[track_caller]
    pub fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let mut stdout_open = true;
        let mut stderr_open = true;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(err) => panic!("waiting for the program: {err}"),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            // Wait for output or for the end of a pipe (the process closes
            // its pipes when it exits), at most a moment, then look again.
            let moment = left.min(Duration::from_millis(20));
            if stdout_open {
                match self.stdout_lines.recv_timeout(moment) {
                    Ok(line) => self.seen.push(line),
                    Err(RecvTimeoutError::Disconnected) => stdout_open = false,
                    Err(RecvTimeoutError::Timeout) => {}
                }
            } else if stderr_open {
                match self.stderr_lines.recv_timeout(moment) {
                    Ok(line) => {
                        let mut seen = self.stderr_seen.borrow_mut();
                        seen.push_str(&line);
                        seen.push('\n');
                    }
                    Err(RecvTimeoutError::Disconnected) => stderr_open = false,
                    Err(RecvTimeoutError::Timeout) => {}
                }
            } else {
                // Both pipes are closed: the process is exiting, and
                // try_wait sees it in a moment.
                thread::yield_now();
            }
        }
    }

    /// Waits at most [`WAIT`] for the process to exit; returns what it printed.
    #[track_caller]
    pub fn finish(self) -> Finished {
        self.finish_within(WAIT)
    }

    /// Waits at most `limit` for the process to exit; returns what it printed.
    #[track_caller]
    pub fn finish_within(mut self, limit: Duration) -> Finished {
        let Some(status) = self.exited_within(limit) else {
            panic!(
                "the program did not exit within {limit:?} (is it still waiting for the \
                 other side?); stdout so far:\n{}\nstderr so far:\n{}",
                self.seen.join("\n"),
                self.stderr_so_far()
            )
        };
        // The process has exited, so both pipes reach their end soon (unless
        // a child of its own still holds them: bounded anyway).
        let mut stdout = std::mem::take(&mut self.seen);
        let mut stderr = self.stderr_seen.take();
        let deadline = Instant::now() + WAIT;
        for (lines, text) in [
            (&self.stdout_lines, None),
            (&self.stderr_lines, Some(&mut stderr)),
        ] {
            let mut text = text;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match lines.recv_timeout(left) {
                    Ok(line) => match text.as_deref_mut() {
                        Some(text) => {
                            text.push_str(&line);
                            text.push('\n');
                        }
                        None => stdout.push(line),
                    },
                    Err(_) => break,
                }
            }
        }
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Already exited is fine; there is nothing to do about other errors.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------

/// Connects to `addr` the way telnet or `nc` would, with [`SOCKET_WAIT`] on
/// every read and write.
#[track_caller]
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, SOCKET_WAIT)
        .unwrap_or_else(|err| panic!("connecting to {addr}: {err}"));
    with_timeouts(stream)
}

/// Sets [`SOCKET_WAIT`] as the stream's read and write time-outs.
#[track_caller]
pub fn with_timeouts(stream: TcpStream) -> TcpStream {
    stream
        .set_read_timeout(Some(SOCKET_WAIT))
        .expect("setting the read time-out");
    stream
        .set_write_timeout(Some(SOCKET_WAIT))
        .expect("setting the write time-out");
    stream
}

/// A listener on a free loopback port, for a test that plays the server.
#[track_caller]
pub fn fake_server() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    let addr = listener.local_addr().expect("reading the bound address");
    (listener, addr)
}

/// Accepts one connection, waiting at most [`WAIT`]. (std's `accept` has no
/// time-out, so it runs on a helper thread.)
#[track_caller]
pub fn accept(listener: &TcpListener) -> TcpStream {
    let listener = listener.try_clone().expect("cloning the listener");
    let (sender, accepted) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(listener.accept());
    });
    match accepted.recv_timeout(WAIT) {
        Ok(Ok((stream, _))) => with_timeouts(stream),
        Ok(Err(err)) => panic!("accepting the client: {err}"),
        Err(_) => panic!("the client did not connect within {WAIT:?}"),
    }
}

/// A port on which nothing listens: bind port 0, note the port, let it go.
pub fn free_port() -> u16 {
    let (listener, addr) = fake_server();
    drop(listener);
    addr.port()
}

/// Makes closing `stream` send a reset (RST) instead of an orderly FIN, the
/// way a crashed program's connection ends. std cannot set this; socket2 can.
#[track_caller]
pub fn reset_on_close(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .expect("setting SO_LINGER to 0");
}

// ---------------------------------------------------------------------------
// Bytes on the wire
// ---------------------------------------------------------------------------

/// Writes all of `bytes`; `who` names the other side in the message.
#[track_caller]
pub fn send(stream: &mut TcpStream, bytes: &[u8], who: &str) {
    if let Err(err) = stream.write_all(bytes) {
        panic!(
            "sending {} to {who} failed: {}",
            escaped(bytes),
            describe_io_error(&err)
        );
    }
}

/// Reads one line, `"\n"` included, one byte at a time (so nothing after
/// the `"\n"` is consumed). Fails with the bytes that did arrive.
#[track_caller]
pub fn read_line(stream: &mut TcpStream, who: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => panic!(
                "{who} closed the connection after {}, without ending a line with \"\\n\"",
                escaped(&received)
            ),
            Ok(_) => {
                received.push(byte[0]);
                if byte[0] == b'\n' {
                    return received;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                let hint = if received.is_empty() {
                    "nothing arrived: is the line still in a buffer that was never flushed \
                     (a BufWriter sends when it is full, flushed or dropped), or was it never \
                     written?"
                } else {
                    "a line ends with \"\\n\": was it left out, or is the rest of the line \
                     still in a buffer that was never flushed?"
                };
                panic!(
                    "{who} sent {}, then {}: no \"\\n\" ended the line\nhint: {hint}",
                    escaped(&received),
                    describe_io_error(&err)
                )
            }
        }
    }
}

/// Reads exactly `expected.len()` bytes and checks that they are `expected`.
#[track_caller]
pub fn expect_bytes(stream: &mut TcpStream, expected: &[u8], who: &str) {
    let received = read_exactly(stream, expected.len(), who);
    assert_wire(who, &received, expected);
}

/// Reads exactly `len` bytes, however many reads that takes. Fails with the
/// bytes that did arrive if the stream ends or goes quiet first.
#[track_caller]
pub fn read_exactly(stream: &mut TcpStream, len: usize, who: &str) -> Vec<u8> {
    let mut received = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match stream.read(&mut received[filled..]) {
            Ok(0) => panic!(
                "expected {len} bytes from {who}, but it closed the connection after {}",
                escaped(&received[..filled])
            ),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "expected {len} bytes from {who}; it sent {}, then {}",
                escaped(&received[..filled]),
                describe_io_error(&err)
            ),
        }
    }
    received
}

/// Sends `bytes` and checks that exactly the same bytes come back.
#[track_caller]
pub fn echo_round_trip(stream: &mut TcpStream, bytes: &[u8], who: &str) {
    send(stream, bytes, who);
    expect_bytes(stream, bytes, who);
}

/// Reads until the other side shuts down its write half or closes (a read
/// returns 0 bytes) and returns what arrived on the way.
#[track_caller]
pub fn read_to_end_of_stream(stream: &mut TcpStream, who: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "waiting for {who} to close the connection: it sent {}, then {}",
                escaped(&received),
                describe_io_error(&err)
            ),
        }
    }
}

/// Like [`read_to_end_of_stream`], but it leaves the verdict to the test:
/// `Err` holds what arrived and why the wait ended (a time-out, a reset), so
/// the test can say what it expected in its own words.
pub fn try_read_to_end_of_stream(stream: &mut TcpStream) -> Result<Vec<u8>, (Vec<u8>, String)> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err((received, describe_io_error(&err))),
        }
    }
}

/// Shuts down our write half and expects the other side to close with
/// nothing more sent: the polite end of a conversation.
#[track_caller]
pub fn leave(stream: &mut TcpStream, who: &str) {
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutting down the write half");
    let rest = read_to_end_of_stream(stream, who);
    assert!(
        rest.is_empty(),
        "after we shut down our write half, {who} should only close; it sent {} first",
        escaped(&rest)
    );
}

/// Checks that `who` sent exactly `expected`, and explains the classic ways
/// to get it wrong.
#[track_caller]
pub fn assert_wire(who: &str, received: &[u8], expected: &[u8]) {
    if received == expected {
        return;
    }
    let hint = if received.is_empty() {
        "nothing arrived: was it ever written? (bytes left in a BufWriter that is never \
         flushed are never sent)"
    } else if expected.strip_suffix(b"\n") == Some(received) {
        "the line has no \"\\n\" at the end: a line on the wire ends with \"\\n\", or the \
         other side cannot tell that it is complete"
    } else if expected.starts_with(received) {
        "only the start arrived (write sends what fits; write_all sends everything)"
    } else if received.starts_with(expected) {
        "the right bytes arrived with more after them: something extra was sent"
    } else {
        "the bytes differ"
    };
    let at = first_difference(received, expected);
    panic!(
        "{who} sent the wrong bytes (they differ from byte {at} on)\n  expected: {}\n  \
         received: {}\n  hint: {hint}",
        escaped(expected),
        escaped(received)
    );
}

/// The index of the first byte where `a` and `b` differ, or the length of
/// the shorter one if one is the start of the other.
pub fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Bytes as a student should see them: quoted, escaped, with their count,
/// and cut after 60 bytes so that a megabyte stays one line.
pub fn escaped(bytes: &[u8]) -> String {
    const SHOWN: usize = 60;
    let shown = &bytes[..bytes.len().min(SHOWN)];
    let more = if bytes.len() > SHOWN { "..." } else { "" };
    format!(
        "\"{}\"{more} ({} bytes)",
        String::from_utf8_lossy(shown).escape_debug(),
        bytes.len()
    )
}

/// An I/O error in words: a time-out says so, instead of "Resource
/// temporarily unavailable" (what Unix calls a read that timed out).
pub fn describe_io_error(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("nothing more for {SOCKET_WAIT:?} (time-out), with the connection still open")
        }
        _ => format!("the connection failed: {err}"),
    }
}
