//! Lesson 02: the client, and a server that listens back.
//!
//! Lesson 01's server talked and hung up. Here both sides talk, once each:
//!
//! ```text
//! server -> client   the greeting, one line:  Hello, client! I am the server.\n
//! client -> server   the reply, one line:     Hello, server!\n
//! client             shuts down its write half (the server reads end of stream)
//! server             closes                   (the client reads end of stream)
//! ```
//!
//! A line is UTF-8 text ending in `"\n"` (a `"\r"` before it is dropped, so
//! telnet works too). The last line of a stream may end at end of stream
//! instead. A line longer than [`MAX_LINE`] bytes is refused, so a peer
//! cannot make us buffer without bound. A whole line must arrive within the
//! time-out ([`Deadline`]), so a peer cannot hold us by sending it byte by
//! byte.
//!
//! # Layout
//!
//! - `src/lib.rs` (this file), in reading order:
//!   - [`read_line`] and [`LineError`]: framing, the one idea both ends share;
//!   - [`Deadline`]: a bound on a whole line, not on each read;
//!   - [`run_server`]: accept one client, greet it, read its reply;
//!   - [`run_client`] and [`Delivery`]: connect, read the greeting, answer,
//!     half-close, wait for the server's close;
//!   - [`connect`]: connecting with a time-out.
//! - `src/main.rs`: the command line (`server` and `client`), and the
//!   `hint:` lines for the usual errors.
//! - `tests/together.rs` runs both real programs; `tests/server.rs` plays the
//!   client and `tests/client.rs` the server, byte for byte;
//!   `tests/command_line.rs` checks the flags and their errors;
//!   `tests/common/` is the test toolkit every lesson shares.
//!
//! # Optional on a first reading
//!
//! The `Display` and `hint` of [`LineError`] (the words a student reads when
//! something fails), [`show_bytes`], [`unbracketed`] and [`display_address`]
//! (`--host` with an IPv6 address), and [`server_command`].
//!
//! `main.rs` calls [`run_server`] (with a listener it has bound) or
//! [`run_client`]; tests call them in-process too.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::Context;

/// The port lesson 02 uses unless told otherwise (7000 + lesson number).
pub const DEFAULT_PORT: u16 = 7002;

/// What the server says when `--greeting` is not given.
pub const DEFAULT_GREETING: &str = "Hello, client! I am the server.";

/// What the client answers when `--message` is not given.
pub const DEFAULT_MESSAGE: &str = "Hello, server!";

/// The longest line either side accepts, in bytes, without its `"\n"`.
pub const MAX_LINE: usize = 64 * 1024;

// ANCHOR: read_line
/// Reads one line of at most `max` bytes and returns it without its `"\n"`.
///
/// TCP delivers a stream of bytes, not messages: one read may return half
/// a line, or a line and a half. So we frame messages as lines and let a
/// `BufRead` collect bytes until the `"\n"` (a `BufReader` keeps whatever
/// came after it for the next call).
///
/// `take(max + 1)` stops reading after `max + 1` bytes, so a peer that
/// never sends `"\n"` costs us at most that much memory. How long we wait
/// is the reader's business: the server and the client read through a
/// [`Deadline`], so the whole line must arrive in time.
pub fn read_line(reader: &mut impl BufRead, max: usize) -> Result<String, LineError> {
    let mut line = Vec::new();
    let limit = max as u64 + 1;
    if let Err(error) = reader.by_ref().take(limit).read_until(b'\n', &mut line) {
        // On an error `line` still holds the bytes that did arrive: they
        // tell a student what the other side actually sent.
        return Err(if is_timeout(&error) {
            LineError::TimedOut { received: line }
        } else {
            LineError::Io {
                received: line,
                error,
            }
        });
    }

    if line.is_empty() {
        // `read_until` returns 0 bytes only at end of stream.
        return Err(LineError::Closed);
    }
    if line.ends_with(b"\n") {
        line.pop();
        if line.ends_with(b"\r") {
            line.pop();
        }
    } else if line.len() > max {
        return Err(LineError::TooLong { max });
    }
    // Otherwise the stream ended after the line: a last line may omit "\n".

    String::from_utf8(line).map_err(|error| LineError::NotUtf8 {
        valid_up_to: error.utf8_error().valid_up_to(),
        bytes: error.into_bytes(),
    })
}
// ANCHOR_END: read_line

