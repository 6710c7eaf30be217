//! Helpers shared by this lesson's tests: start the real binary as server
//! or client, learn the server's address from its first line, play either
//! side with a plain socket, and explain a failure in terms of the bytes on
//! the wire.
//!
//! Every wait here has a bound, so a broken lesson fails in seconds with a
//! message instead of hanging the test suite.

// Each test file includes this module and uses only part of it.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for a process: to print a line, to exit.
pub const PROCESS_WAIT: Duration = Duration::from_secs(10);

/// How long a test's socket waits for the next bytes from the other side.
/// Shorter than the programs' own time-outs in these tests (10 s by
/// default), so a program that forgets a step is caught while it still
/// waits, not after it gave up and closed.
pub const SOCKET_WAIT: Duration = Duration::from_secs(3);

pub const DEFAULT_GREETING: &str = "Hello, client! I am the server.";
pub const DEFAULT_MESSAGE: &str = "Hello, server!";

/// The lesson's real binary, running, with its output read on helper
/// threads. Dropping it kills and reaps the process, pass or fail.
pub struct Running {
    /// "server" or "client", for messages.
    name: String,
    child: Child,
    stdout_lines: Receiver<String>,
    stderr_text: Receiver<String>,
}

/// How a finished process ended and what it printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// Standard output, one entry per line (without the "\n").
    pub stdout: Vec<String>,
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

/// Starts the lesson's binary with `args` (the first is `server` or `client`).
#[track_caller]
pub fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lesson-02-client"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the lesson-02-client binary");

    // Read both pipes on their own threads and hand the text over through
    // channels, so the test can wait for it with a time-out.
    let stdout = child.stdout.take().expect("taking the child's stdout");
    let (line_sender, stdout_lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().expect("taking the child's stderr");
    let (text_sender, stderr_text) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        // A read error only cuts the text short; the test still sees it.
        let _ = stderr.read_to_string(&mut text);
        let _ = text_sender.send(text);
    });

    Running {
        name: match args.first() {
            Some(&"server") => "server",
            Some(&"client") => "client",
            _ => "program",
        }
        .to_string(),
        child,
        stdout_lines,
        stderr_text,
    }
}

/// Starts `server` on a free port with `args` added, and returns it with
/// its address, read from its first line, `listening on ADDR`.
#[track_caller]
pub fn start_server(args: &[&str]) -> (Running, SocketAddr) {
    let mut all_args = vec!["server", "--port", "0"];
    all_args.extend_from_slice(args);
    let mut server = spawn(&all_args);
    let addr = server.listening_addr();
    (server, addr)
}

/// Starts `client` against the server at `addr` with `args` added.
#[track_caller]
pub fn start_client(addr: SocketAddr, args: &[&str]) -> Running {
    let host = addr.ip().to_string();
    let port = addr.port().to_string();
    let mut all_args = vec!["client", "--host", &host, "--port", &port];
    all_args.extend_from_slice(args);
    spawn(&all_args)
}

impl Running {
    /// Waits for the first line of stdout, which must be `listening on ADDR`.
    #[track_caller]
    pub fn listening_addr(&mut self) -> SocketAddr {
        let line = match self.stdout_lines.recv_timeout(PROCESS_WAIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "the server printed nothing within {PROCESS_WAIT:?}; its first line must be \
                 `listening on ADDR`, flushed before it accepts"
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the server closed its stdout without printing `listening on ADDR`; stderr:\n{}",
                self.stderr_text
                    .recv_timeout(PROCESS_WAIT)
                    .unwrap_or_default()
            ),
        };
        let Some(addr) = line.strip_prefix("listening on ") else {
            panic!("the server's first line must be `listening on ADDR`, got {line:?}");
        };
        addr.parse()
            .unwrap_or_else(|err| panic!("`{addr}` in {line:?} is not an address: {err}"))
    }

    /// Waits for the process to exit and returns what it printed (after
    /// the lines already taken).
    #[track_caller]
    pub fn finish(mut self) -> Finished {
        let deadline = Instant::now() + PROCESS_WAIT;
        let mut stdout = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) => stdout.push(line),
                // The reader thread ends at end of file: the process closed
                // its stdout, which it does when it exits.
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "the {} did not exit within {PROCESS_WAIT:?} (is it still waiting for the \
                     other side?); stdout so far:\n{}",
                    self.name,
                    stdout.join("\n")
                ),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let stderr = self
            .stderr_text
            .recv_timeout(left)
            .expect("reading stderr to its end");
        // Both pipes are closed, so the process has exited: this returns at once.
        let status = self.child.wait().expect("waiting for the process to exit");
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

/// Sets the test's time-outs on a stream, so no read or write waits for ever.
pub fn with_timeouts(stream: TcpStream) -> TcpStream {
    stream
        .set_read_timeout(Some(SOCKET_WAIT))
        .expect("setting the read time-out");
    stream
        .set_write_timeout(Some(SOCKET_WAIT))
        .expect("setting the write time-out");
    stream
}

