//! The server: a listening socket, an accept loop that gives every client a
//! thread of its own, the echo each thread runs, and the way out.
//!
//! Read it top to bottom: [`bind`] makes the listening socket; [`run_server`]
//! is the accept loop and, after it, the shutdown; the functions after it
//! are what the loop calls, in the order it calls them.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{self, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::descriptors::{Spare, is_out_of_descriptors};
use crate::log::Log;
use crate::registry::Clients;
use crate::shutdown::Shutdown;

/// How many connections the kernel may queue for us before we accept them.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// What a client over `max_connections` reads before we close its connection.
pub const BUSY_REPLY: &[u8] = b"ERR server busy\n";

/// How much one `read` may take from a client. The echo buffer lives on the
/// client thread's stack, so the stack size below must leave room for it.
const ECHO_BUFFER_SIZE: usize = 8 * 1024;

/// The stack each client thread gets. std's default is 2 MiB; a thread that
/// only runs `serve_client` (an 8 KiB buffer, a few small frames, a log
/// line) needs far less. Measured with 1,000 connected clients: std rounds
/// any request up to the system's minimum (16 KiB plus thread-local storage
/// with glibc), and even that minimum served them all. We keep 64 KiB, a
/// wide margin for other systems and for changes to this code.
///
/// The kernel backs only the stack pages a thread touches, so the resident
/// memory hardly depends on this number (20 to 24 MiB at 1,000 clients with
/// 16 KiB, 64 KiB or 2 MiB stacks); what it changes is the address space
/// reserved: about 2 GiB more for 1,000 threads at 2 MiB each.
pub const CLIENT_STACK_SIZE: usize = 64 * 1024;

/// The pause after an `accept` error that does not go away by itself.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long [`run_server`] waits, at the end, for its last log lines to be
/// written: a log nobody reads must not keep the server from exiting.
const LOG_FINISH_LIMIT: Duration = Duration::from_millis(500);

/// What the server needs to know besides its listener.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Clients served at once; one more is sent [`BUSY_REPLY`] and closed.
    pub max_connections: usize,
    /// A client that sends nothing (or reads nothing) for this long is
    /// disconnected. Must not be zero.
    pub idle_timeout: Duration,
    /// After a shutdown is triggered, how long connected clients may go on
    /// before their connections are closed.
    pub grace: Duration,
    /// Set `TCP_NODELAY` on client sockets (turn Nagle's algorithm off).
    /// Only the TCP_NODELAY demonstration turns this off.
    pub nodelay: bool,
    /// Stack size of each client thread, in bytes.
    pub stack_size: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(5),
            nodelay: true,
            stack_size: CLIENT_STACK_SIZE,
        }
    }
}

/// What [`run_server`] did, returned once it has shut down; its last log
/// line says the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Clients that got a thread and were served.
    pub served: u64,
    /// Clients sent [`BUSY_REPLY`]: over `max_connections`, or out of file
    /// descriptors.
    pub turned_away: u64,
    /// Bytes echoed, over all clients, as their threads reported them when
    /// they were joined.
    pub bytes_echoed: u64,
}

// ANCHOR: bind
/// Binds a listening socket with an explicit listen backlog.
///
/// This is `socket()`, `bind()` and `listen(backlog)`, the three calls that
/// std's `TcpListener::bind` makes for us, except that std always passes
/// 128 to `listen`. The backlog bounds the kernel's queue of connections
/// that have completed the handshake but that we have not accepted yet;
/// when a burst of clients overflows it, the kernel drops their handshake
/// packets and those clients wait for a retransmission (one second, then
/// three...). Linux also caps the value at `net.core.somaxconn`.
///
/// `addr` is anything std can resolve: `("127.0.0.1", 7005)`, `("::1", 0)`,
/// `("localhost", 7005)` or a `SocketAddr`.
pub fn bind(addr: impl ToSocketAddrs, backlog: i32) -> io::Result<TcpListener> {
    let mut last_error = None;
    // A host name can resolve to several addresses (IPv6 and IPv4):
    // use the first one that binds, as std does.
    for addr in addr.to_socket_addrs()? {
        match bind_one(addr, backlog) {
            Ok(listener) => return Ok(listener),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(ErrorKind::InvalidInput, "the address resolved to nothing")
    }))
}

