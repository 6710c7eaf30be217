//! The echo client: it sends lines, reads every echo back, and checks it
//! byte for byte.
//!
//! Read it top to bottom: [`run_client`] starts a writer thread and reads on
//! its own thread; `send_lines` is the writer; `check_echoes` the reader;
//! [`EchoError`] is what the reader reports when an echo goes wrong. How a
//! long line is printed in pieces (`print_text`) is optional on a first
//! reading.
//!
//! Memory stays bounded however long a line is: a line longer than
//! [`PIECE_SIZE`] bytes is sent, and its echo checked, one piece at a time,
//! and the writer may be at most [`PIECES_IN_FLIGHT`] pieces ahead of the
//! reader.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;
use std::time::Duration;

use anyhow::{Context, bail};

/// How long the client waits to connect, and then for each echo.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest piece of a line the client sends, and checks, at once.
pub const PIECE_SIZE: usize = 64 * 1024;

/// How many pieces the writer may have sent whose echo the reader has not
/// checked yet. With [`PIECE_SIZE`], at most 1 MiB of the input is held.
pub const PIECES_IN_FLIGHT: usize = 16;

/// After a wrong echo, how many more bytes the client reads to show the
/// server's whole answer (see [`EchoError::received`]).
pub const KEPT_AFTER_DIFFERENCE: usize = 256;

/// What a successful [`run_client`] sent and got back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientReport {
    /// Lines sent whose echo came back intact.
    pub lines: u64,
    /// Bytes sent and received back, counting each line's `\n`.
    pub bytes: u64,
}

