//! `load`: many echo clients at once, and one line of figures.
//!
//! **Optional reading.** This is the tool behind the chapter's
//! measurements, not part of the lesson: the lesson is the server. It uses
//! one idea the server does not, `poll(2)`: "here are my sockets; wake me
//! when one of them is ready". The chapter's optional section "Inside
//! `load`" walks through it.
//!
//! A run has three steps:
//!
//! 1. **Connect** (`connect_all`): one thread starts every client's
//!    connect without waiting, then waits for them all with `poll`. The
//!    connects leave as a burst, which is what fills a listen queue (the
//!    chapter's backlog measurement needs it), and all the connections are
//!    open before the first request.
//! 2. **Round trips** (`drive`): a few worker threads (`--threads`, by
//!    default one per CPU) share the connections out. A worker keeps one
//!    request in flight on each of its connections: write it, wait with
//!    `poll` until the whole echo is back, check it, time it, write the
//!    next. (A thread per client would do the same job, but a load tool
//!    should cost less than the server it measures: a thousand load threads
//!    beside the server's thousand, on two CPUs, would measure the
//!    scheduler.)
//! 3. **Report** ([`LoadReport`]): the round trips done, the errors, and
//!    the round-trip times (median, 99th percentile, maximum).
//!
//! A round trip that fails, comes back wrong or gets no echo within
//! `--timeout` is an error, and so are the rounds its client did not get
//! to: a stream out of step is of no more use, so it is closed.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{self, SocketAddr, TcpStream};
use std::num::NonZeroUsize;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fd::AsFd;
use rustix::io::Errno;
use socket2::{Domain, Protocol, Socket, Type};

/// The largest request `load` sends.
///
/// A worker writes a whole request with one blocking `write_all` before it
/// reads any of the echo, and while it writes, the server is already
/// echoing the first bytes back. Those bytes must wait somewhere: in our
/// receive buffer and the server's send buffer. If the request is larger
/// than the buffers can hold, the server stops reading until we read, we
/// do not read until our write is done, and the write waits until its
/// time-out; meanwhile every other connection of that worker waits too.
/// 64 KiB fits in the default socket buffers (Linux starts a TCP socket's
/// receive buffer at 128 KiB).
pub const MAX_REQUEST_SIZE: usize = 64 * 1024;

/// The most clients in one run: each one is a connection, a file
/// descriptor here and in the server, and a thread in the server.
pub const MAX_CLIENTS: usize = 10_000;

/// The most round trips in one run: the time of every one is kept, to
/// compute the percentiles (8 bytes each, so at most 80 MB).
pub const MAX_ROUND_TRIPS: u64 = 10_000_000;

/// The most bytes in flight at once (clients x size): every connection
/// keeps its request and its echo in memory.
pub const MAX_BYTES_IN_FLIGHT: u64 = 64 * 1024 * 1024;

/// `--timeout` may be huge: a deadline a year (365 days) away is as good as
/// none, and `Instant + Duration` must not overflow.
const YEAR: Duration = Duration::from_secs(31_536_000);

/// The default for `--threads`: one worker per CPU this process may run on
/// (so `taskset -c 1` gives one), or 1 if the system does not say.
pub fn default_threads() -> usize {
    thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// What `load` does.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Concurrent connections (1 to [`MAX_CLIENTS`]).
    pub clients: usize,
    /// Round trips per connection.
    pub rounds: u64,
    /// Bytes per request (1 to [`MAX_REQUEST_SIZE`]; the last byte is
    /// always `\n`).
    pub size: usize,
    /// Connect time-out, and how long a request may wait for its echo.
    pub timeout: Duration,
    /// Write each request in two pieces (to show Nagle's algorithm at work
    /// in the server). `load` itself always sets `TCP_NODELAY`, so any
    /// stall that shows is the server's.
    pub split: bool,
    /// Worker threads for the round trips (at most one per client is used).
    pub threads: usize,
}

