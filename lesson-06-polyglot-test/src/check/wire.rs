//! Our end of a connection to the program under test: send, read with a
//! deadline, and say in words what arrived.
//!
//! Every read here has a deadline, and none of them fails: each returns
//! what arrived ([`Got`]) and how the wait ended ([`Ending`]): enough bytes,
//! end of stream, a reset, or silence. The stages judge that, because the
//! way a wait ended is usually the clue to the mistake. An echo that stops
//! one byte short and then goes quiet is a missing `"\n"`; one that stops
//! and then closes is a server that read only once.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use lesson_02_client::show_bytes;

/// How a read ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// What we waited for arrived.
    Complete,
    /// The other side closed its write half, or the whole connection (FIN).
    Closed,
    /// Nothing more arrived for this long.
    Quiet(Duration),
    /// Bytes kept trickling in for this long without making an answer.
    Slow(Duration),
    /// The connection failed (a reset, usually); the system's words.
    Failed(String),
}

/// What one read brought: the bytes, and how the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub bytes: Vec<u8>,
    pub ending: Ending,
}

impl Got {
    /// `"hel" (3 bytes), then nothing more for 5 s`, in the words a student
    /// reads in a report.
    pub fn describe(&self) -> String {
        let after = match &self.ending {
            Ending::Complete => return show_bytes(&self.bytes),
            Ending::Closed => "the connection closed".to_string(),
            Ending::Quiet(waited) => {
                let more = if self.bytes.is_empty() { "" } else { " more" };
                format!("nothing{more} for {}", seconds(*waited))
            }
            Ending::Slow(waited) => format!("still no end after {}", seconds(*waited)),
            Ending::Failed(why) => format!("the connection failed: {why}"),
        };
        if self.bytes.is_empty() {
            match &self.ending {
                Ending::Quiet(waited) => format!("nothing within {}", seconds(*waited)),
                _ => format!("nothing; {after}"),
            }
        } else {
            format!("{}, then {after}", show_bytes(&self.bytes))
        }
    }

    pub fn is_complete(&self) -> bool {
        self.ending == Ending::Complete
    }

    pub fn closed(&self) -> bool {
        self.ending == Ending::Closed
    }

    pub fn quiet(&self) -> bool {
        matches!(self.ending, Ending::Quiet(_))
    }
}

/// `5 s`, `0.3 s`: a duration as a student would say it.
pub fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0} s")
    } else {
        format!("{secs:.1} s")
    }
}

/// One connection between `check` and the program under test.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read past the end of a line, for the next read.
    pending: Vec<u8>,
    /// The longest any one wait may take.
    timeout: Duration,
    /// Whether the other side has ended its stream.
    saw_end: bool,
    /// Whether to close with a reset (see `Drop`).
    reset_on_drop: bool,
}

impl Conn {
    /// Wraps a connected stream. `TCP_NODELAY` is set, so each of our
    /// writes leaves at once as its own segment: the program sees pieces
    /// exactly as the stage sends them.
    pub fn new(stream: TcpStream, timeout: Duration) -> io::Result<Conn> {
        Conn::closed_with_reset(stream, timeout, false)
    }