fn bind_one(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // std sets SO_REUSEADDR on Unix too: a restarted server may bind its
    // port again while connections of the old one linger in TIME_WAIT.
    // (On Windows the same option means something dangerous, so not there.)
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
// ANCHOR_END: bind

// ANCHOR: run_server
/// Serves clients on `listener`, one thread each, until `shutdown` is
/// triggered; then stops accepting, waits up to `config.grace` for the
/// connected clients, closes whatever is left, joins every thread and
/// returns what it did.
///
/// Events (`client ADDR connected`, `... disconnected`, the shutdown steps
/// and the final `shut down: ...` line) go to `log_to`, one line each, and
/// errors the server survives go to standard error, both through the log
/// writer of [`crate::log`]: a log nobody reads never stops the server.
/// Errors that stop a single client are events too: they never stop the
/// server. `Err` only comes from the listener itself.
pub fn run_server(
    listener: TcpListener,
    config: &ServerConfig,
    shutdown: Shutdown,
    log_to: impl Write + Send + 'static,
) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        !config.idle_timeout.is_zero(),
        "the idle time-out must be longer than zero"
    );
    // Make the wake-up ready first and check the flag second (in the loop
    // below): a trigger that comes before `watch` is then seen by the check.
    shutdown.watch(listener.local_addr()?)?;
    let (log, log_writer) = Log::start(log_to, io::stderr());
    log.line(format!(
        "serving up to {} clients at once, one thread each (idle time-out {}s, TCP_NODELAY {})",
        config.max_connections,
        config.idle_timeout.as_secs_f64(),
        if config.nodelay { "on" } else { "off" }
    ));
    let clients = Arc::new(Clients::default());
    let mut spare = Spare::open();
    let mut threads: Vec<JoinHandle<u64>> = Vec::new();
    let mut summary = Summary::default();
    let mut next_id: u64 = 0;

    while !shutdown.is_triggered() {
        let accepted = accept_client(&listener, &mut spare, &log);
        if shutdown.is_triggered() {
            // The wake-up connection from `trigger` (or, out of descriptors,
            // the error it caused), or a client that came just as we
            // stopped: either way it is closed unserved.
            break;
        }
        let Some((stream, peer, room)) = accepted else {
            continue; // the error is logged; try again
        };
        // Threads of clients that have left are joined here, so the list
        // holds only running threads however long the server stays up.
        for finished in threads.extract_if(.., |thread| thread.is_finished()) {
            summary.bytes_echoed += join(finished, &log);
        }
        if !room {
            turn_away(stream, peer, "out of file descriptors", &log);
            summary.turned_away += 1;
            continue;
        }
        if clients.count() >= config.max_connections {
            turn_away(stream, peer, "server busy", &log);
            summary.turned_away += 1;
            continue;
        }
        let id = next_id;
        next_id += 1;
        if let Some(thread) = start_client(stream, peer, id, config, &clients, &log) {
            threads.push(thread);
            summary.served += 1;
        }
    }
    // Closing the listener makes new connection attempts fail at once
    // (connection refused) instead of waiting in a queue nobody reads.
    shutdown.unwatch();
    drop(listener);

    let connected = clients.count();
    log.line(format!(
        "shutting down: no longer accepting; waiting up to {}s for {connected} clients",
        config.grace.as_secs_f64()
    ));
    let still_connected = clients.wait_until_empty(config.grace);
    if still_connected > 0 {
        log.line(format!(
            "grace period over: closing {still_connected} connections"
        ));
        clients.close_all();
    }
    for thread in threads {
        summary.bytes_echoed += join(thread, &log);
    }
    log.line(format!(
        "shut down: served {} clients, turned away {}, echoed {} bytes",
        summary.served, summary.turned_away, summary.bytes_echoed
    ));
    // Every client thread has been joined, so this was the last `Log`: the
    // writer writes what is queued and stops. Wait for it, within a bound.
    drop(log);
    log_writer.finish(LOG_FINISH_LIMIT);
    Ok(summary)
}
// ANCHOR_END: run_server