// ANCHOR: run_client
/// Sends every line of `input` to the echo server at `host`:`port`, checks
/// each echo, and writes it to `out` as `echo: <line>`.
///
/// Each line goes out with a `\n` at its end (one is added to a last line
/// that lacks it). At the end of `input` the client shuts down its write
/// half, reads what is still in flight, and expects the server to close.
///
/// Fails if it cannot connect within `timeout`, or if an echo goes wrong:
/// then the error holds an [`EchoError`] (find it with
/// `error.downcast_ref::<EchoError>()`), which says which line, what was
/// sent and what came back.
///
/// Writing and reading run at the same time: a thread sends the lines while
/// this thread reads the echoes. A client that wrote a large input before
/// reading would deadlock against any echo server (see the crate's docs).
pub fn run_client<R: BufRead + Send + 'static, W: Write>(
    host: &str,
    port: u16,
    input: R,
    timeout: Duration,
    out: &mut W,
) -> anyhow::Result<ClientReport> {
    let stream = connect(host, port, timeout)?;
    // Bound every wait on the server: no echo within `timeout` is an error.
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    // Each piece the writer sends also goes into this channel, so the reader
    // knows what to expect. The channel holds at most PIECES_IN_FLIGHT
    // pieces: a writer that far ahead waits for the reader.
    let (sent_pieces, expected_pieces) = mpsc::sync_channel::<Vec<u8>>(PIECES_IN_FLIGHT);
    let write_half = stream
        .try_clone()
        .context("cannot clone the socket for writing")?;
    let writer = thread::spawn(move || send_lines(input, write_half, sent_pieces, timeout));

    let result = check_echoes(&stream, expected_pieces, timeout, out);
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

/// Connects to the first address of `host` that answers within `timeout`.
///
/// `(host, port)` is a pair, not a `"host:port"` string, so an IPv6 address
/// such as `::1` needs no brackets (and [`unbracketed`] takes off the ones a
/// user may have typed).
fn connect(host: &str, port: u16, timeout: Duration) -> anyhow::Result<TcpStream> {
    let shown = display_address(host, port);
    let addresses: Vec<SocketAddr> = (unbracketed(host), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {shown}"))?
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
        Some(err) => Err(err).with_context(|| format!("cannot connect to {shown}")),
        None => bail!("cannot connect to {shown}: it resolves to no address"),
    }
}

// ANCHOR: send_lines
/// The writer thread: sends each line of `input` with its `\n`, then shuts
/// down the write half so the server's `read` returns 0 (end of stream).
///
/// A line is read and sent a piece at a time, each piece up to the next
/// `\n` but never longer than [`PIECE_SIZE`], so a line of 100 MB costs the
/// client no more memory than a line of 100 bytes.
fn send_lines<R: BufRead>(
    mut input: R,
    mut stream: TcpStream,
    sent_pieces: SyncSender<Vec<u8>>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut line_number: u64 = 1;
    // Whether the last piece sent ended in the middle of a line.
    let mut mid_line = false;
    loop {
        let piece = match read_piece(&mut input, mid_line) {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(err) => {
                // Finish the conversation cleanly, so the reader is not left
                // waiting for a close, and report the real problem.
                let _ = stream.shutdown(Shutdown::Write);
                return Err(err).context("cannot read the input");
            }
        };
        mid_line = piece.last() != Some(&b'\n');

        // Tell the reader first, so it is never surprised by an echo.
        if sent_pieces.send(piece.clone()).is_err() {
            // The reader has given up (its error is the one reported).
            return Ok(());
        }
        // One write_all for the line and its `\n`: the whole line (or piece
        // of a long line), in one go.
        match stream.write_all(&piece) {
            Ok(()) => {}
            Err(err) if is_timeout(&err) => bail!(
                "cannot send line {line_number}: the server took none of it for {}s",
                timeout.as_secs_f64()
            ),
            Err(err) => return Err(err).context(format!("cannot send line {line_number}")),
        }
        if !mid_line {
            line_number += 1;
        }
    }
    // "I have nothing more to send." The read half stays open for the echoes
    // still in flight. Without this the server would wait for more forever.
    stream
        .shutdown(Shutdown::Write)
        .context("cannot shut down the write half")?;
    Ok(())
}

/// The next piece of `input`: up to and including the next `\n`, but never
/// more than [`PIECE_SIZE`] bytes; `None` at the end of the input.
/// `mid_line` says whether the previous piece ended inside a line: then a
/// line that ends with the input gets its `\n` even if no byte is left.
fn read_piece(input: &mut impl BufRead, mid_line: bool) -> io::Result<Option<Vec<u8>>> {
    // Bytes, not a String: the server echoes any bytes, so the client sends
    // any bytes too (invalid UTF-8 included).
    let mut piece = Vec::new();
    input
        .by_ref()
        .take(PIECE_SIZE as u64)
        .read_until(b'\n', &mut piece)?;
    // Shorter than a piece and no "\n": the input has ended.
    if piece.len() < PIECE_SIZE && piece.last() != Some(&b'\n') {
        if piece.is_empty() && !mid_line {
            return Ok(None);
        }
        // The last line has no "\n": give it one.
        piece.push(b'\n');
    }
    Ok(Some(piece))
}
// ANCHOR_END: send_lines

// ANCHOR: check_echoes
/// The reader: for each piece the writer sent, reads back exactly as many
/// bytes and compares them; then expects the server to close.
///
/// It reads and writes a socket it does not own, through `mut stream:
/// &TcpStream` (see [`crate::echo_client`], which does the same).
fn check_echoes<W: Write>(
    mut stream: &TcpStream,
    expected_pieces: Receiver<Vec<u8>>,
    timeout: Duration,
    out: &mut W,
) -> anyhow::Result<ClientReport> {
    let mut report = ClientReport::default();
    // Where the next piece starts in its line (0: it starts a new line), and
    // the start of a character the previous piece of the line cut in two.
    let mut offset: u64 = 0;
    let mut unfinished = Vec::new();
    // The loop ends when the writer has sent everything and dropped its sender.
    for sent in expected_pieces {
        let line = report.lines + 1;
        let echo = match read_echo(stream, &sent, timeout) {
            Ok(echo) => echo,
            Err(wrong) => {
                if offset > 0 {
                    // End the part of this long line that was already printed.
                    writeln!(out)?;
                }
                return Err(EchoError {
                    kind: wrong.kind,
                    line,
                    offset,
                    sent,
                    received: wrong.received,
                }
                .into());
            }
        };
        if offset == 0 {
            write!(out, "echo: ")?;
        }
        let line_ends = sent.last() == Some(&b'\n');
        print_text(out, &mut unfinished, &echo, line_ends)?;
        out.flush()?;
        report.bytes += sent.len() as u64;
        if line_ends {
            report.lines += 1;
            offset = 0;
        } else {
            offset += sent.len() as u64;
        }
    }

    // Everything sent has come back and our write half is shut down. An echo
    // server now sees end of stream and closes: read must return 0.
    let mut extra = [0u8; 64];
    let after_last_line = |kind, received: &[u8]| EchoError {
        kind,
        line: report.lines + 1,
        offset: 0,
        sent: Vec::new(),
        received: received.to_vec(),
    };
    loop {
        return match stream.read(&mut extra) {
            Ok(0) => Ok(report),
            Ok(n) => Err(after_last_line(EchoErrorKind::SentMore, &extra[..n]).into()),
            // Stopped (Ctrl-Z) and continued (`fg`) while waiting: wait on.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if is_timeout(&err) => {
                Err(after_last_line(EchoErrorKind::DidNotClose(timeout), b"").into())
            }
            Err(err) => Err(err).context("waiting for the server to close after the last echo"),
        };
    }
}