impl LoadOptions {
    /// Checks the options against the limits above; the error says which
    /// one, and why it is there.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_REQUEST_SIZE).contains(&self.size) {
            return Err(format!(
                "the request size must be 1 to {MAX_REQUEST_SIZE} bytes, not {}: one thread \
                 writes to many connections, so a request must fit in the socket buffers",
                self.size
            ));
        }
        if !(1..=MAX_CLIENTS).contains(&self.clients) {
            return Err(format!(
                "the number of clients must be 1 to {MAX_CLIENTS}, not {}: each client is a \
                 connection, a file descriptor here and in the server, and a thread in the \
                 server",
                self.clients
            ));
        }
        let clients = self.clients as u64;
        if self.rounds == 0 || self.rounds > MAX_ROUND_TRIPS / clients {
            return Err(format!(
                "{} clients x {} rounds: a run must have 1 to {MAX_ROUND_TRIPS} round trips, \
                 because the time of every round trip is kept to compute the percentiles",
                self.clients, self.rounds
            ));
        }
        if clients * self.size as u64 > MAX_BYTES_IN_FLIGHT {
            return Err(format!(
                "{} clients x {} bytes: at most {} MiB may be in flight at once, because every \
                 connection keeps its request and its echo in memory",
                self.clients,
                self.size,
                MAX_BYTES_IN_FLIGHT / (1024 * 1024)
            ));
        }
        Ok(())
    }
}

/// The outcome of a run; `Display` prints the one-line summary.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// What was asked for.
    pub clients: usize,
    pub rounds: u64,
    pub size: usize,
    /// Round trips that failed or came back wrong, or never happened
    /// because an earlier one of the same client failed.
    pub errors: u64,
    /// Wall time from the moment the clients started to connect until the
    /// last one finished.
    pub elapsed: Duration,
    /// The time of every round trip that completed, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// What went wrong first (for the lowest-numbered client that failed),
    /// for the error message.
    pub first_error: Option<LoadError>,
}

/// One failed round trip, described for a student.
#[derive(Debug, Clone)]
pub struct LoadError {
    /// The I/O error kind, if an I/O error caused it (`None`: wrong bytes).
    pub kind: Option<ErrorKind>,
    pub message: String,
}

impl LoadReport {
    /// Round trips that completed: a whole echo, byte for byte right.
    pub fn round_trips(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    /// Completed round trips per second of wall time.
    pub fn rtt_per_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.round_trips() as f64 / secs
        } else {
            0.0
        }
    }

    /// The `pct`-th percentile round-trip time (nearest rank), 0 if none.
    pub fn percentile_us(&self, pct: f64) -> u64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0;
        }
        let rank = ((pct / 100.0) * n as f64).ceil() as usize;
        self.latencies_us[rank.clamp(1, n) - 1]
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "clients={} rounds={} size={} round_trips={} errors={} secs={:.3} rtt_per_s={:.0} \
             p50_us={} p99_us={} max_us={}",
            self.clients,
            self.rounds,
            self.size,
            self.round_trips(),
            self.errors,
            self.elapsed.as_secs_f64(),
            self.rtt_per_s(),
            self.percentile_us(50.0),
            self.percentile_us(99.0),
            self.latencies_us.last().copied().unwrap_or(0),
        )
    }
}

// ANCHOR: run_load
/// Runs the load against the echo server at `server` and reports.
///
/// `Err` means the run could not take place (options out of bounds, the
/// system refuses the threads); failed round trips are not errors here,
/// they are counted in the report.
pub fn run_load(server: SocketAddr, options: &LoadOptions) -> anyhow::Result<LoadReport> {
    options.check().map_err(anyhow::Error::msg)?;

    // Phase 1: everyone connects at once; the clock starts then.
    let (started, connections) =
        connect_all(server, options).context("waiting for the connects failed")?;

    // Phase 2: client i goes to worker i % threads; a client that could
    // not connect has failed all its rounds already.
    let threads = options.threads.clamp(1, options.clients);
    let mut shares: Vec<Vec<Connection>> = (0..threads).map(|_| Vec::new()).collect();
    let mut results = Vec::new();
    for (client, connected) in connections.into_iter().enumerate() {
        match connected {
            Ok(stream) => shares[client % threads].push(Connection::new(client, stream, options)),
            Err(error) => {
                let mut result = ClientResult::default();
                result.fail(options.rounds, error);
                results.push((client, result));
            }
        }
    }
    thread::scope(|scope| -> anyhow::Result<()> {
        let mut workers = Vec::with_capacity(threads);
        for (worker, share) in shares.into_iter().enumerate() {
            let spawned = thread::Builder::new()
                .name(format!("load-{worker}"))
                .spawn_scoped(scope, move || drive(share, options));
            // On an error, the scope still joins the workers started so far.
            workers.push(spawned.context("cannot start a load worker thread")?);
        }
        for worker in workers {
            match worker.join() {
                Ok(finished) => results.extend(finished.context("load worker failed")?),
                Err(_) => anyhow::bail!("a load worker thread panicked"),
            }
        }
        Ok(())
    })?;
    let elapsed = started.elapsed();

    // Phase 3: merge in client order, so that the first error reported is
    // the lowest-numbered client's, whichever worker drove it.
    results.sort_unstable_by_key(|(client, _)| *client);
    let mut report = LoadReport {
        clients: options.clients,
        rounds: options.rounds,
        size: options.size,
        errors: 0,
        elapsed,
        latencies_us: Vec::new(),
        first_error: None,
    };
    for (_, result) in results {
        report.latencies_us.extend(result.latencies_us);
        report.errors += result.errors;
        if report.first_error.is_none() {
            report.first_error = result.first_error;
        }
    }
    report.latencies_us.sort_unstable();
    Ok(report)
}
// ANCHOR_END: run_load