/// Why [`read_line`] found no line. Each case names the bytes that did
/// arrive, because that is what tells you which side is wrong.
#[derive(Debug)]
pub enum LineError {
    /// The stream ended before any byte of a line arrived.
    Closed,
    /// More than `max` bytes arrived without a `"\n"`.
    TooLong {
        /// The limit that was passed.
        max: usize,
    },
    /// The line is not UTF-8 text.
    NotUtf8 {
        /// The line as it arrived.
        bytes: Vec<u8>,
        /// How many bytes from the start are valid UTF-8.
        valid_up_to: usize,
    },
    /// The time-out passed before the line was complete.
    TimedOut {
        /// What arrived before the time-out (maybe nothing).
        received: Vec<u8>,
    },
    /// The connection failed, for example because the peer reset it.
    Io {
        /// What arrived before the failure (maybe nothing).
        received: Vec<u8>,
        /// What the read returned.
        error: io::Error,
    },
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Closed => write!(f, "the connection was closed before a line arrived"),
            LineError::TooLong { max } => write!(
                f,
                "more than {max} bytes arrived without a \"\\n\": the line is too long"
            ),
            LineError::NotUtf8 { bytes, valid_up_to } => write!(
                f,
                "the line is not UTF-8 text (the bytes go wrong at byte {valid_up_to}): {}",
                show_bytes(bytes)
            ),
            LineError::TimedOut { received } if received.is_empty() => {
                write!(f, "nothing arrived in time")
            }
            LineError::TimedOut { received } => write!(
                f,
                "received {}, but no \"\\n\" to end the line in time",
                show_bytes(received)
            ),
            LineError::Io { received, error } if received.is_empty() => write!(f, "{error}"),
            LineError::Io { received, error } => write!(
                f,
                "{error}, after receiving {} with no \"\\n\"",
                show_bytes(received)
            ),
        }
    }
}

impl std::error::Error for LineError {}

impl LineError {
    /// The usual cause of this error, for a `hint:` line; `peer` names the
    /// other side ("the client" or "the server").
    pub fn hint(&self, peer: &str) -> Option<String> {
        let hint = match self {
            LineError::Closed => format!(
                "{peer} hung up without sending its line: it closed the connection too \
                 early, or it failed (see its own output)"
            ),
            LineError::NotUtf8 { .. } => format!(
                "lines are UTF-8 text; {peer} sent bytes in another encoding, or binary data"
            ),
            LineError::TimedOut { received } if received.is_empty() => format!(
                "{peer} is connected but sent nothing: it may be waiting for us, or its \
                 line may sit in a buffer it never flushed"
            ),
            LineError::TimedOut { .. } => format!(
                "a line ends with \"\\n\": {peer} left it out, kept the rest of the line \
                 in a buffer it never flushed, or sends it too slowly"
            ),
            LineError::TooLong { .. } | LineError::Io { .. } => return None,
        };
        Some(hint)
    }
}

/// Shows bytes from the wire: as an escaped string when they are UTF-8, as
/// an escaped byte string (`b"\xff"`) when not, cut after 80 bytes.
pub fn show_bytes(bytes: &[u8]) -> String {
    const SHOWN: usize = 80;
    let head = &bytes[..bytes.len().min(SHOWN)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => format!("{:?}", text),
        Err(_) => format!("b\"{}\"", head.escape_ascii()),
    };
    if bytes.len() > SHOWN {
        format!("{text}... ({} bytes in all)", bytes.len())
    } else {
        format!("{text} ({} bytes)", bytes.len())
    }
}

// ANCHOR: deadline
/// A socket to read from within a deadline: each read waits at most for
/// what is left of the time, so the whole line has a bound, not each read.
///
/// A read time-out alone restarts with every read. A peer that sends one
/// byte every 9 seconds never trips a 10-second time-out, and a line of a
/// few hundred bytes then holds a server that serves one client for hours.
/// Reading through a `Deadline` (wrapped in a `BufReader`, so [`read_line`]
/// can use it), the line must be complete in time, however it trickles in.
pub struct Deadline<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl<'a> Deadline<'a> {
    /// Reads from `stream` for at most `time`, counted from now.
    pub fn new(stream: &'a TcpStream, time: Duration) -> Self {
        Deadline {
            stream,
            deadline: Instant::now() + time,
        }
    }

