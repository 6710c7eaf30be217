//! Helpers shared by this lesson's tests: start the real server binary,
//! learn its address from its first line, play the client with a plain
//! `TcpStream`, and explain a failure in terms of the bytes on the wire.
//!
//! Every wait here has a bound, so a broken lesson fails in seconds with a
//! message instead of hanging the test suite.

// Each test file includes this module and uses only part of it.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for the server process: to print a line, to exit.
pub const PROCESS_WAIT: Duration = Duration::from_secs(10);

/// How long a test's socket waits for the next bytes from the server.
pub const SOCKET_WAIT: Duration = Duration::from_secs(5);

/// The greeting the server sends when `--greeting` is not given.
pub const DEFAULT_GREETING: &str = "Hello, client! I am the server.";

/// The lesson's real binary, running, with its output read on helper
/// threads. Dropping it kills and reaps the process, pass or fail.
pub struct Running {
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

/// Starts the server binary with `args`; add `--port 0` for a free port.
#[track_caller]
pub fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lesson-01-hello-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the lesson-01-hello-server binary");

    // Read both pipes on their own threads and hand the text over through
    // channels, so the test can wait for it with a time-out.
    let stdout = child.stdout.take().expect("taking the server's stdout");
    let (line_sender, stdout_lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().expect("taking the server's stderr");
    let (text_sender, stderr_text) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        // A read error only cuts the text short; the test still sees it.
        let _ = stderr.read_to_string(&mut text);
        let _ = text_sender.send(text);
    });

    Running {
        child,
        stdout_lines,
        stderr_text,
    }
}

/// Starts the server on a free port and returns it with its address, read
/// from its first line, `listening on ADDR`.
#[track_caller]
pub fn start_server(args: &[&str]) -> (Running, SocketAddr) {
    let mut all_args = vec!["--port", "0"];
    all_args.extend_from_slice(args);
    let mut server = spawn(&all_args);
    let addr = server.listening_addr();
    (server, addr)
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
                self.stderr_now()
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
                    "the server did not exit within {PROCESS_WAIT:?} (is it still waiting for a \
                     client, or blocked on one?); stdout so far:\n{}",
                    stdout.join("\n")
                ),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let stderr = self
            .stderr_text
            .recv_timeout(left)
            .expect("reading the server's stderr to its end");
        // Both pipes are closed, so the process has exited: this returns at once.
        let status = self.child.wait().expect("waiting for the server to exit");
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    /// Whatever stderr holds once the process has closed it, for messages.
    fn stderr_now(&self) -> String {
        self.stderr_text
            .recv_timeout(PROCESS_WAIT)
            .unwrap_or_else(|_| "(nothing within the time-out)".to_string())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Already exited is fine; there is nothing to do about other errors.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects to the server the way telnet or `nc` would, with time-outs on
/// every read and write.
#[track_caller]
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, SOCKET_WAIT)
        .unwrap_or_else(|err| panic!("connecting to the server at {addr}: {err}"));
    stream
        .set_read_timeout(Some(SOCKET_WAIT))
        .expect("setting the read time-out");
    stream
        .set_write_timeout(Some(SOCKET_WAIT))
        .expect("setting the write time-out");
    stream
}

/// Reads until the server closes the connection (a read returns 0 bytes).
#[track_caller]
pub fn read_to_end_of_stream(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "the server never closed the connection: after {} it sent nothing more \
                     for {SOCKET_WAIT:?} and kept the connection open\n\
                     hint: lesson 01 closes the connection right after the greeting (the \
                     stream is dropped at the end of the function); a stream kept alive \
                     leaves the client waiting",
                    wire(&received)
                )
            }
            Err(err) => panic!(
                "reading from the server failed after {}: {err}",
                wire(&received)
            ),
        }
    }
}

/// The bytes as a student should see them: a count and the escaped text.
pub fn wire(bytes: &[u8]) -> String {
    format!("{} bytes {:?}", bytes.len(), String::from_utf8_lossy(bytes))
}

/// Checks that the server sent exactly `expected`, and explains the classic
/// ways to get it wrong.
#[track_caller]
pub fn assert_wire(received: &[u8], expected: &[u8]) {
    if received == expected {
        return;
    }
    let hint = if received.is_empty() {
        "nothing arrived before the server closed: was the line ever written? (bytes left in \
         a BufWriter that is never flushed are never sent)"
    } else if expected.strip_suffix(b"\n") == Some(received) {
        "the line has no \"\\n\" at the end: a line on the wire ends with \"\\n\", or the \
         client cannot tell that it is complete"
    } else if expected.starts_with(received) {
        "only the start of the line arrived: the server closed before writing the rest \
         (write sends what fits; write_all sends everything)"
    } else if received.starts_with(expected) {
        "the line arrived with more bytes after it: the server sent something extra"
    } else {
        "the text differs: check the --greeting and how the line is built"
    };
    panic!(
        "the server sent the wrong bytes\n  expected: {}\n  received: {}\n  hint: {hint}",
        wire(expected),
        wire(received)
    );
}
