//! Lesson 05: a thread-per-client echo server that stays up.
//!
//! Lesson 03's server serves one client at a time: while it echoes for one,
//! everyone else waits in the listen queue. This lesson gives every client
//! its own thread, the way the classic Python tutorial does with
//! `threading.Thread(target=handle, args=(conn,)).start()`, and then adds
//! what that tutorial leaves out, because a server that is meant to stay up
//! needs it:
//!
//! * a bound on threads (`max_connections`): a client over the limit is told
//!   `ERR server busy` and closed at once, instead of costing a thread;
//! * an idle time-out: a client that connects and never speaks cannot hold a
//!   thread forever;
//! * an explicit listen backlog ([`bind`]), because std's
//!   `TcpListener::bind` always asks the kernel for 128;
//! * a graceful shutdown ([`Shutdown`]): stop accepting at once, give the
//!   connected clients a grace period, then close their sockets and join
//!   every thread.
//!
//! The wire protocol is lesson 03's: the client sends bytes (lines, in
//! practice), the server writes back exactly the bytes it read, until the
//! client shuts down its write half; then the server closes the connection.
//!
//! # Running the server from code
//!
//! The binary is a thin wrapper around [`bind`] and [`run_server`]; another
//! program (or a test) can do the same and stop the server without a signal:
//!
//! ```no_run
//! use lesson_05_threaded::{bind, run_server, ServerConfig, Shutdown};
//!
//! let listener = bind("127.0.0.1:0", 1024)?;
//! println!("listening on {}", listener.local_addr()?);
//! let shutdown = Shutdown::new();
//! let stopper = shutdown.clone();
//! let server = std::thread::spawn(move || {
//!     run_server(listener, &ServerConfig::default(), shutdown, std::io::stdout())
//! });
//! // ... talk to the server ...
//! stopper.trigger();
//! let summary = server.join().expect("the server thread panicked")?;
//! println!("served {} clients", summary.served);
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{
    self, IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

pub mod load;

/// The port this lesson listens on unless told otherwise (7000 + lesson number).
pub const DEFAULT_PORT: u16 = 7005;

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

/// How long [`Shutdown::trigger`] tries to connect to the listener to wake
/// a blocked `accept`.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

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

/// What [`run_server`] did, returned once it has shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Clients that got a thread and were served.
    pub served: u64,
    /// Clients sent [`BUSY_REPLY`] because `max_connections` were connected.
    pub turned_away: u64,
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

// ANCHOR: shutdown
/// A handle that stops a running [`run_server`]; clone it freely.
///
/// The Ctrl-C handler holds one clone, `run_server` another. `trigger` sets
/// a flag, which the accept loop checks after every `accept`. But `accept`
/// blocks until someone connects, so on an idle server the flag alone would
/// never be seen. `trigger` therefore also connects to the listener itself:
/// that connection makes `accept` return, the loop sees the flag and stops.
/// (The other way out is a non-blocking listener polled every few
/// milliseconds; it costs a wake-up per poll and a delay per accept, and
/// the sockets it accepts must be set back to blocking on some systems.)
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<ShutdownState>,
}

#[derive(Debug, Default)]
struct ShutdownState {
    triggered: AtomicBool,
    /// Where to connect to wake the accept loop, while one is running.
    wake_addr: Mutex<Option<SocketAddr>>,
}

impl Shutdown {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Asks the server to shut down: stop accepting now, let the connected
    /// clients finish within the grace period. Safe to call from any
    /// thread, any number of times, before or while the server runs.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        let wake_addr = *lock(&self.inner.wake_addr);
        if let Some(addr) = wake_addr {
            // The result does not matter: if this connect fails, the
            // listener is already closed, or its queue is full and `accept`
            // is about to return anyway.
            let _ = TcpStream::connect_timeout(&addr, WAKE_TIMEOUT);
        }
    }

    /// Whether [`trigger`](Shutdown::trigger) has been called.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Called by the accept loop: from now on, `trigger` wakes `addr`.
    fn watch(&self, listening_on: SocketAddr) {
        *lock(&self.inner.wake_addr) = Some(wake_address(listening_on));
    }

    /// Called when the accept loop has ended: nothing to wake any more.
    fn unwatch(&self) {
        *lock(&self.inner.wake_addr) = None;
    }
}