    /// Gives the next step of the conversation `time` of its own, from now.
    pub fn restart(&mut self, time: Duration) {
        self.deadline = Instant::now() + time;
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // The time is up. (`set_read_timeout` would refuse a zero
                // time-out anyway: to the system, zero means "wait for ever".)
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(buffer) {
                // A read with a time-out is interrupted when the program is
                // stopped (Ctrl-Z) and continued (`fg`): wait for the rest.
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
        }
    }
}
// ANCHOR_END: deadline

// ANCHOR: server
/// The server: accepts one client, sends it `greeting` as a line, reads
/// its reply line, and returns the reply.
///
/// `events` receives one short line per event (`main` passes standard
/// output). `timeout` bounds each step with the client: taking the greeting,
/// and sending the whole reply line. So a client that never answers, or
/// answers one byte at a time, cannot hold the server for ever. Waiting in
/// `accept` for a client to come is not bounded: that is what a server is
/// for.
pub fn run_server(
    listener: &TcpListener,
    greeting: &str,
    timeout: Duration,
    events: &mut impl Write,
) -> anyhow::Result<String> {
    let (stream, peer) = listener.accept().context("accepting a client")?;
    writeln!(events, "client {peer} connected")?;

    let reply = greet_and_read_reply(&stream, greeting, timeout)
        .with_context(|| format!("talking to client {peer}"))?;
    writeln!(events, "client says: {reply}")?;
    Ok(reply)
    // `stream` is dropped here: the connection closes, and the client,
    // which waits for that, reads end of stream.
}

/// Sends the greeting line and reads the reply line.
///
/// `run_server` owns the stream; this function only borrows it. It takes
/// `mut stream: &TcpStream` because std implements `Read` and `Write` for
/// `&TcpStream` as well as for `TcpStream`: a socket can be read and written
/// through a shared reference (the system keeps the socket's state). The
/// `mut` is on our copy of the reference, which `write_all` needs to borrow
/// mutably; the `TcpStream` itself is not changed.
fn greet_and_read_reply(
    mut stream: &TcpStream,
    greeting: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    stream.set_write_timeout(Some(timeout))?;

    // One line: the text and its "\n". `write_all` sends every byte (a bare
    // `write` may send only some). Nothing is buffered in our program, so
    // there is nothing to flush: the bytes are with the system now.
    if let Err(error) = stream.write_all(format!("{greeting}\n").as_bytes()) {
        if is_timeout(&error) {
            anyhow::bail!("sending the greeting: the client took nothing for {timeout:?}");
        }
        return Err(error).context("sending the greeting");
    }

    // The reply must be complete within `timeout`, however it trickles in.
    let mut reader = BufReader::new(Deadline::new(stream, timeout));
    let reply = read_line(&mut reader, MAX_LINE)
        .with_context(|| format!("reading the client's reply line (time-out {timeout:?})"))?;
    Ok(reply)
}
// ANCHOR_END: server

/// What happened to the client's message.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The message was sent, the write half shut down, and the server then
    /// closed the connection in order (a FIN): the normal end.
    ServerClosed,
    /// The server had closed the connection before it read our message, and
    /// its system answered with a reset. Lesson 01's server does that: it
    /// only greets.
    ServerHungUp,
}