// ANCHOR: accept_client
/// Accepts the next client: `Some((stream, peer, room))`, where `room`
/// says whether there are file descriptors left to serve it, or `None`
/// when `accept` failed (the error is logged; the loop tries again).
///
/// Most failures concern one connection (it was reset while it waited in
/// the queue), and the next `accept` works. Running out of file
/// descriptors (EMFILE for this process, ENFILE for the whole system) does
/// not go away by itself: every `accept` fails at once until some client
/// leaves, while new clients wait in the kernel's queue and hear nothing.
/// Retrying at once would spin the CPU and flood the log.
///
/// So for that error we use the spare descriptor (see
/// [`crate::descriptors::Spare`]). Closing it makes room for exactly one
/// connection: the next client is accepted with it. Then we try to take the
/// spare back. If we can, clients have left meanwhile and there is room for
/// this one too; if not, `room` is false and the caller tells this client
/// that the server is busy, which closes its connection and frees the
/// descriptor for the spare again. Only when there is no spare to use does
/// the loop pause, as for any other error that lasts.
fn accept_client(
    listener: &TcpListener,
    spare: &mut Spare,
    log: &Log,
) -> Option<(TcpStream, SocketAddr, bool)> {
    // The spare may have gone to a client turned away last time.
    spare.take_back();
    let err = match listener.accept() {
        Ok((stream, peer)) => return Some((stream, peer, true)),
        Err(err) => err,
    };
    log.error(format!("error: cannot accept a client: {err}"));
    if is_out_of_descriptors(&err) && spare.release() {
        // This `accept` waits for the next client if none is waiting yet.
        if let Ok((stream, peer)) = listener.accept() {
            let room = spare.take_back();
            return Some((stream, peer, room));
        }
    }
    if !matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) {
        thread::sleep(ACCEPT_BACKOFF);
    }
    None
}
// ANCHOR_END: accept_client

// ANCHOR: turn_away
/// A client we will not serve: tell it why, and close. This runs on the
/// accept loop, so the write is bounded by a short time-out (a fresh
/// socket's send buffer always has room for 16 bytes, so it will not wait
/// in practice).
fn turn_away(mut stream: TcpStream, peer: SocketAddr, why: &str, log: &Log) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(BUSY_REPLY);
    // Shut down our write half so the client reads the reply, then EOF.
    let _ = stream.shutdown(net::Shutdown::Write);
    log.line(format!("client {peer} turned away: {why}"));
}
// ANCHOR_END: turn_away

// ANCHOR: start_client
/// Registers the client and starts its thread: named after the client, so
/// it shows up as `client-7` in a debugger or `top -H`, and with a small
/// stack. The thread returns how many bytes it echoed. Returns `None` (and
/// the client is disconnected) if the system refuses another thread.
fn start_client(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    config: &ServerConfig,
    clients: &Arc<Clients>,
    log: &Log,
) -> Option<JoinHandle<u64>> {
    // One socket, two owners: the client's thread, which reads and writes
    // it, and the registry, which may have to shut it down at the end. An
    // `Arc` shares it without a second file descriptor (which `try_clone`
    // would cost).
    let stream = Arc::new(stream);
    clients.insert(id, Arc::clone(&stream));

    let (idle_timeout, nodelay) = (config.idle_timeout, config.nodelay);
    let (thread_clients, thread_log) = (Arc::clone(clients), log.clone());
    let spawned = thread::Builder::new()
        .name(format!("client-{id}"))
        .stack_size(config.stack_size)
        .spawn(move || {
            let bytes = serve_client(&stream, peer, idle_timeout, nodelay, &thread_log);
            // Leave the registry while our own handle still keeps the
            // socket open: the socket closes when `stream` is dropped, just
            // after this, so when the client sees end-of-stream its place is
            // already free.
            thread_clients.remove(id);
            bytes
        });
    match spawned {
        Ok(thread) => Some(thread),
        Err(err) => {
            // The closure, and its handle on the socket, were dropped; once
            // the registry lets go too, the client sees its connection close.
            clients.remove(id);
            log.line(format!(
                "client {peer} dropped: cannot start a thread: {err}"
            ));
            None
        }
    }
}
// ANCHOR_END: start_client

