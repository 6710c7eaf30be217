//! Lesson 03: an echo loop.
//!
//! The server accepts clients **one after another** and, for each, sends back
//! exactly the bytes it reads until the client shuts down its write half. The
//! client sends lines, reads their echoes and checks every byte.
//!
//! Two ideas carry this lesson:
//!
//! - **TCP is a byte stream, not a stream of messages.** One `read` may return
//!   half a line, or three lines and a bit of a fourth. The server therefore
//!   never looks for lines at all: it copies bytes through one fixed buffer.
//!   The client, which knows how long each line it sent was, reads back
//!   exactly that many bytes, however many `read` calls that takes.
//! - **An echo client must read while it writes.** If it sent a large input
//!   before reading anything, the echoes would pile up in its own receive
//!   buffer, the server would stop reading because its writes block, and both
//!   programs would wait for each other forever. So [`run_client`] writes on
//!   one thread and reads on another.
//!
//! The server serves one client at a time on purpose: a second client can
//! connect (the kernel completes the handshake and queues it), but it gets no
//! echo until the first one leaves. Lesson 05 fixes that with a thread per
//! client. Meanwhile an idle time-out ([`ServerOptions::idle_timeout`]) stops
//! a silent client from holding the server forever.
//!
//! [`run_server`] and [`run_client`] take an already bound listener or an
//! address and a writer for their output, so the tests, the benchmark and
//! later lessons can call them in-process; `main.rs` only parses the command
//! line.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, bail};

pub mod log;

use log::Log;

/// The port this lesson listens on unless told otherwise (7000 + lesson number).
pub const DEFAULT_PORT: u16 = 7003;

/// How long the server lets a client stay silent before it hangs up on it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the client waits to connect, and then for each echo.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

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
/// echoed)` to `log_to`, through the log writer of [`log`]: a log nobody reads
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
pub fn echo_client(
    mut stream: &TcpStream,
    idle_timeout: Duration,
    counts: &mut EchoCounts,
) -> io::Result<()> {
    // A read that waits longer than this fails with WouldBlock/TimedOut, so a
    // client that connects and says nothing cannot hold the server forever.
    // The write time-out covers a client that sends but never reads.
    stream.set_read_timeout(Some(idle_timeout))?;
    stream.set_write_timeout(Some(idle_timeout))?;

    let mut buffer = [0u8; ECHO_BUFFER_SIZE];
    loop {
        // Python: `data = conn.recv(16384)`. It returns as soon as *some*
        // bytes have arrived: maybe part of a line, maybe several lines.
        let n = stream.read(&mut buffer)?;
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
        io::ErrorKind::ConnectionReset => "connection reset by the client".to_string(),
        io::ErrorKind::BrokenPipe => "the client closed before reading its echo".to_string(),
        _ => err.to_string(),
    }
}

/// What a successful [`run_client`] sent and got back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientReport {
    /// Lines sent whose echo came back intact.
    pub lines: u64,
    /// Bytes sent and received back, counting each line's `\n`.
    pub bytes: u64,
}