// ANCHOR: connect_all
/// Connects every client at the same moment; returns when the first
/// connect started, and each client's connection (or why it has none), in
/// client order.
///
/// A non-blocking `connect` sends the SYN and returns at once ("in
/// progress"), so one loop starts all the connects within milliseconds:
/// that is the burst. Then we wait: a socket becomes writable when its
/// handshake has finished, well or badly, and its pending error
/// (`SO_ERROR`) says which.
fn connect_all(
    server: SocketAddr,
    options: &LoadOptions,
) -> io::Result<(Instant, Vec<Result<TcpStream, LoadError>>)> {
    let started = Instant::now();
    let deadline = started + options.timeout.min(YEAR);
    let mut done = Vec::with_capacity(options.clients);
    let mut pending = Vec::with_capacity(options.clients);
    for client in 0..options.clients {
        match start_connect(server) {
            Ok(socket) => pending.push((client, socket)),
            Err(err) => done.push((client, Err(connect_error(client, server, &err)))),
        }
    }
    while !pending.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            let late = io::Error::new(
                ErrorKind::TimedOut,
                format!("no answer within {} s", options.timeout.as_secs()),
            );
            for (client, _) in pending.drain(..) {
                done.push((client, Err(connect_error(client, server, &late))));
            }
            break;
        }
        let sockets = pending.iter().map(|(_, socket)| socket);
        let ready = wait_until_ready(sockets, PollFlags::OUT, deadline)?;
        let mut still_pending = Vec::with_capacity(pending.len());
        for ((client, socket), ready) in pending.into_iter().zip(ready) {
            if ready {
                done.push((client, finish_connect(client, server, socket, options)));
            } else {
                still_pending.push((client, socket));
            }
        }
        pending = still_pending;
    }
    done.sort_unstable_by_key(|(client, _)| *client);
    Ok((
        started,
        done.into_iter().map(|(_, connected)| connected).collect(),
    ))
}

/// Starts a connect without waiting for it.
fn start_connect(server: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(server),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    match socket.connect(&server.into()) {
        // On loopback a connect may even finish at once.
        Ok(()) => Ok(socket),
        Err(err) if err.raw_os_error() == Some(Errno::INPROGRESS.raw_os_error()) => Ok(socket),
        Err(err) => Err(err),
    }
}

/// `poll` says this connect has finished: did it work? Then the socket
/// goes back to blocking, with every wait on it bounded.
fn finish_connect(
    client: usize,
    server: SocketAddr,
    socket: Socket,
    options: &LoadOptions,
) -> Result<TcpStream, LoadError> {
    let connected = match socket.take_error() {
        Ok(None) => Ok(()),
        Ok(Some(err)) | Err(err) => Err(err),
    };
    let ready = connected.and_then(|()| {
        socket.set_nonblocking(false)?;
        let stream = TcpStream::from(socket);
        stream.set_read_timeout(Some(options.timeout))?;
        stream.set_write_timeout(Some(options.timeout))?;
        // Our requests leave at once, so a stall is the server's.
        stream.set_nodelay(true)?;
        Ok(stream)
    });
    ready.map_err(|err| connect_error(client, server, &err))
}

fn connect_error(client: usize, server: SocketAddr, err: &io::Error) -> LoadError {
    LoadError::io(
        err,
        format!("client {client}: cannot connect to {server}: {err}"),
    )
}
// ANCHOR_END: connect_all

/// What one client brings back.
#[derive(Default)]
struct ClientResult {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<LoadError>,
}

impl ClientResult {
    /// `rounds` round trips failed, the first of them because of `error`.
    fn fail(&mut self, rounds: u64, error: LoadError) {
        self.errors += rounds;
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }
}

