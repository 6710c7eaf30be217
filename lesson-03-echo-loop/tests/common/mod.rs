//! Helpers shared by this lesson's tests: start the real server binary and
//! read its log, run the real client binary, and talk TCP with time-outs.
//!
//! Every wait here is bounded, so a broken lesson fails in seconds with a
//! message instead of hanging the test run.

// Each test file uses only some of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// The lesson's binary, built by Cargo for the tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_lesson-03-echo-loop");

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// The real server, running as a child process. Dropping it kills and reaps
/// the process, whether the test passed or failed.
pub struct Server {
    child: Child,
    log: Receiver<String>,
    /// Where the server said it is listening.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `lesson-03-echo-loop server --port 0 <args>` and waits for its
    /// `listening on ADDR` line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["server", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the server binary");
        let stdout = child.stdout.take().expect("taking the server's stdout");
        // A helper thread reads the log so that every wait can have a time-out.
        let (lines, log) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            log,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let first = server.next_line();
        let addr = first.strip_prefix("listening on ").unwrap_or_else(|| {
            panic!("the server's first line should be `listening on ADDR`, got {first:?}")
        });
        server.addr = addr
            .parse()
            .expect("parsing the address in `listening on ADDR`");
        server
    }

    /// The server's next log line; fails the test if none comes within `WAIT`.
    pub fn next_line(&self) -> String {
        match self.log.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("the server printed nothing within {WAIT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the server exited (its stdout closed)"),
        }
    }

    /// A log line the server has already printed, if any (does not wait).
    pub fn line_if_any(&self) -> Option<String> {
        self.log.try_recv().ok()
    }

    /// Waits (bounded) until the server exits by itself, e.g. after
    /// `--max-clients`, and returns its exit status.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        // The log channel disconnects when the process closes its stdout,
        // that is, when it exits.
        match self.log.recv_timeout(WAIT) {
            Ok(line) => panic!("expected the server to exit, but it printed {line:?}"),
            Err(RecvTimeoutError::Timeout) => panic!("the server did not exit within {WAIT:?}"),
            Err(RecvTimeoutError::Disconnected) => {}
        }
        self.child.wait().expect("waiting for the server to exit")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the real client binary against `addr` with `stdin` as its input,
/// killed after 60 s if it is still running.
pub fn run_client(addr: SocketAddr, stdin: &[u8], args: &[&str]) -> Output {
    let port = addr.port().to_string();
    assert_cmd::Command::new(BIN)
        .args(["client", "--port", &port])
        .args(args)
        .write_stdin(stdin)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("running the client binary")
}

/// Connects to `addr` with read and write time-outs, as a test client.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connecting to the server");
    stream
        .set_read_timeout(Some(WAIT))
        .expect("setting a read time-out");
    stream
        .set_write_timeout(Some(WAIT))
        .expect("setting a write time-out");
    stream
}

/// Sends `message` and reads back exactly as many bytes; asserts they match.
pub fn exchange(stream: &mut TcpStream, message: &[u8]) {
    stream
        .write_all(message)
        .expect("sending a message to the server");
    let mut echo = vec![0u8; message.len()];
    if let Err(err) = stream.read_exact(&mut echo) {
        panic!(
            "sent {}, but its echo did not come back: {}\n\
             hint: does the server write back right after each read (and flush if it buffers)?",
            escaped(message),
            describe(&err)
        );
    }
    assert_eq!(
        echo,
        message,
        "the echo differs: sent {}, received {}",
        escaped(message),
        escaped(&echo)
    );
}

/// Reads until the server closes (bounded by the stream's read time-out).
pub fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    if let Err(err) = stream.read_to_end(&mut received) {
        panic!(
            "the server did not close the connection: {} (received {} so far)\n\
             hint: did the client shut down its write half? Does the server stop at read() == 0?",
            describe(&err),
            escaped(&received)
        );
    }
    received
}

/// An I/O error in words; a read time-out says so instead of "Resource
/// temporarily unavailable" (what Unix calls it).
pub fn describe(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("nothing arrived within {WAIT:?} (time-out)")
        }
        _ => err.to_string(),
    }
}

/// Bytes shown for a person: quoted, escaped, and shortened when long.
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

/// A port on which nothing listens: bind port 0, note the port, let it go.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a throw-away listener");
    listener.local_addr().expect("reading its address").port()
}

/// The client's stdout and stderr as text, for assertions and messages.
pub fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