// ANCHOR: run_client
/// Sends every line of `input` to the echo server at `addr`, checks each
/// echo, and writes it to `out` as `echo: <line>`.
///
/// Each line goes out with a `\n` at its end (one is added to a last line
/// that lacks it). At the end of `input` the client shuts down its write
/// half, reads what is still in flight, and expects the server to close.
///
/// Fails if it cannot connect within `timeout`, if an echo does not arrive
/// within `timeout`, if an echo differs from what was sent, or if the server
/// closes early or sends more than it was sent. The error names the line
/// and shows the bytes, escaped.
///
/// Writing and reading run at the same time: a thread sends the lines while
/// this thread reads the echoes. A client that wrote a large input before
/// reading would deadlock against any echo server (see the module docs).
pub fn run_client<R: BufRead + Send + 'static, W: Write>(
    addr: &str,
    input: R,
    timeout: Duration,
    out: &mut W,
) -> anyhow::Result<ClientReport> {
    let stream = connect(addr, timeout)?;
    // Bound every wait on the server: no echo within `timeout` is an error.
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    // Each line the writer sends also goes into this channel, so the reader
    // knows what to expect and how many bytes to wait for.
    let (sent_lines, expected_lines) = mpsc::channel::<Vec<u8>>();
    let write_half = stream
        .try_clone()
        .context("cannot clone the socket for writing")?;
    let writer = thread::spawn(move || send_lines(input, write_half, sent_lines));

    let result = check_echoes(&stream, &expected_lines, timeout, out);
    if result.is_err() {
        // Unblock the writer if it is stuck in a write. (If it waits for more
        // input, it stays parked until that input comes; it is not joined.)
        let _ = stream.shutdown(Shutdown::Both);
        return result;
    }
    match writer.join() {
        Ok(Ok(())) => result,
        Ok(Err(err)) => Err(err),
        Err(_) => bail!("the thread sending the lines panicked"),
    }
}
// ANCHOR_END: run_client

/// Resolves `addr` and connects to the first address that answers within `timeout`.
fn connect(addr: &str, timeout: Duration) -> anyhow::Result<TcpStream> {
    let addresses: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr}"))?
        .collect();
    let mut last_error = None;
    for address in &addresses {
        // Python: `client.settimeout(t); client.connect((host, port))`.
        match TcpStream::connect_timeout(address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = Some(err),
        }
    }
    match last_error {
        Some(err) => Err(err).with_context(|| format!("cannot connect to {addr}")),
        None => bail!("cannot connect to {addr}: it resolves to no address"),
    }
}

// ANCHOR: send_lines
/// The writer thread: sends each line of `input` with its `\n`, then shuts
/// down the write half so the server's `read` returns 0 (end of stream).
fn send_lines<R: BufRead>(
    mut input: R,
    mut stream: TcpStream,
    sent_lines: mpsc::Sender<Vec<u8>>,
) -> anyhow::Result<()> {
    let mut line_number: u64 = 0;
    loop {
        // Bytes, not a String: the server echoes any bytes, so the client
        // sends any bytes too (invalid UTF-8 included).
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                // Finish the conversation cleanly, so the reader is not left
                // waiting for a close, and report the real problem.
                let _ = stream.shutdown(Shutdown::Write);
                return Err(err).context("cannot read the input");
            }
        }
        line_number += 1;
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        // Tell the reader first, so it is never surprised by an echo.
        if sent_lines.send(line.clone()).is_err() {
            // The reader has given up (its error is the one reported).
            return Ok(());
        }
        // One write_all for the line and its `\n`: the whole line, in one go.
        stream
            .write_all(&line)
            .with_context(|| format!("cannot send line {line_number}"))?;
    }
    // "I have nothing more to send." The read half stays open for the echoes
    // still in flight. Without this the server would wait for more forever.
    stream
        .shutdown(Shutdown::Write)
        .context("cannot shut down the write half")?;
    Ok(())
}
// ANCHOR_END: send_lines

