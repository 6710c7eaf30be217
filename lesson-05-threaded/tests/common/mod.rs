//! Helpers shared by this lesson's tests: start the real binary, read its
//! output with time-outs, talk to the server with bounded sockets, and
//! explain on failure what crossed the wire.
#![allow(dead_code)] // each test file uses a different part of this module

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running copy of this lesson's binary. Dropping it kills and reaps the
/// process, whether the test passed or failed.
pub struct Running {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every stdout line received so far, for failure messages.
    pub seen: Vec<String>,
}

/// Starts the binary with `args`, stdout and stderr piped and read line by
/// line on helper threads.
pub fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lesson-05-threaded"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the lesson-05-threaded binary");
    let stdout = child.stdout.take().expect("taking the child's stdout");
    let stderr = child.stderr.take().expect("taking the child's stderr");
    Running {
        child,
        stdout: lines_of(stdout),
        stderr: lines_of(stderr),
        seen: Vec::new(),
    }
}

/// Sends each line of `stream` through a channel; the channel closes at
/// end of stream, that is when the process has exited.
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
    /// Starts a server with `args` plus `--port 0` and waits for its
    /// `listening on ADDR` line; returns it and the address.
    pub fn server(args: &[&str]) -> (Running, SocketAddr) {
        let mut all = vec!["server", "--port", "0"];
        all.extend_from_slice(args);
        let mut server = spawn(&all);
        let first = server.next_line(WAIT);
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| {
                panic!("the server's first line should be `listening on ADDR`, got {first:?}")
            });
        (server, addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, or a panic that shows what came before.
    pub fn next_line(&mut self, timeout: Duration) -> String {
        match self.stdout.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "no stdout line within {timeout:?}; lines so far: {:?}",
                self.seen
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the process closed stdout (exited?); lines so far: {:?}; stderr: {:?}",
                self.seen,
                self.stderr_now()
            ),
        }
    }

    /// Waits for a stdout line that contains `text`; returns it.
    pub fn expect_line(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_line(left);
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Waits until the process closes stdout and exits, within `timeout`.
    /// Returns its exit status and every stdout line it printed.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "the process did not exit within {timeout:?}; stdout: {:?}; stderr: {:?}",
                    self.seen,
                    self.stderr_now()
                ),
            }
        }
        // stdout is closed, so the process is exiting: this wait is short.
        self.child.wait().expect("waiting for the process")
    }

    /// Everything the process wrote to stderr so far (without waiting).
    pub fn stderr_now(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// Everything on stderr until the process closed it, bounded by WAIT.
    pub fn stderr_all(&self) -> String {
        let deadline = Instant::now() + WAIT;
        let mut all = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    all.push_str(&line);
                    all.push('\n');
                }
                Err(_) => return all,
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Fails harmlessly if the process has already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion (bounded by WAIT) and returns its exit
/// status, stdout and stderr.
pub fn run(args: &[&str]) -> (ExitStatus, Vec<String>, String) {
    let mut running = spawn(args);
    let status = running.wait_for_exit(WAIT);
    let stderr = running.stderr_all();
    let stdout = running.seen.clone();
    (status, stdout, stderr)
}

/// Connects with every wait bounded.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT)
        .unwrap_or_else(|err| panic!("cannot connect to the server at {addr}: {err}"));
    stream
        .set_read_timeout(Some(WAIT))
        .expect("setting a read time-out");
    stream
        .set_write_timeout(Some(WAIT))
        .expect("setting a write time-out");
    stream
}

/// Bytes as a student can read them.
pub fn escaped(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}

/// Reads exactly `expected.len()` bytes and checks they are `expected`.
pub fn expect_bytes(stream: &mut TcpStream, expected: &[u8], what: &str) {
    let mut received = vec![0u8; expected.len()];
    let mut filled = 0;
    while filled < received.len() {
        match stream.read(&mut received[filled..]) {
            Ok(0) => panic!(
                "{what}: expected \"{}\" but the server closed the connection after \"{}\"",
                escaped(expected),
                escaped(&received[..filled])
            ),
            Ok(n) => filled += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "{what}: expected \"{}\", received \"{}\" and then: {err} \
                 (a time-out here means the echo never came: is the server \
                 busy with another client?)",
                escaped(expected),
                escaped(&received[..filled])
            ),
        }
    }
    assert_eq!(
        received,
        expected,
        "{what}: expected \"{}\", received \"{}\"",
        escaped(expected),
        escaped(&received)
    );
}

/// Sends `bytes` and checks that exactly they come back.
pub fn echo(stream: &mut TcpStream, bytes: &[u8], what: &str) {
    stream
        .write_all(bytes)
        .unwrap_or_else(|err| panic!("{what}: sending \"{}\": {err}", escaped(bytes)));
    expect_bytes(stream, bytes, what);
}

/// Reads until the server closes the connection; returns what came.
pub fn read_until_closed(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => received,
        Err(err) => panic!(
            "{what}: expected the server to close the connection; received \"{}\" and then: {err}",
            escaped(&received)
        ),
    }
}

/// Ends a client politely: shut down the write half, expect end of stream
/// with nothing more before it.
pub fn leave(stream: &mut TcpStream, what: &str) {
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    let rest = read_until_closed(stream, what);
    assert!(
        rest.is_empty(),
        "{what}: after shutting down our write half we expected only end of stream, got \"{}\"",
        escaped(&rest)
    );
}

/// A port nobody listens on: bind port 0, note the port, close it.
pub fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding port 0");
    let port = listener.local_addr().expect("reading the port").port();
    drop(listener);
    port.to_string()
}
