//! The echo server: it accepts clients one after another and, for each,
//! sends back exactly the bytes it reads until the client shuts down its
//! write half.
//!
//! Read it top to bottom: the options, [`run_server`] (the accept loop),
//! [`echo_client`] (the echo loop for one client), then what the server does
//! when `accept` fails, and the words it logs when a client ends badly.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::bail;

use crate::log::Log;

/// How long the server lets a client stay silent before it hangs up on it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The size of the server's one read buffer. Whatever a client sends, the
/// server never holds more than this many of its bytes at once.
pub const ECHO_BUFFER_SIZE: usize = 16 * 1024;

/// How the server behaves: plain public fields, so a caller writes
/// `ServerOptions { max_clients: Some(2), idle_timeout: Duration::from_secs(5) }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Stop after serving this many clients (`None`: serve until killed).
    /// Demos and tests use it so the server ends by itself.
    pub max_clients: Option<u64>,
    /// The longest a client may go without sending anything (and the longest
    /// one write back to it may block) before the server gives up on it and
    /// moves on to the next client. Must not be zero.
    pub idle_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_clients: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// What the server counted while echoing one client. The caller keeps it, so
/// the counts survive even when the connection ends in an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoCounts {
    /// Bytes read from the client and written back to it.
    pub bytes_echoed: u64,
    /// How many `read` calls returned data. A 1 MiB message takes many: one
    /// read returns whatever has arrived, never "one message".
    pub reads: u64,
}

// ANCHOR: run_server
/// Accepts clients one after another and echoes each until it leaves.
///
/// Writes `client <addr> connected` and `client <addr> disconnected (<n> bytes
/// echoed)` to `log_to`, through the log writer of [`crate::log`]: a log nobody reads
/// never stops the server. A client that resets the connection or stays silent
/// longer than `options.idle_timeout` gets the same line with the reason after
/// a colon, and the server goes on to the next client: one misbehaving client
/// must not take the server down. Returns after `options.max_clients` clients.
pub fn run_server(
    listener: TcpListener,
    options: &ServerOptions,
    log_to: impl Write + Send + 'static,
) -> anyhow::Result<()> {
    if options.idle_timeout.is_zero() {
        bail!("the idle time-out must be longer than zero");
    }
    let (log, log_writer) = Log::start(log_to, io::stderr());
    let mut clients_served: u64 = 0;
    while options.max_clients != Some(clients_served) {
        // Python: `conn, addr = server.accept()`. While we echo this client,
        // nobody calls accept: the next client waits in the listen queue.
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) => {
                accept_failed(&err, &log);
                continue;
            }
        };
        clients_served += 1;
        log.line(format!("client {peer} connected"));

        let mut counts = EchoCounts::default();
        let result = echo_client(&stream, options.idle_timeout, &mut counts);
        let bytes = counts.bytes_echoed;
        match result {
            Ok(()) => log.line(format!("client {peer} disconnected ({bytes} bytes echoed)")),
            Err(err) => log.line(format!(
                "client {peer} disconnected ({bytes} bytes echoed): {}",
                describe_client_error(&err, options.idle_timeout)
            )),
        }
        // `stream` is dropped here, which closes the socket (Python: `conn.close()`).
    }
    // Give the last lines a moment to reach the log, but never wait on a
    // log nobody reads.
    drop(log);
    log_writer.finish(LOG_FINISH_LIMIT);
    Ok(())
}
// ANCHOR_END: run_server

// ANCHOR: echo_client
/// Echoes one client: reads into a fixed buffer and writes back exactly what
/// was read, until the client shuts down its write half (`read` returns 0).
///
/// Byte-oriented on purpose: it never looks for line ends or checks UTF-8,
/// so any bytes come back exactly as sent, and memory stays at one buffer
/// however long a "line" is. `counts` is updated as bytes go by.
///
/// `run_server` owns the stream; this function borrows it as `mut stream:
/// &TcpStream`. std implements `Read` and `Write` for `&TcpStream` as well
/// as for `TcpStream` (the socket's state lives in the system, not in the
/// value), so a shared reference can read and write. The `mut` is on our
/// copy of the reference, which `read` and `write_all` borrow mutably.
pub fn echo_client(
    mut stream: &TcpStream,
    idle_timeout: Duration,
    counts: &mut EchoCounts,
) -> io::Result<()> {
    // A read that waits longer than this fails with WouldBlock/TimedOut, so a
    // client that connects and says nothing cannot hold the server forever.
    // The write time-out covers a client that sends but never reads. Both
    // bound one call, not the whole client: one that sends a byte every 29 s
    // keeps this one-at-a-time server busy for as long as it likes. Lesson
    // 05 gives each client a thread of its own, so it holds only its own.
    stream.set_read_timeout(Some(idle_timeout))?;
    stream.set_write_timeout(Some(idle_timeout))?;

    let mut buffer = [0u8; ECHO_BUFFER_SIZE];
    loop {
        // Python: `data = conn.recv(16384)`. It returns as soon as *some*
        // bytes have arrived: maybe part of a line, maybe several lines.
        let n = match stream.read(&mut buffer) {
            Ok(n) => n,
            // A read with a time-out is interrupted when the server is
            // stopped (Ctrl-Z) and continued (`fg`): try again.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if n == 0 {
            // End of stream: the client shut down its write half (or closed).
            return Ok(());
        }
        counts.reads += 1;
        // Python: `conn.sendall(data)`. `write` may send only part of the
        // slice; `write_all` loops until every byte is handed to the kernel.
        stream.write_all(&buffer[..n])?;
        counts.bytes_echoed += n as u64;
    }
}
// ANCHOR_END: echo_client

/// How long [`run_server`] waits, at the end, for its last log lines.
const LOG_FINISH_LIMIT: Duration = Duration::from_millis(500);

// ANCHOR: accept_failed
/// A failed `accept` does not end the server. Most failures concern one
/// connection (it was reset while it waited in the queue), and the next
/// `accept` works. Others, like running out of file descriptors (EMFILE),
/// last until something changes: retrying at once would spin the CPU and
/// flood the log, so the loop pauses a little first.
fn accept_failed(err: &io::Error, log: &Log) {
    log.error(format!("error: cannot accept a client: {err}"));
    if !matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) {
        thread::sleep(ACCEPT_BACKOFF);
    }
}
// ANCHOR_END: accept_failed

/// The pause after an `accept` error that does not go away by itself.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Words for the server log, for the ways a client connection usually ends badly.
fn describe_client_error(err: &io::Error, idle_timeout: Duration) -> String {
    match err.kind() {
        // On Unix a read time-out shows up as WouldBlock, on Windows as TimedOut.
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
            "time-out, no progress for {}s (the client sent nothing, or stopped reading its echo)",
            idle_timeout.as_secs_f64()
        ),
        // A write after the reset has already been reported says BrokenPipe.
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            "connection reset by the client".to_string()
        }
        _ => err.to_string(),
    }
}