// ANCHOR: check_echoes
/// The reader: for each line the writer sent, reads back exactly as many
/// bytes and compares them; then expects the server to close.
fn check_echoes<W: Write>(
    mut stream: &TcpStream,
    expected_lines: &mpsc::Receiver<Vec<u8>>,
    timeout: Duration,
    out: &mut W,
) -> anyhow::Result<ClientReport> {
    let mut report = ClientReport::default();
    // The loop ends when the writer has sent everything and dropped its sender.
    for sent in expected_lines {
        let line_number = report.lines + 1;
        // Never more than the client itself sent: the length is known.
        let mut echo = vec![0u8; sent.len()];
        let mut received = 0;
        while received < echo.len() {
            // One read returns what has arrived so far: loop until the
            // whole line is back, however the bytes were split on the way.
            let n = stream
                .read(&mut echo[received..])
                .map_err(|err| explain_read_error(err, timeout, BUSY_HINT))
                .with_context(|| {
                    format!(
                        "waiting for the echo of line {line_number} ({received} of {} bytes received)",
                        sent.len()
                    )
                })?;
            if n == 0 {
                bail!(
                    "the server closed the connection early: {received} of {} bytes of the echo \
                     of line {line_number} arrived (sent {}, received {})",
                    sent.len(),
                    excerpt(&sent, 0),
                    excerpt(&echo[..received], 0),
                );
            }
            received += n;
        }
        if echo != sent {
            let at = first_difference(&sent, &echo);
            bail!(
                "the echo of line {line_number} differs from what was sent, from byte {at} on: \
                 sent {}, received {}",
                excerpt(&sent, at),
                excerpt(&echo, at),
            );
        }
        let line = echo.strip_suffix(b"\n").unwrap_or(&echo);
        let text = String::from_utf8_lossy(line);
        writeln!(out, "echo: {text}")?;
        out.flush()?;
        report.lines += 1;
        report.bytes += echo.len() as u64;
    }

    // Everything sent has come back and our write half is shut down. An echo
    // server now sees end of stream and closes: read must return 0.
    let mut extra = [0u8; 64];
    let n = stream
        .read(&mut extra)
        .map_err(|err| explain_read_error(err, timeout, NO_CLOSE_HINT))
        .context("waiting for the server to close after the last echo")?;
    if n > 0 {
        bail!(
            "the server sent more than it was sent: {} after the last echo",
            excerpt(&extra[..n], 0)
        );
    }
    Ok(report)
}
// ANCHOR_END: check_echoes

/// The likely cause when an echo does not come.
const BUSY_HINT: &str = "is the server busy with another client? it serves one at a time";

/// The likely cause when the server does not close after the last echo.
const NO_CLOSE_HINT: &str =
    "an echo server closes when it reads end of stream: was our write half shut down?";

/// Turns a read time-out (WouldBlock on Unix, TimedOut on Windows) into
/// words a student can act on, with the likely cause; other errors pass through.
fn explain_read_error(err: io::Error, timeout: Duration, likely_cause: &str) -> anyhow::Error {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => anyhow::anyhow!(
            "nothing arrived for {}s ({likely_cause})",
            timeout.as_secs_f64()
        ),
        _ => anyhow::Error::new(err),
    }
}

/// The index of the first byte where `a` and `b` differ (or the shorter length).
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Shows up to 40 bytes of `bytes` from `from` on, escaped and quoted, with
/// `...` where something was left out, so a 1 MiB line stays readable.
fn excerpt(bytes: &[u8], from: usize) -> String {
    const SHOWN: usize = 40;
    let start = from.min(bytes.len());
    let end = (start + SHOWN).min(bytes.len());
    let before = if start > 0 { "..." } else { "" };
    let after = if end < bytes.len() { "..." } else { "" };
    let text = String::from_utf8_lossy(&bytes[start..end]);
    format!(
        "{before}\"{}\"{after} ({} bytes)",
        text.escape_debug(),
        bytes.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_escapes_and_shortens() {
        assert_eq!(excerpt(b"hi\n", 0), "\"hi\\n\" (3 bytes)");
        let long = vec![b'a'; 100];
        assert_eq!(
            excerpt(&long, 50),
            format!("...\"{}\"... (100 bytes)", "a".repeat(40))
        );
        assert_eq!(excerpt(b"", 0), "\"\" (0 bytes)");
    }

    #[test]
    fn first_difference_finds_the_byte() {
        assert_eq!(first_difference(b"abc\n", b"abd\n"), 2);
        assert_eq!(first_difference(b"abc", b"abc"), 3);
        assert_eq!(first_difference(b"ab", b"abc"), 2);
    }
}