/// A listener bound to "any address" (0.0.0.0 or ::) cannot be connected
/// to at that address everywhere; its loopback address always works.
fn wake_address(listening_on: SocketAddr) -> SocketAddr {
    let ip = match listening_on.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listening_on.port())
}
// ANCHOR_END: shutdown

/// Locks a mutex even if a thread panicked while holding it: the data we
/// keep behind our locks (a map of sockets, an output stream) stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ANCHOR: registry
/// The clients being served right now, so that the main thread can count
/// them (for `max_connections`), wait for them (the grace period) and, at
/// the end, close their sockets.
///
/// Each entry is a `try_clone` of a client's stream: the same socket, a
/// second handle. `shutdown(Both)` on it wakes the client's thread, which
/// may be blocked in `read` on its own handle, with end-of-stream.
#[derive(Default)]
struct Clients {
    open: Mutex<HashMap<u64, TcpStream>>,
    /// Signalled whenever a client leaves.
    left: Condvar,
}

impl Clients {
    fn count(&self) -> usize {
        lock(&self.open).len()
    }

    fn insert(&self, id: u64, stream: TcpStream) {
        lock(&self.open).insert(id, stream);
    }

    fn remove(&self, id: u64) {
        lock(&self.open).remove(&id);
        self.left.notify_all();
    }

    /// Waits until every client has left or `grace` has passed; returns
    /// how many are still connected.
    fn wait_until_empty(&self, grace: Duration) -> usize {
        let (open, _timed_out) = self
            .left
            .wait_timeout_while(lock(&self.open), grace, |open| !open.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        open.len()
    }

    /// Shuts down every remaining connection in both directions.
    fn close_all(&self) {
        for stream in lock(&self.open).values() {
            // An error means that socket is already closed: nothing to do.
            let _ = stream.shutdown(net::Shutdown::Both);
        }
    }
}
// ANCHOR_END: registry

/// Where events go: one line per event, from many threads, so the output
/// stream sits behind a mutex and every line is written whole and flushed.
#[derive(Clone)]
struct Log {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Log {
    fn new(out: impl Write + Send + 'static) -> Self {
        Log {
            out: Arc::new(Mutex::new(Box::new(out))),
        }
    }

    fn line(&self, event: fmt::Arguments) {
        let mut out = lock(&self.out);
        // A closed stdout must not stop the server from serving, so write
        // errors are ignored here.
        let _ = writeln!(out, "{event}");
        let _ = out.flush();
    }
}

// ANCHOR: run_server
/// Serves clients on `listener`, one thread each, until `shutdown` is
/// triggered; then stops accepting, waits up to `config.grace` for the
/// connected clients, closes whatever is left, joins every thread and
/// returns what it did.
///
/// Events (`client ADDR connected`, `... disconnected`, the shutdown steps
/// and the final `shut down: served N clients`) go to `log`, one line each.
/// Errors that stop a single client are events too: they never stop the
/// server. `Err` only comes from the listener itself.
pub fn run_server(
    listener: TcpListener,
    config: &ServerConfig,
    shutdown: Shutdown,
    log: impl Write + Send + 'static,
) -> anyhow::Result<Summary> {
    let log = Log::new(log);
    let clients = Arc::new(Clients::default());
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut summary = Summary::default();
    let mut next_id: u64 = 0;

    // Register the wake-up address first and check the flag second: a
    // trigger that comes before `watch` is then seen by the check.
    shutdown.watch(listener.local_addr()?);
    while !shutdown.is_triggered() {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) => {
                accept_failed(&err);
                continue;
            }
        };
        if shutdown.is_triggered() {
            // The wake-up connection from `trigger`, or a client that came
            // just as we stopped: either way it is closed unserved.
            break;
        }
        // Threads of clients that have left are joined here, so the list
        // holds only running threads however long the server stays up.
        for finished in threads.extract_if(.., |thread| thread.is_finished()) {
            join(finished, &log);
        }
        if clients.count() >= config.max_connections {
            turn_away(stream, peer, &log);
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
    log.line(format_args!(
        "shutting down: no longer accepting; waiting up to {:?} for {connected} clients",
        config.grace
    ));
    let still_connected = clients.wait_until_empty(config.grace);
    if still_connected > 0 {
        log.line(format_args!(
            "grace period over: closing {still_connected} connections"
        ));
        clients.close_all();
    }
    for thread in threads {
        join(thread, &log);
    }
    log.line(format_args!("shut down: served {} clients", summary.served));
    Ok(summary)
}
// ANCHOR_END: run_server

/// What to do when `accept` fails. Most failures concern one connection
/// (it was reset while it waited in the queue) and the next `accept` works.
/// Running out of file descriptors does not go away by itself: pause a
/// little, so the loop does not spin, and let clients leave meanwhile.
fn accept_failed(err: &io::Error) {
    eprintln!("error: cannot accept a connection: {err}");
    if !matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) {
        thread::sleep(Duration::from_millis(100));
    }
}

// ANCHOR: turn_away
/// A client over the limit: tell it why, and close. This runs on the accept
/// loop, so the write is bounded by a short time-out (a fresh socket's send
/// buffer always has room for 16 bytes, so it will not wait in practice).
fn turn_away(mut stream: TcpStream, peer: SocketAddr, log: &Log) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(BUSY_REPLY);
    // Shut down our write half so the client reads the reply, then EOF.
    let _ = stream.shutdown(net::Shutdown::Write);
    log.line(format_args!("client {peer} turned away: server busy"));
}
// ANCHOR_END: turn_away