// ANCHOR: client
/// The client: connects to `host:port`, reads the server's greeting line,
/// answers with `message` as a line, shuts down its write half, and waits
/// for the server to close the connection. Returns the greeting and what
/// happened to the message.
///
/// `timeout` bounds the connect and each step with the server: the whole
/// greeting line, the send, and the server's close.
pub fn run_client(
    host: &str,
    port: u16,
    message: &str,
    timeout: Duration,
    events: &mut impl Write,
) -> anyhow::Result<(String, Delivery)> {
    let stream = connect(host, port, timeout)
        .with_context(|| format!("cannot connect to {}", display_address(host, port)))?;
    stream.set_write_timeout(Some(timeout))?;

    // The greeting: one line, read through a buffer, complete within `timeout`.
    let mut reader = BufReader::new(Deadline::new(&stream, timeout));
    let greeting = read_line(&mut reader, MAX_LINE)
        .with_context(|| format!("reading the server's greeting line (time-out {timeout:?})"))?;
    writeln!(events, "server says: {greeting}")?;

    // Our message, then the server's close. The server sends nothing after
    // the greeting: it closes once it has read our line, and our read
    // returns 0. Waiting for that tells us the conversation ended in order,
    // and lets the time-out catch a server that never reads. (Through the
    // same `BufReader`: bytes the server sent after the greeting may already
    // wait in its buffer.) Both steps end in one `match`: a server that
    // hangs up may show it while we send or while we wait, by chance.
    let mut after_greeting = [0u8; 256];
    let ended = send_line_and_shut_down(&stream, message).and_then(|()| {
        reader.get_mut().restart(timeout);
        reader.read(&mut after_greeting)
    });
    match ended {
        Ok(0) => Ok((greeting, Delivery::ServerClosed)),
        Ok(n) => anyhow::bail!(
            "the server sent more than one line: {} came after the greeting",
            show_bytes(&after_greeting[..n])
        ),
        Err(error) if server_hung_up(&error) => server_left(greeting, events),
        Err(error) if is_timeout(&error) => anyhow::bail!(
            "waiting for the server to close the connection: it neither closed nor sent \
             anything within {timeout:?} of our message"
        ),
        Err(error) => Err(error).context("sending our message, or waiting for the server to close"),
    }
}

/// Our reply: one line, then a half-close. Shutting down only the write
/// half sends a FIN: the server's next read returns 0 bytes, end of stream,
/// so it knows nothing more is coming, and we can still read.
///
/// Like the server's `greet_and_read_reply`, it writes to a stream it does
/// not own, through `mut stream: &TcpStream`.
fn send_line_and_shut_down(mut stream: &TcpStream, message: &str) -> io::Result<()> {
    stream.write_all(format!("{message}\n").as_bytes())?;
    stream.shutdown(Shutdown::Write)
}

/// The server closed the connection before our message reached it, and its
/// system answered with a reset. That is not our failure (the server may
/// only greet, like lesson 01's), so we say so and carry on. The error
/// text varies with the moment the reset arrived ("broken pipe",
/// "connection reset", "not connected"); the meaning does not, so the line
/// we print does not quote it.
fn server_left(greeting: String, events: &mut impl Write) -> anyhow::Result<(String, Delivery)> {
    writeln!(
        events,
        "the server had closed the connection; it did not read our message"
    )?;
    Ok((greeting, Delivery::ServerHungUp))
}
// ANCHOR_END: client

// ANCHOR: connect
/// Connects to the first address of `host` that answers within `timeout`.
///
/// `TcpStream::connect` would wait as long as the system lets it (minutes,
/// for an address that drops packets); `connect_timeout` takes a bound but
/// needs an address already resolved, so we resolve the name ourselves.
/// A name such as `localhost` may have several addresses (`::1` and
/// `127.0.0.1`): we try each, and report the last error.
///
/// `(host, port)` is a pair, not a `"host:port"` string, so an IPv6 address
/// such as `::1` needs no brackets (and [`unbracketed`] takes off the ones a
/// user may have typed).
pub fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in (unbracketed(host), port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the host name has no address")))
}
// ANCHOR_END: connect