    /// Like [`Conn::new`]; with `reset_on_drop`, dropping the connection
    /// resets it instead of closing it in order (see `Drop`).
    pub fn closed_with_reset(
        stream: TcpStream,
        timeout: Duration,
        reset_on_drop: bool,
    ) -> io::Result<Conn> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Conn {
            stream,
            pending: Vec::new(),
            timeout,
            saw_end: false,
            reset_on_drop,
        })
    }

    /// The longest any one wait may take (`--timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends every byte of `bytes` (the write time-out is `--timeout`).
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Shuts down our write half: the program's next read returns 0, end of
    /// stream, while we can still read its answer.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// A second handle on the same connection, for a writer thread.
    pub fn try_clone_stream(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
    }

    /// Closes the connection with a reset (RST) instead of an orderly close,
    /// the way a crashed program's connection ends.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        // `drop` closes the socket; with a linger of 0 that sends RST.
    }

    /// Reads until exactly `len` bytes have arrived.
    pub fn read_exactly(&mut self, len: usize) -> Got {
        self.read_until(|bytes| (bytes.len() >= len).then_some(len), None)
    }

    /// Reads until `len` bytes have arrived or `window` has passed,
    /// whichever comes first.
    pub fn read_exactly_within(&mut self, len: usize, window: Duration) -> Got {
        self.read_until(|bytes| (bytes.len() >= len).then_some(len), Some(window))
    }

    /// Reads one line, `"\n"` included, of at most `max` bytes; the bytes
    /// after the `"\n"` are kept for the next read. A line longer than `max`
    /// comes back without `"\n"`, ended as `Complete`.
    pub fn read_line(&mut self, max: usize) -> Got {
        let line = |bytes: &[u8]| match bytes.iter().position(|&b| b == b'\n') {
            Some(end) if end < max => Some(end + 1),
            _ if bytes.len() >= max => Some(max),
            _ => None,
        };
        self.read_until(line, None)
    }

    /// Reads until the other side ends its stream; `Closed` is the good
    /// ending here. `Complete` means [`READ_TO_END_LIMIT`] bytes came
    /// without an end.
    pub fn read_to_end(&mut self) -> Got {
        let limit = |bytes: &[u8]| (bytes.len() >= READ_TO_END_LIMIT).then_some(READ_TO_END_LIMIT);
        self.read_until(limit, None)
    }

    /// Reads whatever arrives within `window` (less if the stream ends);
    /// for a stage that checks that nothing comes yet. Silence to the end
    /// of the window is `Quiet(window)`.
    pub fn read_for(&mut self, window: Duration) -> Got {
        self.read_until(|_| None, Some(window))
    }

    /// Reads until `enough(bytes so far)` says how many bytes make the
    /// answer, or the stream ends, or:
    ///
    /// - with no `window`: nothing arrives for `--timeout` (`Quiet`), or
    ///   bytes keep trickling in for [`SLOW_FACTOR`] times `--timeout`
    ///   without making an answer (`Slow`): a slow but steady sender is not
    ///   silent, but it cannot hold us for ever either;
    /// - with a `window`: the window ends (`Quiet(window)`).
    fn read_until(
        &mut self,
        enough: impl Fn(&[u8]) -> Option<usize>,
        window: Option<Duration>,
    ) -> Got {
        let started = Instant::now();
        let overall = window.unwrap_or(self.timeout * SLOW_FACTOR);
        let mut got = Got {
            bytes: std::mem::take(&mut self.pending),
            ending: Ending::Complete,
        };
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(len) = enough(&got.bytes) {
                self.pending = got.bytes.split_off(len);
                got.ending = Ending::Complete;
                return got;
            }
            if self.saw_end {
                got.ending = Ending::Closed;
                return got;
            }
            let left = overall.saturating_sub(started.elapsed());
            if left.is_zero() {
                got.ending = match window {
                    Some(window) => Ending::Quiet(window),
                    None => Ending::Slow(overall),
                };
                return got;
            }
            let wait = match window {
                Some(_) => left,
                None => left.min(self.timeout),
            };
            if let Err(err) = self.stream.set_read_timeout(Some(wait)) {
                got.ending = Ending::Failed(err.to_string());
                return got;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => self.saw_end = true,
                Ok(n) => got.bytes.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // Within a window, silence only ends the window.
                Err(err) if is_timeout(&err) && window.is_some() => {}
                Err(err) if is_timeout(&err) => {
                    got.ending = Ending::Quiet(self.timeout);
                    return got;
                }
                Err(err) => {
                    got.ending = Ending::Failed(err.to_string());
                    return got;
                }
            }
        }
    }
}

/// The most [`Conn::read_to_end`] takes before it stops waiting for the end.
pub const READ_TO_END_LIMIT: usize = 8 * 1024 * 1024;

/// How many times `--timeout` a trickle of bytes may last before a read
/// gives up on it.
pub const SLOW_FACTOR: u32 = 6;