// ANCHOR: connection
/// One client during the round trips: its socket, which round it is on,
/// and the echo received so far.
struct Connection {
    client: usize,
    stream: TcpStream,
    /// The round in flight (0-based).
    round: u64,
    /// The request in flight, and when its echo is due.
    request: Vec<u8>,
    sent_at: Instant,
    deadline: Instant,
    /// The echo so far is `reply[..filled]`; it is whole at `size` bytes.
    reply: Vec<u8>,
    filled: usize,
    /// Set once all rounds are done, or the connection failed.
    finished: bool,
    result: ClientResult,
}
// ANCHOR_END: connection

// ANCHOR: drive
/// One worker: drives its share of the connections until every one has
/// done all its rounds or failed, and returns each client's result.
///
/// `Err` only if `poll` itself fails, which is a bug, not a network error.
fn drive(
    mut running: Vec<Connection>,
    options: &LoadOptions,
) -> io::Result<Vec<(usize, ClientResult)>> {
    let mut done = Vec::with_capacity(running.len());
    for connection in &mut running {
        connection.send_request(options);
    }
    loop {
        // A request that has waited past its deadline has failed: the
        // server is not answering it.
        let now = Instant::now();
        for connection in &mut running {
            if !connection.finished && now >= connection.deadline {
                connection.time_out(options);
            }
        }
        // Take out the finished connections; dropping one closes it.
        for connection in running.extract_if(.., |connection| connection.finished) {
            done.push((connection.client, connection.result));
        }
        let Some(next_deadline) = running.iter().map(|c| c.deadline).min() else {
            return Ok(done); // nobody is left
        };

        // Sleep until a connection has something to read, or until the
        // nearest deadline. A hang-up or an error wakes us too; the `read`
        // then returns 0 or the error, which says what happened.
        let sockets = running.iter().map(|connection| &connection.stream);
        let ready = wait_until_ready(sockets, PollFlags::IN, next_deadline)?;
        for (connection, ready) in running.iter_mut().zip(ready) {
            if ready {
                connection.read_echo(options);
            }
        }
    }
}
// ANCHOR_END: drive

// ANCHOR: wait_until_ready
/// `poll(2)`: sleeps until at least one of `sockets` is ready for `events`
/// (or has an error, or was hung up on), or until `deadline`; returns, for
/// each socket, whether it is ready. A signal that interrupts the wait
/// returns "none ready", and the caller simply looks again.
///
/// `Err` only if `poll` itself fails, which is a bug, not a network error.
fn wait_until_ready<'a, S: AsFd + 'a>(
    sockets: impl Iterator<Item = &'a S>,
    events: PollFlags,
    deadline: Instant,
) -> io::Result<Vec<bool>> {
    let mut fds: Vec<PollFd<'_>> = sockets.map(|socket| PollFd::new(socket, events)).collect();
    // A deadline is at most a year away, so this conversion cannot fail
    // (`None` would mean "no time-out").
    let wait = Timespec::try_from(deadline.saturating_duration_since(Instant::now())).ok();
    match poll(&mut fds, wait.as_ref()) {
        Ok(_) => Ok(fds.iter().map(|fd| !fd.revents().is_empty()).collect()),
        Err(Errno::INTR) => Ok(vec![false; fds.len()]),
        Err(err) => Err(err.into()),
    }
}
// ANCHOR_END: wait_until_ready

impl Connection {
    fn new(client: usize, stream: TcpStream, options: &LoadOptions) -> Self {
        let now = Instant::now();
        Connection {
            client,
            stream,
            round: 0,
            request: Vec::with_capacity(options.size.max(64)),
            sent_at: now,
            deadline: now,
            reply: vec![0u8; options.size],
            filled: 0,
            finished: false,
            result: ClientResult::default(),
        }
    }

    // ANCHOR: send_request
    /// Writes this round's request. The socket is blocking (with a write
    /// time-out), and a request of at most [`MAX_REQUEST_SIZE`] bytes fits
    /// in the socket buffers, so `write_all` returns without waiting for
    /// the server.
    fn send_request(&mut self, options: &LoadOptions) {
        fill_request(&mut self.request, self.client, self.round, options.size);
        self.filled = 0;
        // The round trip's clock starts just before the write.
        self.sent_at = Instant::now();
        self.deadline = self.sent_at + options.timeout.min(YEAR);
        let written = if options.split {
            // Two small writes before waiting for the reply: the pattern
            // that Nagle's algorithm and delayed ACKs turn into a stall.
            let (first, second) = self.request.split_at(self.request.len() / 2);
            self.stream
                .write_all(first)
                .and_then(|()| self.stream.write_all(second))
        } else {
            self.stream.write_all(&self.request)
        };
        if let Err(err) = written {
            self.fail_io(&err, options);
        }
    }
    // ANCHOR_END: send_request