// ANCHOR_END: check_echoes

// ANCHOR: read_echo
/// What went wrong with one echo, and what the server sent.
struct WrongEcho {
    kind: EchoErrorKind,
    received: Vec<u8>,
}

/// Reads the echo of `sent`: exactly as many bytes, however many `read`
/// calls that takes (one read returns what has arrived so far, maybe half
/// a line). Returns the echo, or what went wrong with the bytes that did
/// arrive.
fn read_echo(mut stream: &TcpStream, sent: &[u8], timeout: Duration) -> Result<Vec<u8>, WrongEcho> {
    // Never more than the client itself sent: the length is known.
    let mut echo = vec![0u8; sent.len()];
    let mut received = 0;
    let mut ended = None;
    while received < echo.len() {
        match stream.read(&mut echo[received..]) {
            Ok(0) => {
                ended = Some(EchoErrorKind::Closed);
                break;
            }
            Ok(n) => received += n,
            // A read with a time-out is interrupted when the client is
            // stopped (Ctrl-Z) and continued (`fg`): read again.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if is_timeout(&err) => {
                ended = Some(EchoErrorKind::TimedOut(timeout));
                break;
            }
            Err(err) => {
                ended = Some(EchoErrorKind::Failed(err));
                break;
            }
        }
    }
    echo.truncate(received);

    let at = first_difference(sent, &echo);
    if at < echo.len() {
        // A byte that arrived differs. If the server is still talking, read
        // on a little, so that the error shows its whole answer.
        if ended.is_none() {
            read_rest_of_answer(stream, &mut echo, at);
        }
        return Err(WrongEcho {
            kind: EchoErrorKind::Differs,
            received: echo,
        });
    }
    match ended {
        None => Ok(echo),
        Some(kind) => Err(WrongEcho {
            kind,
            received: echo,
        }),
    }
}

/// After a wrong echo, reads on until a `\n` after the difference, the
/// server's close, the time-out, or [`KEPT_AFTER_DIFFERENCE`] more bytes.
/// An answer such as `ERR server busy\n` then shows whole, not cut at the
/// length of the line we sent.
fn read_rest_of_answer(mut stream: &TcpStream, received: &mut Vec<u8>, at: usize) {
    let limit = received.len() + KEPT_AFTER_DIFFERENCE;
    let mut more = [0u8; KEPT_AFTER_DIFFERENCE];
    while received.len() < limit && !received[at..].contains(&b'\n') {
        match stream.read(&mut more[..limit - received.len()]) {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&more[..n]),
        }
    }
}
// ANCHOR_END: read_echo