impl Drop for Conn {
    /// With `reset_on_drop`, the connection ends with a reset.
    ///
    /// `check` sets it for a server on a fixed `--addr`, which it starts
    /// afresh on the same port for every stage. Whichever side of a
    /// connection closes first keeps its address pair in TIME-WAIT for a
    /// minute, and on Linux a port with a connection in TIME-WAIT cannot be
    /// bound again by a program that does not set `SO_REUSEADDR` (tutorial
    /// servers do not). A server that greets and closes is always first; a
    /// reset from us ends its side of the connection at once.
    fn drop(&mut self) {
        if self.reset_on_drop {
            let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
    }
}

/// A read or write time-out: WouldBlock on Unix, TimedOut on Windows.
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The index of the first byte where `a` and `b` differ, or the length of
/// the shorter one when one is the start of the other.
pub fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Up to 40 bytes of `bytes` from `at` on, shown like [`show_bytes`] with
/// `...` before them when they do not start at 0: where two long byte
/// strings differ.
pub fn show_from(bytes: &[u8], at: usize) -> String {
    let start = at.min(bytes.len());
    let end = (start + 40).min(bytes.len());
    let before = if start > 0 { "..." } else { "" };
    let after = if end < bytes.len() { "..." } else { "" };
    format!(
        "{before}\"{}\"{after} (bytes {start} to {end} of {})",
        String::from_utf8_lossy(&bytes[start..end]).escape_debug(),
        bytes.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected pair: our `Conn`, and the other end as a plain stream.
    fn pair() -> (Conn, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
        let addr = listener.local_addr().expect("address");
        let ours = TcpStream::connect(addr).expect("connecting");
        let (theirs, _) = listener.accept().expect("accepting");
        (
            Conn::new(ours, Duration::from_millis(300)).expect("conn"),
            theirs,
        )
    }

    #[test]
    fn a_line_is_read_up_to_its_newline_and_the_rest_is_kept() {
        let (mut conn, mut theirs) = pair();
        theirs.write_all(b"one\ntwo\nthr").expect("writing");
        let got = conn.read_line(100);
        assert_eq!(
            (got.bytes.as_slice(), got.ending.clone()),
            (&b"one\n"[..], Ending::Complete)
        );
        assert_eq!(conn.read_line(100).bytes, b"two\n");
        drop(theirs);
        let got = conn.read_line(100);
        assert_eq!(
            (got.bytes.as_slice(), got.ending.clone()),
            (&b"thr"[..], Ending::Closed)
        );
        assert_eq!(
            got.describe(),
            "\"thr\" (3 bytes), then the connection closed"
        );
    }

    #[test]
    fn a_line_longer_than_the_limit_stops_at_the_limit() {
        let (mut conn, mut theirs) = pair();
        theirs.write_all(b"abcdefgh\n").expect("writing");
        let got = conn.read_line(4);
        assert_eq!(
            (got.bytes.as_slice(), got.ending.clone()),
            (&b"abcd"[..], Ending::Complete)
        );
        // A line of exactly `max` bytes, newline included, still counts.
        assert_eq!(conn.read_line(5).bytes, b"efgh\n");
    }

    #[test]
    fn silence_is_reported_with_what_came_before_it() {
        let (mut conn, mut theirs) = pair();
        theirs.write_all(b"hel").expect("writing");
        let got = conn.read_exactly(6);
        assert_eq!(got.ending, Ending::Quiet(Duration::from_millis(300)));
        assert_eq!(
            got.describe(),
            "\"hel\" (3 bytes), then nothing more for 0.3 s"
        );
        let nothing = conn.read_exactly(1);
        assert_eq!(nothing.describe(), "nothing within 0.3 s");
    }

    #[test]
    fn read_for_returns_what_came_in_the_window() {
        let (mut conn, mut theirs) = pair();
        theirs.write_all(b"early").expect("writing");
        let got = conn.read_for(Duration::from_millis(200));
        assert_eq!(got.bytes, b"early");
        assert!(got.quiet());
        drop(theirs);
        let got = conn.read_for(Duration::from_millis(200));
        assert_eq!(got.describe(), "nothing; the connection closed");
    }

    #[test]
    fn a_reset_is_a_failed_connection() {
        let (mut conn, theirs) = pair();
        socket2::SockRef::from(&theirs)
            .set_linger(Some(Duration::ZERO))
            .expect("linger 0");
        drop(theirs);
        let got = conn.read_to_end();
        assert!(
            matches!(got.ending, Ending::Failed(_)),
            "a reset should fail the read: {got:?}"
        );
        assert!(
            got.describe()
                .starts_with("nothing; the connection failed: ")
        );
    }

    #[test]
    fn differences_are_found_and_shown_around_them() {
        assert_eq!(first_difference(b"abcd", b"abXd"), 2);
        assert_eq!(first_difference(b"ab", b"abc"), 2);
        assert_eq!(first_difference(b"abc", b"abc"), 3);
        let long: Vec<u8> = (0..100).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(
            show_from(&long, 50),
            "...\"yzabcdefghijklmnopqrstuvwxyzabcdefghijkl\"... (bytes 50 to 90 of 100)"
        );
        assert_eq!(show_from(b"ab\n", 0), "\"ab\\n\" (bytes 0 to 3 of 3)");
    }

    #[test]
    fn seconds_read_naturally() {
        assert_eq!(seconds(Duration::from_secs(5)), "5 s");
        assert_eq!(seconds(Duration::from_millis(300)), "0.3 s");
    }
}