    // ANCHOR: read_echo
    /// `poll` said the socket is readable: read what is there. It may be
    /// only part of the echo (TCP keeps no message boundaries), so it is
    /// added to what came before; once the whole echo is in, it is checked
    /// and timed, and the next round's request goes out.
    fn read_echo(&mut self, options: &LoadOptions) {
        match self.stream.read(&mut self.reply[self.filled..]) {
            Ok(0) => {
                let closed = io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "the server closed the connection after sending {} of {} bytes: \"{}\"",
                        self.filled,
                        self.reply.len(),
                        escaped(&self.reply[..self.filled])
                    ),
                );
                self.fail_io(&closed, options);
                return;
            }
            Ok(n) => self.filled += n,
            // A signal interrupted the read: poll will report the socket
            // readable again.
            Err(err) if err.kind() == ErrorKind::Interrupted => return,
            Err(err) => {
                self.fail_io(&err, options);
                return;
            }
        }
        if self.filled < self.reply.len() {
            return; // the rest of the echo is still on its way
        }
        let took = self.sent_at.elapsed();
        if self.reply != self.request {
            let wrong = LoadError {
                kind: None,
                message: format!(
                    "client {} round {}: wrong echo: sent \"{}\", received \"{}\"",
                    self.client,
                    self.round,
                    escaped(&self.request),
                    escaped(&self.reply)
                ),
            };
            self.fail(wrong, options);
            return;
        }
        self.result.latencies_us.push(took.as_micros() as u64);
        self.round += 1;
        if self.round == options.rounds {
            // Done: say so the way the protocol says, by shutting down our
            // write half.
            let _ = self.stream.shutdown(net::Shutdown::Write);
            self.finished = true;
        } else {
            self.send_request(options);
        }
    }
    // ANCHOR_END: read_echo

    /// No echo before the deadline.
    fn time_out(&mut self, options: &LoadOptions) {
        let late = io::Error::new(
            ErrorKind::TimedOut,
            format!(
                "no echo within {} s: received {} of {} bytes: \"{}\"",
                options.timeout.as_secs(),
                self.filled,
                self.reply.len(),
                escaped(&self.reply[..self.filled])
            ),
        );
        self.fail_io(&late, options);
    }

    fn fail_io(&mut self, err: &io::Error, options: &LoadOptions) {
        let message = format!("client {} round {}: {err}", self.client, self.round);
        self.fail(LoadError::io(err, message), options);
    }

    /// This round failed, and the rounds after it will not happen.
    fn fail(&mut self, error: LoadError, options: &LoadOptions) {
        self.result.fail(options.rounds - self.round, error);
        self.finished = true;
    }
}

impl LoadError {
    fn io(err: &io::Error, message: String) -> Self {
        LoadError {
            kind: Some(err.kind()),
            message,
        }
    }
}

/// Writes into `request` a request that differs for every client and
/// round, so an echo that went to the wrong client, or a stale one, is
/// caught: `"<client>:<round>:"`, then letters, cut to `size - 1` bytes,
/// then `\n` (so line-based echo servers answer it too).
///
/// It reuses the caller's buffer instead of allocating: with many
/// connections, an allocation per round trip would make the workers queue
/// for the allocator, and `load` would measure that queue.
fn fill_request(request: &mut Vec<u8>, client: usize, round: u64, size: usize) {
    request.clear();
    // Writing to a Vec cannot fail.
    let _ = write!(request, "{client}:{round}:");
    // Letters after that, more than enough; then cut, and end the line.
    request.extend((0..size).map(|i| b'a' + (i % 26) as u8));
    request.truncate(size - 1);
    request.push(b'\n');
}