/// `--host` as the system wants it. An IPv6 address is often written in
/// brackets, `[::1]`, because that is how it stands before a port
/// (`[::1]:7002`); the brackets are not part of the address, so one pair is
/// taken off. `::1`, `127.0.0.1` and names such as `localhost` pass unchanged.
pub fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host` and `port` as one address for messages: `127.0.0.1:7002`, or
/// `[::1]:7002` for an IPv6 address, where a bare colon would be ambiguous.
pub fn display_address(host: &str, port: u16) -> String {
    let host = unbracketed(host);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// True for the error a read or write returns when its time-out passed:
/// Linux says WouldBlock, Windows says TimedOut (and a [`Deadline`] whose
/// time is up says TimedOut too).
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// True for the errors that mean the server is gone: the write hit a closed
/// connection ("broken pipe"), the server's system answered with a reset,
/// or the reset has already torn the socket down ("not connected").
fn server_hung_up(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
    )
}

/// The exact command that starts this lesson's server for a client that
/// connects to `host:port`, for the hint after "connection refused".
pub fn server_command(host: &str, port: u16) -> String {
    let mut command = String::from("cargo run -p lesson-02-client -- server");
    if host != "127.0.0.1" {
        command.push_str(&format!(" --host {host}"));
    }
    if port != DEFAULT_PORT {
        command.push_str(&format!(" --port {port}"));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one line from `bytes` as if they had come from the network.
    fn line_from(bytes: &[u8], max: usize) -> Result<String, LineError> {
        read_line(&mut io::Cursor::new(bytes), max)
    }

    #[test]
    fn a_line_ends_at_the_newline_and_loses_it() {
        let mut reader = io::Cursor::new(&b"first\nsecond\r\nthird"[..]);
        let lines: Vec<_> = (0..3)
            .map(|_| read_line(&mut reader, 100).expect("reading a line"))
            .collect();
        assert_eq!(lines, ["first", "second", "third"]);
        assert!(matches!(
            read_line(&mut reader, 100),
            Err(LineError::Closed)
        ));
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_accepted_and_one_more_byte_is_not() {
        let mut exact = vec![b'a'; 10];
        exact.push(b'\n');
        assert_eq!(
            line_from(&exact, 10).expect("a line of 10 bytes"),
            "a".repeat(10)
        );

        let mut over = vec![b'a'; 11];
        over.push(b'\n');
        let result = line_from(&over, 10);
        assert!(
            matches!(result, Err(LineError::TooLong { max: 10 })),
            "{result:?}"
        );
    }

    #[test]
    fn a_last_line_without_newline_may_have_exactly_the_limit_and_no_more() {
        // At end of stream the line ends without "\n": the same limit holds.
        assert_eq!(
            line_from(&[b'a'; 10], 10).expect("a last line of 10 bytes"),
            "a".repeat(10)
        );
        let result = line_from(&[b'a'; 11], 10);
        assert!(
            matches!(result, Err(LineError::TooLong { max: 10 })),
            "{result:?}"
        );
    }

    #[test]
    fn a_failed_read_shows_the_bytes_that_came_before_it() {
        let reset = || io::Error::from(io::ErrorKind::ConnectionReset);
        let nothing = LineError::Io {
            received: Vec::new(),
            error: reset(),
        };
        assert_eq!(nothing.to_string(), reset().to_string());
        let some = LineError::Io {
            received: b"Hel".to_vec(),
            error: reset(),
        };
        assert_eq!(
            some.to_string(),
            format!(
                "{}, after receiving \"Hel\" (3 bytes) with no \"\\n\"",
                reset()
            )
        );
    }

    #[test]
    fn shown_bytes_are_cut_after_80() {
        let exactly = "a".repeat(80);
        assert_eq!(
            show_bytes(exactly.as_bytes()),
            format!("\"{exactly}\" (80 bytes)")
        );
        let over = "a".repeat(81);
        assert_eq!(
            show_bytes(over.as_bytes()),
            format!("\"{exactly}\"... (81 bytes in all)")
        );
        assert_eq!(show_bytes(b"\xff"), "b\"\\xff\" (1 bytes)");
    }

    #[test]
    fn the_bracketed_form_of_an_ipv6_address_loses_its_brackets() {
        assert_eq!(unbracketed("[::1]"), "::1");
        assert_eq!(unbracketed("::1"), "::1");
        assert_eq!(unbracketed("localhost"), "localhost");
        assert_eq!(display_address("[::1]", 7002), "[::1]:7002");
        assert_eq!(display_address("::1", 7002), "[::1]:7002");
        assert_eq!(display_address("127.0.0.1", 7002), "127.0.0.1:7002");
    }

    #[test]
    fn invalid_utf8_is_refused_and_shown() {
        let error = line_from(b"ok\xff\xfe\n", 100).expect_err("invalid UTF-8");
        assert_eq!(
            error.to_string(),
            "the line is not UTF-8 text (the bytes go wrong at byte 2): b\"ok\\xff\\xfe\" (4 bytes)"
        );
    }

    #[test]
    fn the_hint_names_the_server_command_only_with_the_flags_it_needs() {
        assert_eq!(
            server_command("127.0.0.1", DEFAULT_PORT),
            "cargo run -p lesson-02-client -- server"
        );
        assert_eq!(
            server_command("127.0.0.1", 7001),
            "cargo run -p lesson-02-client -- server --port 7001"
        );
        assert_eq!(
            server_command("::1", DEFAULT_PORT),
            "cargo run -p lesson-02-client -- server --host ::1"
        );
    }
}