// ANCHOR: start_client
/// Registers the client and starts its thread: named after the client, so
/// it shows up as `client-7` in a debugger or `top -H`, and with a small
/// stack. Returns `None` (and the client is disconnected) if the system
/// refuses another thread.
fn start_client(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    config: &ServerConfig,
    clients: &Arc<Clients>,
    log: &Log,
) -> Option<JoinHandle<()>> {
    let second_handle = match stream.try_clone() {
        Ok(handle) => handle,
        Err(err) => {
            log.line(format_args!(
                "client {peer} dropped: cannot clone its socket: {err}"
            ));
            return None;
        }
    };
    clients.insert(id, second_handle);

    let (idle_timeout, nodelay) = (config.idle_timeout, config.nodelay);
    let (thread_clients, thread_log) = (Arc::clone(clients), log.clone());
    let spawned = thread::Builder::new()
        .name(format!("client-{id}"))
        .stack_size(config.stack_size)
        .spawn(move || {
            serve_client(stream, peer, idle_timeout, nodelay, &thread_log);
            // Leave the registry before the socket closes (the stream was
            // dropped inside serve_client, but our registry handle keeps
            // the socket open until this line): when the client sees
            // end-of-stream, its place is already free.
            thread_clients.remove(id);
        });
    match spawned {
        Ok(thread) => Some(thread),
        Err(err) => {
            // The closure, and the stream in it, were dropped: the client
            // sees its connection close.
            clients.remove(id);
            log.line(format_args!(
                "client {peer} dropped: cannot start a thread: {err}"
            ));
            None
        }
    }
}
// ANCHOR_END: start_client

fn join(thread: JoinHandle<()>, log: &Log) {
    if thread.join().is_err() {
        log.line(format_args!("a client thread panicked"));
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
/// One client's thread: echo, then log how it ended.
fn serve_client(
    stream: TcpStream,
    peer: SocketAddr,
    idle_timeout: Duration,
    nodelay: bool,
    log: &Log,
) {
    log.line(format_args!("client {peer} connected"));
    match echo(&stream, idle_timeout, nodelay) {
        Ok(Ended::Finished) => log.line(format_args!("client {peer} disconnected")),
        Ok(Ended::Idle) => log.line(format_args!(
            "client {peer} disconnected: sent nothing for {idle_timeout:?}"
        )),
        Ok(Ended::StoppedReading) => log.line(format_args!(
            "client {peer} disconnected: read nothing for {idle_timeout:?}"
        )),
        // A reset, a broken pipe...: this client's problem, nobody else's.
        Err(err) => log.line(format_args!("client {peer} disconnected: {err}")),
    }
}
// ANCHOR_END: serve_client

// ANCHOR: echo
/// Lesson 03's echo loop, with time-outs: write back every byte read, in
/// the order read, until the client shuts down its write half.
///
/// The bytes are never decoded, so invalid UTF-8 is echoed like anything
/// else, and a read takes at most `ECHO_BUFFER_SIZE` bytes, so a client
/// that never sends a newline cannot make us buffer more than that.
fn echo(mut stream: &TcpStream, idle_timeout: Duration, nodelay: bool) -> io::Result<Ended> {
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
            Ok(()) => {}
            Err(err) if is_timeout(&err) => return Ok(Ended::StoppedReading),
            Err(err) => return Err(err),
        }
    }
}
// ANCHOR_END: echo

fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