/// Bytes as a student can read them in an error message: escaped, and cut
/// after 80 characters.
fn escaped(bytes: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(bytes).escape_debug().collect();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(80).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(clients: usize, rounds: u64, size: usize) -> LoadOptions {
        LoadOptions {
            clients,
            rounds,
            size,
            timeout: Duration::from_secs(1),
            split: false,
            threads: 1,
        }
    }

    #[test]
    fn requests_have_the_requested_size_and_end_with_newline() {
        let mut bytes = Vec::new();
        for size in [1, 2, 5, 64, 1000] {
            fill_request(&mut bytes, 12, 345, size);
            assert_eq!(bytes.len(), size, "payload of size {size}: {bytes:?}");
            assert_eq!(bytes.last(), Some(&b'\n'));
        }
        fill_request(&mut bytes, 1, 2, 10);
        assert_eq!(bytes, b"1:2:abcde\n");
        fill_request(&mut bytes, 0, 0, 40);
        assert_eq!(bytes, b"0:0:abcdefghijklmnopqrstuvwxyzabcdefghi\n");
        let mut other = Vec::new();
        fill_request(&mut other, 2, 1, 10);
        assert_ne!(bytes, other);
    }

    #[test]
    fn a_request_larger_than_the_socket_buffers_hold_is_refused() {
        // Refused before anything connects, so no server is needed.
        let nobody = SocketAddr::from(([127, 0, 0, 1], 9));
        let err = run_load(nobody, &options(1, 1, MAX_REQUEST_SIZE + 1))
            .expect_err("65537 bytes should be refused");
        assert_eq!(
            err.to_string(),
            "the request size must be 1 to 65536 bytes, not 65537: one thread writes to many \
             connections, so a request must fit in the socket buffers"
        );
    }

    #[test]
    fn options_out_of_bounds_are_refused_with_the_reason() {
        assert_eq!(options(1, 1, 1).check(), Ok(()));
        assert_eq!(options(MAX_CLIENTS, 1000, 64).check(), Ok(()));
        assert_eq!(options(1, MAX_ROUND_TRIPS, 64).check(), Ok(()));
        assert_eq!(options(1024, 1, MAX_REQUEST_SIZE).check(), Ok(()));
        assert_eq!(
            options(MAX_CLIENTS + 1, 1, 64).check(),
            Err(
                "the number of clients must be 1 to 10000, not 10001: each client is a \
                 connection, a file descriptor here and in the server, and a thread in the \
                 server"
                    .to_string()
            )
        );
        assert!(options(0, 1, 64).check().is_err(), "0 clients");
        assert!(options(1, 0, 64).check().is_err(), "0 rounds");
        assert!(options(1, 1, 0).check().is_err(), "0 bytes");
        assert_eq!(
            options(10, MAX_ROUND_TRIPS / 10 + 1, 64).check(),
            Err(
                "10 clients x 1000001 rounds: a run must have 1 to 10000000 round trips, \
                 because the time of every round trip is kept to compute the percentiles"
                    .to_string()
            )
        );
        assert!(options(1, u64::MAX, 64).check().is_err(), "u64::MAX rounds");
        assert_eq!(
            options(1025, 1, MAX_REQUEST_SIZE).check(),
            Err(
                "1025 clients x 65536 bytes: at most 64 MiB may be in flight at once, because \
                 every connection keeps its request and its echo in memory"
                    .to_string()
            )
        );
    }

    #[test]
    fn escaped_bytes_are_cut_after_80_characters() {
        let eighty = "a".repeat(80);
        assert_eq!(escaped(eighty.as_bytes()), eighty);
        assert_eq!(
            escaped(format!("{eighty}b").as_bytes()),
            format!("{eighty}...")
        );
        assert_eq!(escaped(b"x\n\xff"), "x\\n\u{fffd}");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let report = LoadReport {
            clients: 1,
            rounds: 100,
            size: 1,
            errors: 0,
            elapsed: Duration::from_secs(2),
            latencies_us: (1..=100).collect(),
            first_error: None,
        };
        assert_eq!(report.percentile_us(50.0), 50);
        assert_eq!(report.percentile_us(99.0), 99);
        assert_eq!(report.rtt_per_s(), 50.0);
        assert_eq!(
            report.to_string(),
            "clients=1 rounds=100 size=1 round_trips=100 errors=0 secs=2.000 rtt_per_s=50 \
             p50_us=50 p99_us=99 max_us=100"
        );
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let report = LoadReport {
            clients: 2,
            rounds: 3,
            size: 4,
            errors: 6,
            elapsed: Duration::ZERO,
            latencies_us: Vec::new(),
            first_error: None,
        };
        assert_eq!(
            report.to_string(),
            "clients=2 rounds=3 size=4 round_trips=0 errors=6 secs=0.000 rtt_per_s=0 p50_us=0 \
             p99_us=0 max_us=0"
        );
    }
}