/// Connects to the server the way telnet or `nc` would.
#[track_caller]
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, SOCKET_WAIT)
        .unwrap_or_else(|err| panic!("connecting to the server at {addr}: {err}"));
    with_timeouts(stream)
}

/// Binds a listener on a free port, for a test that plays the server.
pub fn fake_server() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    let addr = listener.local_addr().expect("reading the bound address");
    (listener, addr)
}

/// Accepts one connection, waiting at most `PROCESS_WAIT` (std's `accept`
/// has no time-out, so it runs on a helper thread).
#[track_caller]
pub fn accept(listener: &TcpListener) -> TcpStream {
    let listener = listener.try_clone().expect("cloning the listener");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(listener.accept());
    });
    match receiver.recv_timeout(PROCESS_WAIT) {
        Ok(Ok((stream, _))) => with_timeouts(stream),
        Ok(Err(err)) => panic!("accepting the client: {err}"),
        Err(_) => panic!("the client did not connect within {PROCESS_WAIT:?}"),
    }
}

/// How a read that expects more bytes ended.
fn describe_read_error(err: &io::Error) -> String {
    if matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        format!("then nothing more for {SOCKET_WAIT:?}, and the connection stayed open")
    } else {
        format!("then the read failed: {err}")
    }
}

/// Reads one line, `"\n"` included, and fails with the bytes on the wire
/// if it does not arrive. `peer` names the other side in messages.
#[track_caller]
pub fn read_line_bytes(stream: &mut TcpStream, peer: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    // One byte at a time, so nothing after the "\n" is consumed: the
    // caller reads on from the same stream.
    loop {
        match stream.read(&mut byte) {
            Ok(0) => panic!(
                "{peer} closed the connection after {} without ending a line with \"\\n\"",
                wire(&received)
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
                    "a line ends with \"\\n\"; was it left out, or is the rest of the line \
                     still in a buffer that was never flushed?"
                };
                panic!(
                    "{peer} sent {}, {}: no \"\\n\" ended the line\nhint: {hint}",
                    wire(&received),
                    describe_read_error(&err)
                )
            }
        }
    }
}

/// Reads until the other side shuts down its write half or closes (a read
/// returns 0 bytes) and returns what arrived on the way.
#[track_caller]
pub fn read_to_end_of_stream(stream: &mut TcpStream, peer: &str, hint: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "waiting for end of stream from {peer}: it sent {}, {}\nhint: {hint}",
                wire(&received),
                describe_read_error(&err)
            ),
        }
    }
}

/// Writes `bytes`; a peer that already hung up is fine here (the test then
/// checks what the program printed about it).
#[track_caller]
pub fn write_ignoring_hang_up(stream: &mut TcpStream, bytes: &[u8]) {
    match stream.write_all(bytes) {
        Ok(()) => {}
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) => {}
        Err(err) => panic!("writing {} failed: {err}", wire(bytes)),
    }
}

/// The bytes as a student should see them: a count and the escaped text
/// (cut after 100 bytes).
pub fn wire(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(100)];
    let more = if bytes.len() > head.len() { "..." } else { "" };
    format!(
        "{} bytes {:?}{more}",
        bytes.len(),
        String::from_utf8_lossy(head)
    )
}

/// Checks that `peer` sent exactly `expected`, and explains the classic
/// ways to get it wrong.
#[track_caller]
pub fn assert_wire(peer: &str, received: &[u8], expected: &[u8]) {
    if received == expected {
        return;
    }
    let hint = if received.is_empty() {
        "nothing arrived: was the line ever written? (bytes left in a BufWriter that is \
         never flushed are never sent)"
    } else if expected.strip_suffix(b"\n") == Some(received) {
        "the line has no \"\\n\" at the end: a line on the wire ends with \"\\n\", or the \
         other side cannot tell that it is complete"
    } else if expected.starts_with(received) {
        "only the start of the line arrived (write sends what fits; write_all sends \
         everything)"
    } else if received.starts_with(expected) {
        "the line arrived with more bytes after it: something extra was sent"
    } else {
        "the text differs: check the text and how the line is built"
    };
    panic!(
        "{peer} sent the wrong bytes\n  expected: {}\n  received: {}\n  hint: {hint}",
        wire(expected),
        wire(received)
    );
}

/// A port on which nothing listens: bind port 0, note it, let it go.
pub fn free_port() -> u16 {
    let (listener, addr) = fake_server();
    drop(listener);
    addr.port()
}

/// Makes closing `stream` send a reset (RST) instead of an orderly FIN, the
/// way a crashed program's connection ends. std cannot set this; socket2 can.
pub fn reset_on_close(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .expect("setting SO_LINGER to 0");
}
