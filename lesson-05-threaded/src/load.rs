//! `load`: many echo clients at once, and one line that says how it went.
//!
//! A run has two phases.
//!
//! **Connect.** Each simulated client gets a short-lived thread. The
//! threads are all started first and wait at a gate; when the gate opens
//! they connect at the same moment (a burst, which is what fills a listen
//! queue: the chapter's backlog demonstration needs it), hand their
//! connected stream back and exit. Only when every client has connected
//! (or failed to) do the round trips start, so all N connections really
//! are open at once (a server that serves one client at a time shows it at
//! once). `secs`, the wall time of the whole run, includes the connects: a
//! burst that overflows the listen backlog makes it jump by a second or
//! more (the time a client waits before it sends its SYN again).
//!
//! **Round trips.** A few worker threads (`--threads`, by default one per
//! CPU this process may run on) then drive all the connections. Each worker
//! owns a share of them and keeps exactly one request in flight on each:
//! write a `size`-byte request, wait until the whole echo is back, compare,
//! note the time, write the next. To wait for whichever of its connections
//! answers first, a worker asks the kernel with `poll(2)`: "here are my
//! sockets; wake me when one of them has something to read".
//!
//! Why not a thread per client for the round trips, like the server? A load
//! tool should cost less than the thing it measures. With a thousand
//! clients, a thousand threads in `load` next to the server's thousand on
//! a two-CPU machine make the scheduler the bottleneck: a round trip whose
//! echo is long back still waits for its thread's turn to run, and the
//! maximum latency measured is the scheduler's queue, not the server's.
//! Every CPU-second `load` spends switching between its threads is also
//! taken from the server it is measuring. A few threads that each wait for
//! hundreds of sockets at once do the same work with a fraction of the CPU.
//!
//! A connection that is accepted late (the server is busy with others, or
//! serves one client at a time) simply becomes readable late: its first
//! request waits in the kernel, and the wait counts in its latency, as it
//! would for a real client. A round trip that fails, comes back wrong or
//! gets no echo within `--timeout` counts as an error, and so do the rounds
//! that client did not get to (its connection is no use any more once the
//! stream is out of step; it is closed).

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{self, SocketAddr, TcpStream, ToSocketAddrs};
use std::num::NonZeroUsize;
use std::sync::{Arc, Barrier, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;

/// Stack for each connect thread: it holds only small locals.
const CONNECT_STACK_SIZE: usize = 64 * 1024;

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

/// The default for `--threads`: one worker per CPU this process may run on
/// (so `taskset -c 1` gives one), or 1 if the system does not say.
pub fn default_threads() -> usize {
    thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// What `load` does.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Concurrent connections.
    pub clients: usize,
    /// Round trips per connection.
    pub rounds: usize,
    /// Bytes per request (1 to [`MAX_REQUEST_SIZE`]; the last byte is
    /// always `\n`).
    pub size: usize,
    /// Connect time-out, and how long a request may wait for its echo.
    pub timeout: Duration,
    /// Write each request in two pieces (to show Nagle's algorithm at work).
    pub split: bool,
    /// Set `TCP_NODELAY` on the client sockets.
    pub nodelay: bool,
    /// Worker threads for the round trips (at most one per client).
    pub threads: usize,
}

/// The outcome of a run; `Display` prints the one-line summary.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub clients: usize,
    pub rounds: usize,
    pub size: usize,
    /// Round trips that failed or came back wrong (or never happened).
    pub errors: u64,
    /// Wall time from opening the gate until the last client finished.
    pub elapsed: Duration,
    /// Every successful round trip's time, in microseconds, sorted.
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
    /// Successful round trips per second of wall time.
    pub fn rtt_per_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.latencies_us.len() as f64 / secs
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
            "clients={} rounds={} size={} errors={} secs={:.3} rtt_per_s={:.0} p50_us={} p99_us={} max_us={}",
            self.clients,
            self.rounds,
            self.size,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.rtt_per_s(),
            self.percentile_us(50.0),
            self.percentile_us(99.0),
            self.latencies_us.last().copied().unwrap_or(0),
        )
    }
}

/// What one client brings back.
#[derive(Default)]
struct ClientResult {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<LoadError>,
}

/// The gate the connect threads wait at, so they all start together.
#[derive(Default)]
struct Gate {
    state: Mutex<Option<bool>>,
    opened: Condvar,
}

impl Gate {
    /// `true`: go; `false`: the run was called off.
    fn wait(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = self
            .opened
            .wait_while(state, |state| state.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        *state == Some(true)
    }

    fn open(&self, go: bool) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Some(go);
        self.opened.notify_all();
    }
}