/// Waits for a client thread to end; returns the bytes it echoed.
fn join(thread: JoinHandle<u64>, log: &Log) -> u64 {
    match thread.join() {
        Ok(bytes) => bytes,
        Err(_) => {
            log.line("a client thread panicked".to_string());
            0
        }
    }
}

/// How a client's session ended, when no I/O error ended it.
enum Ended {
    /// The client shut down its write half (or the server did, at shutdown).
    Finished,
    /// The client sent nothing for `idle_timeout`.
    Idle,
    /// The client stopped reading its echoes for `idle_timeout`.
    StoppedReading,
}

// ANCHOR: serve_client
/// One client's thread: echo, then log how it ended. Returns the bytes
/// echoed, however it ended.
fn serve_client(
    stream: &TcpStream,
    peer: SocketAddr,
    idle_timeout: Duration,
    nodelay: bool,
    log: &Log,
) -> u64 {
    log.line(format!("client {peer} connected"));
    let mut bytes = 0;
    let ended = echo(stream, idle_timeout, nodelay, &mut bytes);
    let secs = idle_timeout.as_secs_f64();
    let why = match ended {
        Ok(Ended::Finished) => String::new(),
        Ok(Ended::Idle) => format!(": sent nothing for {secs}s"),
        Ok(Ended::StoppedReading) => format!(": read nothing for {secs}s"),
        // A reset, a broken pipe...: this client's problem, nobody else's.
        Err(err) => format!(": {err}"),
    };
    log.line(format!(
        "client {peer} disconnected ({bytes} bytes echoed){why}"
    ));
    bytes
}
// ANCHOR_END: serve_client

// ANCHOR: echo
/// Lesson 03's echo loop, with time-outs: write back every byte read, in
/// the order read, until the client shuts down its write half. `bytes`
/// counts what was echoed, so the count survives an error.
///
/// The stream is a shared reference: the registry holds the same socket.
/// std implements `Read` and `Write` for `&TcpStream` (reading and writing
/// a socket does not change the `TcpStream` value, only the kernel's
/// buffers), and `mut stream` lets us call them on the reference.
///
/// The bytes are never decoded, so invalid UTF-8 is echoed like anything
/// else, and a read takes at most `ECHO_BUFFER_SIZE` bytes, so a client
/// that never sends a newline cannot make us buffer more than that.
fn echo(
    mut stream: &TcpStream,
    idle_timeout: Duration,
    nodelay: bool,
    bytes: &mut u64,
) -> io::Result<Ended> {
    // A read that waits longer than this fails with WouldBlock or TimedOut
    // (which one depends on the system): that is the idle time-out.
    stream.set_read_timeout(Some(idle_timeout))?;
    stream.set_write_timeout(Some(idle_timeout))?;
    // An echo is written the moment it is read; with Nagle's algorithm on,
    // the second piece of a request that arrived in two reads would wait
    // for the client's delayed ACK (up to 40 ms on Linux).
    stream.set_nodelay(nodelay)?;

    let mut buffer = [0u8; ECHO_BUFFER_SIZE];
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) => return Ok(Ended::Finished),
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) if is_timeout(&err) => return Ok(Ended::Idle),
            Err(err) => return Err(err),
        };
        match stream.write_all(&buffer[..n]) {
            Ok(()) => *bytes += n as u64,
            Err(err) if is_timeout(&err) => return Ok(Ended::StoppedReading),
            Err(err) => return Err(err),
        }
    }
}
// ANCHOR_END: echo

/// A read or write time-out: `WouldBlock` on Unix, `TimedOut` on Windows.
fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