// ANCHOR: echo_error
/// Why the echoes went wrong, with the bytes on both sides.
///
/// [`run_client`] returns it inside its `anyhow::Error`; a caller finds it
/// with `error.downcast_ref::<EchoError>()`. Its message says what happened;
/// what it probably means (a server busy with another client, a server that
/// answers with an error line) depends on the server, so each program adds
/// its own `hint:` (see `hint_for` in `main.rs`).
#[derive(Debug)]
pub struct EchoError {
    /// What went wrong.
    pub kind: EchoErrorKind,
    /// The line it went wrong on: 1 for the first. After the last line (the
    /// server sent more, or did not close), the number of lines sent plus one.
    pub line: u64,
    /// Where in that line `sent` and `received` start: 0, unless the line is
    /// longer than [`PIECE_SIZE`] and a later piece of it went wrong.
    pub offset: u64,
    /// What the client sent from byte `offset` of the line on: the whole
    /// line, or the piece of a long line (at most [`PIECE_SIZE`] bytes).
    /// Empty after the last line.
    pub sent: Vec<u8>,
    /// What the server sent back for `sent`: everything up to its close or
    /// the time-out; and when it differs, everything up to the first `\n`
    /// after the difference (at most [`KEPT_AFTER_DIFFERENCE`] bytes more
    /// than `sent`). So a server that answers `hello\n` with
    /// `ERR server busy\n` leaves exactly those 16 bytes here.
    pub received: Vec<u8>,
}

/// What went wrong with an echo (see [`EchoError`]).
#[derive(Debug)]
pub enum EchoErrorKind {
    /// Bytes came back that differ from the bytes sent.
    Differs,
    /// The server closed the connection before the whole echo came back.
    Closed,
    /// Nothing arrived for this long while an echo was due.
    TimedOut(Duration),
    /// The connection failed (for example, it was reset) while an echo was
    /// due. The error is also the [`EchoError`]'s `source()`.
    Failed(io::Error),
    /// The server sent more bytes after the last echo.
    SentMore,
    /// After the last echo, the server neither closed nor sent anything for
    /// this long.
    DidNotClose(Duration),
}
// ANCHOR_END: echo_error

impl fmt::Display for EchoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        // Counted from the start of the line.
        let came_back = self.offset + self.received.len() as u64;
        let sent = self.offset + self.sent.len() as u64;
        match &self.kind {
            EchoErrorKind::Differs => {
                let at = first_difference(&self.sent, &self.received);
                write!(
                    f,
                    "the echo of line {line} differs from what was sent, from byte {} on: \
                     sent {}, received {}",
                    self.offset + at as u64,
                    excerpt(&self.sent, at),
                    excerpt(&self.received, at)
                )
            }
            EchoErrorKind::Closed => write!(
                f,
                "the server closed the connection early: {came_back} of {sent} bytes of the \
                 echo of line {line} arrived (sent {}, received {})",
                excerpt(&self.sent, 0),
                excerpt(&self.received, 0)
            ),
            EchoErrorKind::TimedOut(timeout) => write!(
                f,
                "waiting for the echo of line {line} ({came_back} of {sent} bytes received): \
                 nothing arrived for {}s",
                timeout.as_secs_f64()
            ),
            EchoErrorKind::Failed(_) => write!(
                f,
                "waiting for the echo of line {line} ({came_back} of {sent} bytes received)"
            ),
            EchoErrorKind::SentMore => write!(
                f,
                "the server sent more than it was sent: {} after the last echo",
                excerpt(&self.received, 0)
            ),
            EchoErrorKind::DidNotClose(timeout) => write!(
                f,
                "waiting for the server to close after the last echo: nothing arrived for {}s",
                timeout.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for EchoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            EchoErrorKind::Failed(err) => Some(err),
            _ => None,
        }
    }
}

/// Writes `bytes` as text, `�` for what is not UTF-8, for the `echo:` lines.
///
/// A long line arrives in pieces, and a piece may end in the middle of a
/// character. Those first bytes of a character wait in `unfinished` until
/// the next piece of the line completes it; at the end of the line, nothing
/// waits.
fn print_text(
    out: &mut impl Write,
    unfinished: &mut Vec<u8>,
    bytes: &[u8],
    line_ends: bool,
) -> io::Result<()> {
    let mut text = std::mem::take(unfinished);
    text.extend_from_slice(bytes);
    let complete = if line_ends {
        text.len()
    } else {
        text.len() - unfinished_char_len(&text)
    };
    *unfinished = text.split_off(complete);
    write!(out, "{}", String::from_utf8_lossy(&text))
}

