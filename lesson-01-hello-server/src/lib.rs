//! Lesson 01: a greeting server.
//!
//! The smallest useful TCP server: it waits for one client, sends it one line
//! of text, and hangs up. The code follows the six steps of the classic
//! Python greeting server in order (create a socket, bind, listen, accept,
//! send, close), and says wherever Rust's `std::net` does a step differently.
//!
//! What crosses the wire, byte for byte: the greeting in UTF-8, then one
//! `"\n"`, then the end of the stream (the server closes). Nothing is read
//! from the client.
//!
//! # Layout
//!
//! - `src/lib.rs` (this file): the steps. [`listen`] creates, binds and
//!   listens; [`greet_one_client`] accepts, sends and closes, and returns an
//!   [`Outcome`] that says what became of the client.
//! - `src/main.rs`: the command line. It parses the flags, calls [`listen`],
//!   prints `listening on ADDR`, calls [`greet_one_client`], and turns an
//!   error into `error:` and `hint:` lines and an exit status.
//! - `tests/greeting.rs`: the bytes on the wire, and clients that leave or
//!   never read; `tests/command_line.rs`: the flags and their errors;
//!   `tests/common/`: the test toolkit every lesson shares.
//!
//! # Reading order
//!
//! [`listen`] (steps 1 to 3), then `run` in `main.rs` (the ready line), then
//! [`greet_one_client`] (steps 4 to 6). The chapter of the book walks through
//! them in that order.
//!
//! # Optional on a first reading
//!
//! [`unbracketed`] and [`display_address`] (how `--host` takes an IPv6
//! address such as `[::1]`), `client_hung_up`, and `hint` in `main.rs`.
//!
//! The library takes an already bound listener, so a test can bind port 0
//! and run the server in-process.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::Context;

/// What the server says when `--greeting` is not given.
pub const DEFAULT_GREETING: &str = "Hello, client! I am the server.";

// ANCHOR: listen
/// Steps 1 to 3: create a socket, bind it to `host:port`, and listen.
///
/// Python needs three calls for this:
///
/// ```python
/// server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
/// server.bind((host, port))
/// server.listen(5)
/// ```
///
/// Rust's `TcpListener::bind` makes all three system calls (`socket`,
/// `bind`, `listen`) at once, so a `TcpListener` is never half set up.
/// It also chooses the backlog (how many finished handshakes the system
/// queues while we are not in `accept`) for us: 128 on Linux, which
/// `ss -ltn` shows in the Send-Q column of the listening socket.
/// Port 0 asks the system for any free port; `local_addr` says which.
///
/// `(host, port)` is a pair, not a `"host:port"` string: a string would
/// have to be split again at a colon, and an IPv6 address such as `::1` is
/// full of colons.
pub fn listen(host: &str, port: u16) -> io::Result<TcpListener> {
    TcpListener::bind((unbracketed(host), port))
}
// ANCHOR_END: listen

// ANCHOR: unbracketed
/// `--host` as the system wants it. An IPv6 address is often written in
/// brackets, `[::1]`, because that is how it stands before a port
/// (`[::1]:7001`); the brackets are not part of the address, so one pair is
/// taken off. `::1`, `127.0.0.1` and names such as `localhost` pass unchanged.
pub fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host` and `port` as one address for messages: `127.0.0.1:7001`, or
/// `[::1]:7001` for an IPv6 address, where a bare colon would be ambiguous.
pub fn display_address(host: &str, port: u16) -> String {
    let host = unbracketed(host);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
// ANCHOR_END: unbracketed

/// What happened to the one client the server served.
#[derive(Debug)]
pub enum Outcome {
    /// The whole greeting line was handed to the operating system, which
    /// delivers it (TCP gives no receipt: a successful write does not prove
    /// that the client has read it).
    Greeted {
        /// The client's address.
        peer: SocketAddr,
        /// How many bytes the line had, `"\n"` included.
        bytes: usize,
    },
    /// The client hung up before the greeting could be sent, so the
    /// write failed with "broken pipe" or "connection reset".
    ClientLeft {
        /// The client's address.
        peer: SocketAddr,
        /// The error the write returned.
        error: io::Error,
    },
}

// ANCHOR: greet
/// Steps 4 to 6: accept one client, send it `greeting` and a `"\n"`, close.
///
/// `events` receives one short line per event (`main` passes standard
/// output). `timeout` bounds the send: a client that stops reading cannot
/// hold the server forever once the system's buffers are full.
///
/// A client that hangs up at once is not an error of the server: whether
/// our write still succeeds (the bytes were queued before the client's
/// hang-up arrived) or fails (it arrived first) is a race the server
/// cannot control. Both cases end in `Ok`, so the exit status is the same
/// whichever way the race goes; the [`Outcome`] says which one happened.
pub fn greet_one_client(
    listener: &TcpListener,
    greeting: &str,
    timeout: Duration,
    events: &mut impl Write,
) -> anyhow::Result<Outcome> {
    // Step 4: accept. This blocks until a client has finished the TCP
    // handshake, and returns a new socket for that one client, plus its
    // address. The listener itself stays open for more clients (we take
    // only one).
    let (mut stream, peer) = listener.accept().context("accepting a client")?;
    writeln!(events, "client {peer} connected")?;

    // Every wait on a peer has a bound. Writing blocks only when the
    // system's send buffer is full, that is, when the client is not
    // reading; the time-out turns that into an error instead of a hang.
    stream
        .set_write_timeout(Some(timeout))
        .context("setting the write time-out")?;

    // Step 5: send. The message is one line: the text and then "\n", so
    // the client can tell where it ends. We build the whole line first and
    // write it with one call, so it usually leaves in one packet.
    //
    // `write_all` is Python's `sendall`: a bare `write` (like `send`) may
    // take only part of the bytes and return how many it took; `write_all`
    // loops until every byte is handed over, or returns the error. We write
    // straight to the socket, with no buffer of our own (no `BufWriter`),
    // so there is nothing to flush, and a failure shows up right here.
    let line = format!("{greeting}\n");
    let outcome = match stream.write_all(line.as_bytes()) {
        Ok(()) => {
            writeln!(events, "sent {} bytes to {peer}, closing", line.len())?;
            Outcome::Greeted {
                peer,
                bytes: line.len(),
            }
        }
        Err(error) if client_hung_up(&error) => {
            writeln!(
                events,
                "client {peer} hung up before the greeting was sent ({error}), closing"
            )?;
            Outcome::ClientLeft { peer, error }
        }
        // A write time-out: Linux reports it as WouldBlock, Windows as TimedOut.
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            anyhow::bail!(
                "sending the greeting to {peer}: the client took nothing for {timeout:?}, \
                 so it is not reading"
            );
        }
        Err(error) => {
            return Err(error).with_context(|| format!("sending the greeting to {peer}"));
        }
    };

    // Step 6: close. Python calls `client.close()`; in Rust the socket is
    // closed when its owner goes out of scope. We drop it by hand here only
    // to make the step visible: the system sends the client a FIN, and the
    // client's next read returns 0 bytes, "end of stream".
    drop(stream);
    Ok(outcome)
}
// ANCHOR_END: greet

/// True for the errors a write returns when the peer has already closed
/// the connection: "broken pipe" (it closed and we wrote anyway) and
/// "connection reset" (its system answered our bytes with a reset).
///
/// Rust programs ignore the `SIGPIPE` signal, so writing to a closed
/// connection returns an error here instead of killing the process.
fn client_hung_up(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}
