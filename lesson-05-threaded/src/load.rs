//! `load`: many echo clients at once, and one line that says how it went.
//!
//! Each simulated client gets a thread. The threads are all started first
//! and wait at a gate; when the gate opens they connect at the same moment
//! (a burst, which is what fills a listen queue). When every client has
//! connected (or failed to), each does `rounds` round trips: write a
//! `size`-byte request, read until `size` bytes came back, compare. Every
//! round trip's time is kept, and the report gives the median, the 99th
//! percentile and the maximum over all of them.
//!
//! Connecting and the round trips are two phases, so that all N
//! connections really are open at once before anyone starts (a server that
//! serves one client at a time shows it at once), and so that `secs`, the
//! wall time of the whole run, includes the connects: a burst that
//! overflows the listen backlog makes `secs` jump by a second or more (the
//! time a client waits before it sends its SYN again). A successful
//! `connect` only means the kernel completed the handshake; a client the
//! server has not accepted yet waits for it in its first round trip, and
//! that wait is part of its latency, as it is for a real client.
//!
//! A round trip that fails or comes back wrong counts as an error, and so
//! do the rounds that client did not get to (its connection is no use any
//! more once the stream is out of step).

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{self, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Barrier, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;

/// Stack for each load thread: it holds only small locals.
const LOAD_STACK_SIZE: usize = 64 * 1024;

/// What `load` does.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Concurrent connections.
    pub clients: usize,
    /// Round trips per connection.
    pub rounds: usize,
    /// Bytes per request (at least 1; the last byte is always `\n`).
    pub size: usize,
    /// Connect, read and write time-out for every client.
    pub timeout: Duration,
    /// Write each request in two pieces (to show Nagle's algorithm at work).
    pub split: bool,
    /// Set `TCP_NODELAY` on the client sockets.
    pub nodelay: bool,
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
    /// What went wrong first, for the error message.
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

/// What one client thread brings back.
#[derive(Default)]
struct ClientResult {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<LoadError>,
}

/// The gate the client threads wait at, so they all start together.
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
/// `Err` means the run could not take place (the address does not
/// resolve, the system refuses the threads); failed round trips are not
/// errors here, they are counted in the report.
pub fn run_load(addr: &str, options: &LoadOptions) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        options.size >= 1,
        "the request size must be at least 1 byte"
    );
    let server: SocketAddr = addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("{addr} resolves to no address"))?;

    let gate = Arc::new(Gate::default());
    // Where the clients wait for each other between connecting and the
    // round trips.
    let connected = Arc::new(Barrier::new(options.clients));
    let mut threads = Vec::with_capacity(options.clients);
    for client in 0..options.clients {
        let (thread_gate, thread_options) = (Arc::clone(&gate), options.clone());
        let thread_connected = Arc::clone(&connected);
        let spawned = thread::Builder::new()
            .name(format!("load-{client}"))
            .stack_size(LOAD_STACK_SIZE)
            .spawn(move || {
                if thread_gate.wait() {
                    one_client(client, server, &thread_options, &thread_connected)
                } else {
                    ClientResult::default()
                }
            });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(err) => {
                // Release the threads already waiting, then give up.
                gate.open(false);
                for thread in threads {
                    let _ = thread.join();
                }
                return Err(err).context(format!(
                    "cannot start client thread {} of {}",
                    client + 1,
                    options.clients
                ));
            }
        }
    }

    let started = Instant::now();
    gate.open(true);
    let mut report = LoadReport {
        clients: options.clients,
        rounds: options.rounds,
        size: options.size,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::with_capacity(options.clients * options.rounds),
        first_error: None,
    };
    for thread in threads {
        let result = match thread.join() {
            Ok(result) => result,
            Err(_) => anyhow::bail!("a load thread panicked"),
        };
        report.latencies_us.extend(result.latencies_us);
        report.errors += result.errors;
        if report.first_error.is_none() {
            report.first_error = result.first_error;
        }
    }
    report.elapsed = started.elapsed();
    report.latencies_us.sort_unstable();
    Ok(report)
}
// ANCHOR_END: run_load

// ANCHOR: one_client
/// One simulated client: connect, wait for the others, `rounds` round
/// trips, leave.
fn one_client(
    client: usize,
    server: SocketAddr,
    options: &LoadOptions,
    everyone_connected: &Barrier,
) -> ClientResult {
    let mut result = ClientResult {
        latencies_us: Vec::with_capacity(options.rounds),
        ..ClientResult::default()
    };
    let opened = connect(client, server, options);
    // Every client passes the barrier exactly once, connected or not, or
    // the others would wait forever.
    everyone_connected.wait();
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(err) => {
            result.fail(options.rounds, err);
            return result;
        }
    };
    let mut request = Vec::with_capacity(options.size.max(64));
    let mut reply = vec![0u8; options.size];
    for round in 0..options.rounds {
        fill_request(&mut request, client, round, options.size);
        let started = Instant::now();
        let outcome = round_trip(&mut stream, &request, &mut reply, options.split);
        let took = started.elapsed();
        let failed_rounds = options.rounds - round;
        match outcome {
            Ok(()) if reply == request => result.latencies_us.push(took.as_micros() as u64),
            Ok(()) => {
                result.fail(failed_rounds, wrong_echo(client, round, &request, &reply));
                return result;
            }
            Err(err) => {
                let message = format!("client {client} round {round}: {err}");
                result.fail(failed_rounds, LoadError::io(&err, message));
                return result;
            }
        }
    }
    // Done: say so the way the protocol says, by shutting down our write half.
    let _ = stream.shutdown(net::Shutdown::Write);
    result
}
// ANCHOR_END: one_client

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

// ANCHOR: round_trip
/// Writes one request and reads exactly as many bytes back.
///
/// The reply may arrive in several pieces (TCP keeps no message
/// boundaries), so we read until the buffer is full; a read of 0 bytes
/// means the server closed the connection in the middle of our reply.
fn round_trip(
    stream: &mut TcpStream,
    request: &[u8],
    reply: &mut [u8],
    split: bool,
) -> io::Result<()> {
    if split {
        // Two small writes before waiting for the reply: the pattern that
        // Nagle's algorithm and delayed ACKs turn into a stall.
        let (first, second) = request.split_at(request.len() / 2);
        stream.write_all(first)?;
        stream.write_all(second)?;
    } else {
        stream.write_all(request)?;
    }
    let mut filled = 0;
    while filled < reply.len() {
        match stream.read(&mut reply[filled..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "the server closed the connection after sending {filled} of {} bytes: \"{}\"",
                        reply.len(),
                        escaped(&reply[..filled])
                    ),
                ));
            }
            Ok(n) => filled += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
// ANCHOR_END: round_trip

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