/// How many bytes at the end of `bytes` begin a UTF-8 character that is
/// not complete yet: 0 to 3.
fn unfinished_char_len(bytes: &[u8]) -> usize {
    // A character has at most 4 bytes, so its first byte is among the last 3.
    for back in 1..=bytes.len().min(3) {
        let char_len = match bytes[bytes.len() - back] {
            // A continuation byte (10xxxxxx): the first byte is further back.
            0x80..=0xBF => continue,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            // ASCII, or a byte that is never UTF-8: nothing to wait for.
            _ => return 0,
        };
        return if char_len > back { back } else { 0 };
    }
    0
}

/// True for the error a read returns when its time-out passed: Linux says
/// WouldBlock ("Resource temporarily unavailable"), Windows TimedOut.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
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

/// `--host` as the system wants it. An IPv6 address is often written in
/// brackets, `[::1]`, because that is how it stands before a port
/// (`[::1]:7003`); the brackets are not part of the address, so one pair is
/// taken off. `::1`, `127.0.0.1` and names such as `localhost` pass unchanged.
pub fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host` and `port` as one address for messages: `127.0.0.1:7003`, or
/// `[::1]:7003` for an IPv6 address, where a bare colon would be ambiguous.
pub fn display_address(host: &str, port: u16) -> String {
    let host = unbracketed(host);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::net::TcpListener;

    /// Two ends of a loopback connection: ours, and the peer's.
    fn connected_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
        let addr = listener.local_addr().expect("reading the bound address");
        let ours = TcpStream::connect(addr).expect("connecting");
        let (peer, _) = listener.accept().expect("accepting");
        peer.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("setting a read time-out");
        (ours, peer)
    }

    /// Runs `send_lines` on `input` against a peer that reads everything.
    /// Returns the pieces it announced to the reader (at most 20: a writer
    /// that never stops is cut off there) and the bytes on the wire.
    fn pieces_sent(input: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
        let (ours, mut peer) = connected_pair();
        let (sent_pieces, pieces) = mpsc::sync_channel(PIECES_IN_FLIGHT);
        let input = Cursor::new(input.to_vec());
        let writer =
            thread::spawn(move || send_lines(input, ours, sent_pieces, Duration::from_secs(5)));
        let wire = thread::spawn(move || {
            let mut wire = Vec::new();
            peer.read_to_end(&mut wire).expect("reading what was sent");
            wire
        });
        let mut announced = Vec::new();
        while announced.len() < 20 {
            match pieces.recv_timeout(Duration::from_secs(5)) {
                Ok(piece) => announced.push(piece),
                Err(_) => break,
            }
        }
        drop(pieces);
        writer
            .join()
            .expect("the writer panicked")
            .expect("sending the lines");
        (announced, wire.join().expect("the reading thread panicked"))
    }

    #[test]
    fn each_line_goes_out_with_its_newline_as_one_piece() {
        let (pieces, wire) = pieces_sent(b"one\n\ntwo\nthree");
        assert_eq!(pieces, [&b"one\n"[..], b"\n", b"two\n", b"three\n"]);
        assert_eq!(wire, b"one\n\ntwo\nthree\n");
        let (pieces, wire) = pieces_sent(b"");
        assert!(pieces.is_empty() && wire.is_empty(), "{pieces:?} {wire:?}");
    }

    #[test]
    fn a_long_line_goes_out_in_pieces() {
        let mut line = vec![b'x'; 2 * PIECE_SIZE + 10];
        line.push(b'\n');
        let (pieces, wire) = pieces_sent(&line);
        let sizes: Vec<usize> = pieces.iter().map(Vec::len).collect();
        assert_eq!(sizes, [PIECE_SIZE, PIECE_SIZE, 11]);
        assert!(wire == line, "the wire holds {} bytes", wire.len());

        // A last line of exactly one piece, without "\n", gets its "\n" as
        // a piece of its own.
        let (pieces, wire) = pieces_sent(&vec![b'y'; PIECE_SIZE]);
        let sizes: Vec<usize> = pieces.iter().map(Vec::len).collect();
        assert_eq!(sizes, [PIECE_SIZE, 1]);
        assert_eq!(wire.len(), PIECE_SIZE + 1);
        assert_eq!(wire.last(), Some(&b'\n'));
    }

    #[test]
    fn a_send_that_times_out_names_its_line() {
        // The peer never reads: once the buffers between us are full, a
        // write waits for the time-out. Every line is one piece, so the line
        // it stops at is past the first.
        let (ours, _peer_that_never_reads) = connected_pair();
        ours.set_write_timeout(Some(Duration::from_secs(1)))
            .expect("setting a write time-out");
        let mut line = vec![b'z'; PIECE_SIZE - 1];
        line.push(b'\n');
        let input = Cursor::new(line.repeat(1000));
        let (sent_pieces, pieces) = mpsc::sync_channel(PIECES_IN_FLIGHT);
        // At most 2000 pieces, far more than the buffers hold: a writer
        // that never blocks is cut off, and the test fails instead of hanging.
        let drain = thread::spawn(move || pieces.iter().take(2000).count());
        let error = send_lines(input, ours, sent_pieces, Duration::from_secs(1))
            .expect_err("64 MB to a peer that never reads");
        drain.join().expect("the draining thread panicked");
        let message = format!("{error:#}");
        let line_number: u64 = message
            .strip_prefix("cannot send line ")
            .and_then(|rest| rest.strip_suffix(": the server took none of it for 1s"))
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("unexpected message {message:?}"));
        assert!(line_number > 1, "{message}");
    }

    #[test]
    fn a_send_to_a_peer_that_reset_the_connection_says_so() {
        let (ours, peer) = connected_pair();
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .expect("setting SO_LINGER to 0");
        drop(peer);
        let mut line = vec![b'r'; PIECE_SIZE - 1];
        line.push(b'\n');
        let (sent_pieces, pieces) = mpsc::sync_channel(PIECES_IN_FLIGHT);
        let drain = thread::spawn(move || pieces.iter().take(200).count());
        let error = send_lines(
            Cursor::new(line.repeat(100)),
            ours,
            sent_pieces,
            Duration::from_secs(5),
        )
        .expect_err("a peer that reset the connection");
        drain.join().expect("the draining thread panicked");
        let io_error = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<io::Error>())
            .unwrap_or_else(|| panic!("no io::Error in {error:#}"));
        assert!(
            matches!(
                io_error.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ) && format!("{error:#}").starts_with("cannot send line "),
            "{error:#}"
        );
    }

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

    #[test]
    fn a_character_cut_by_a_piece_waits_for_the_next_piece() {
        // "é" is 0xC3 0xA9, "你" is 0xE4 0xBD 0xA0, "🦀" is 0xF0 0x9F 0xA6 0x80.
        assert_eq!(unfinished_char_len(b"abc"), 0);
        assert_eq!(unfinished_char_len(b"a\xc3"), 1);
        assert_eq!(unfinished_char_len("é".as_bytes()), 0);
        assert_eq!(unfinished_char_len(b"\xe4\xbd"), 2);
        assert_eq!(unfinished_char_len(b"a\xf0\x9f\xa6"), 3);
        assert_eq!(unfinished_char_len("🦀".as_bytes()), 0);
        assert_eq!(unfinished_char_len(b"\xff"), 0);

        let mut out = Vec::new();
        let mut unfinished = Vec::new();
        let text = "héllo 你好 🦀\n".as_bytes();
        // Every cut, even inside a character, prints the same text.
        for cut in 0..text.len() {
            out.clear();
            print_text(&mut out, &mut unfinished, &text[..cut], false).expect("printing");
            print_text(&mut out, &mut unfinished, &text[cut..], true).expect("printing");
            assert_eq!(
                String::from_utf8_lossy(&out),
                "héllo 你好 🦀\n",
                "cut at {cut}"
            );
            assert!(unfinished.is_empty());
        }
    }

    #[test]
    fn the_bracketed_form_of_an_ipv6_address_loses_its_brackets() {
        assert_eq!(unbracketed("[::1]"), "::1");
        assert_eq!(unbracketed("::1"), "::1");
        assert_eq!(unbracketed("localhost"), "localhost");
        assert_eq!(display_address("[::1]", 7003), "[::1]:7003");
        assert_eq!(display_address("::1", 7003), "[::1]:7003");
        assert_eq!(display_address("127.0.0.1", 7003), "127.0.0.1:7003");
    }
}