// ANCHOR: run_load
/// Runs the load against the echo server at `addr` and reports.
///
/// `Err` means the run could not take place (bad options, the address
/// does not resolve, the system refuses the threads); failed round trips
/// are not errors here, they are counted in the report.
pub fn run_load(addr: &str, options: &LoadOptions) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        (1..=MAX_REQUEST_SIZE).contains(&options.size),
        "the request size must be 1 to {MAX_REQUEST_SIZE} bytes, not {}: one thread writes \
         to many connections, so a request must fit in the socket buffers",
        options.size
    );
    let server: SocketAddr = addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("{addr} resolves to no address"))?;

    // Phase 1: everyone connects at once; the clock starts at the gate.
    let gate = Arc::new(Gate::default());
    // Where the connect threads wait for each other before they exit, so
    // that no thread's exit takes CPU from the burst while others still
    // connect.
    let connected = Arc::new(Barrier::new(options.clients));
    let mut connect_threads = Vec::with_capacity(options.clients);
    for client in 0..options.clients {
        let (thread_gate, thread_options) = (Arc::clone(&gate), options.clone());
        let thread_connected = Arc::clone(&connected);
        let spawned = thread::Builder::new()
            .name(format!("connect-{client}"))
            .stack_size(CONNECT_STACK_SIZE)
            .spawn(move || {
                if !thread_gate.wait() {
                    return None;
                }
                let opened = connect(client, server, &thread_options);
                // Every thread passes the barrier exactly once, connected
                // or not, or the others would wait forever.
                thread_connected.wait();
                Some(opened)
            });
        match spawned {
            Ok(thread) => connect_threads.push(thread),
            Err(err) => {
                // Release the threads already waiting, then give up.
                gate.open(false);
                for thread in connect_threads {
                    let _ = thread.join();
                }
                return Err(err).context(format!(
                    "cannot start connect thread {} of {}",
                    client + 1,
                    options.clients
                ));
            }
        }
    }
    let started = Instant::now();
    gate.open(true);

    // Phase 2: share the connections out among the workers, client i to
    // worker i % threads; a client that could not connect has failed all
    // its rounds already.
    let threads = options.threads.min(options.clients).max(1);
    let mut shares: Vec<Vec<Connection>> = (0..threads).map(|_| Vec::new()).collect();
    let mut results = Vec::with_capacity(options.clients);
    for (client, thread) in connect_threads.into_iter().enumerate() {
        match thread.join() {
            Ok(Some(Ok(stream))) => {
                shares[client % threads].push(Connection::new(client, stream, options));
            }
            Ok(Some(Err(err))) => {
                let mut result = ClientResult::default();
                result.fail(options.rounds, err);
                results.push((client, result));
            }
            // The gate was opened with `true`, so every thread connected.
            Ok(None) => anyhow::bail!("connect thread {client} was called off"),
            Err(_) => anyhow::bail!("connect thread {client} panicked"),
        }
    }
    // Scoped threads may borrow `options`, and the scope joins them all
    // before it returns, even if starting one of them failed.
    thread::scope(|scope| -> anyhow::Result<()> {
        let mut workers = Vec::with_capacity(threads);
        for (worker, share) in shares.into_iter().enumerate() {
            let spawned = thread::Builder::new()
                .name(format!("load-{worker}"))
                .spawn_scoped(scope, move || drive(share, options));
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

    // Merge in client order, so that the first error reported is the
    // lowest-numbered client's, whichever worker drove it.
    results.sort_unstable_by_key(|(client, _)| *client);
    let mut report = LoadReport {
        clients: options.clients,
        rounds: options.rounds,
        size: options.size,
        errors: 0,
        elapsed,
        latencies_us: Vec::with_capacity(options.clients * options.rounds),
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

// ANCHOR: connection
/// One simulated client during the round trips: its socket, which round
/// it is on, and the echo received so far.
struct Connection {
    client: usize,
    stream: TcpStream,
    /// The round in flight (0-based).
    round: usize,
    /// The request in flight, and when we started to write it.
    request: Vec<u8>,
    sent_at: Instant,
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
            if !connection.finished && now >= connection.deadline(options) {
                connection.time_out(options);
            }
        }
        // Take out the finished connections; dropping one closes it.
        for connection in running.extract_if(.., |connection| connection.finished) {
            done.push((connection.client, connection.result));
        }
        let Some(oldest) = running.iter().map(|c| c.deadline(options)).min() else {
            return Ok(done); // nobody is left
        };

        // Sleep until a connection has something to read, or until the
        // oldest request's deadline, whichever comes first. POLLIN is all we
        // ask for; the kernel also reports hang-ups and errors (POLLHUP,
        // POLLERR) without being asked, and for those the `read` below
        // returns 0 or the error, which says what happened.
        // (`None`, wait without a time-out, cannot happen: a deadline is at
        // most a year away, and a Timespec holds far more.)
        let wait = Timespec::try_from(oldest.saturating_duration_since(now)).ok();
        let mut fds: Vec<PollFd<'_>> = running
            .iter()
            .map(|connection| PollFd::new(&connection.stream, PollFlags::IN))
            .collect();
        match poll(&mut fds, wait.as_ref()) {
            Ok(_) => {}
            // A signal interrupted the wait: just wait again.
            Err(Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        drop(fds); // the poll list borrows the sockets; we read them now

        for (connection, ready) in running.iter_mut().zip(ready) {
            if ready {
                connection.read_echo(options);
            }
        }
    }
}
// ANCHOR_END: drive

impl Connection {
    fn new(client: usize, stream: TcpStream, options: &LoadOptions) -> Self {
        Connection {
            client,
            stream,
            round: 0,
            request: Vec::with_capacity(options.size.max(64)),
            sent_at: Instant::now(),
            reply: vec![0u8; options.size],
            filled: 0,
            finished: false,
            result: ClientResult {
                latencies_us: Vec::with_capacity(options.rounds),
                ..ClientResult::default()
            },
        }
    }

    /// When the request in flight has waited too long for its echo.
    fn deadline(&self, options: &LoadOptions) -> Instant {
        // `--timeout` can be huge; a deadline a year away is as good as
        // none, and `Instant + Duration` must not overflow.
        const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
        self.sent_at + options.timeout.min(YEAR)
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
            let wrong = wrong_echo(self.client, self.round, &self.request, &self.reply);
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

impl ClientResult {
    fn fail(&mut self, rounds: usize, error: LoadError) {
        self.errors += rounds as u64;
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
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

fn wrong_echo(client: usize, round: usize, request: &[u8], reply: &[u8]) -> LoadError {
    LoadError {
        kind: None,
        message: format!(
            "client {client} round {round}: wrong echo: sent \"{}\", received \"{}\"",
            escaped(request),
            escaped(reply)
        ),
    }
}

/// Connects, with every later wait on this connection bounded.
fn connect(
    client: usize,
    server: SocketAddr,
    options: &LoadOptions,
) -> Result<TcpStream, LoadError> {
    let connected = TcpStream::connect_timeout(&server, options.timeout).and_then(|stream| {
        stream.set_read_timeout(Some(options.timeout))?;
        stream.set_write_timeout(Some(options.timeout))?;
        stream.set_nodelay(options.nodelay)?;
        Ok(stream)
    });
    connected.map_err(|err| {
        LoadError::io(
            &err,
            format!("client {client}: cannot connect to {server}: {err}"),
        )
    })
}

/// Writes into `request` a request that differs for every client and
/// round, so an echo that went to the wrong client, or a stale one, is
/// caught: `"<client>:<round>:"`, then letters, cut to `size - 1` bytes,
/// then `\n` (so line-based echo servers answer it too).
///
/// It reuses the caller's buffer instead of allocating: with a thousand
/// threads, an allocation per round trip makes the threads queue for the
/// allocator's locks, and the load tool would measure that queue.
fn fill_request(request: &mut Vec<u8>, client: usize, round: usize, size: usize) {
    request.clear();
    // Writing to a Vec cannot fail.
    let _ = write!(request, "{client}:{round}:");
    let mut letter = 0u8;
    while request.len() < size - 1 {
        request.push(b'a' + letter);
        letter = (letter + 1) % 26;
    }
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
        let mut other = Vec::new();
        fill_request(&mut other, 2, 1, 10);
        assert_ne!(bytes, other);
    }

    #[test]
    fn a_request_larger_than_the_socket_buffers_hold_is_refused() {
        let options = LoadOptions {
            clients: 1,
            rounds: 1,
            size: MAX_REQUEST_SIZE + 1,
            timeout: Duration::from_secs(1),
            split: false,
            nodelay: true,
            threads: 1,
        };
        // Refused before anything connects, so no server is needed.
        let err = run_load("127.0.0.1:9", &options).expect_err("65537 bytes should be refused");
        assert_eq!(
            err.to_string(),
            "the request size must be 1 to 65536 bytes, not 65537: one thread writes to many \
             connections, so a request must fit in the socket buffers"
        );
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
            "clients=1 rounds=100 size=1 errors=0 secs=2.000 rtt_per_s=50 p50_us=50 p99_us=99 max_us=100"
        );
    }
}
