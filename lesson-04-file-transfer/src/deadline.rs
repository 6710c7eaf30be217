//! Phase deadlines: a time limit for a whole step of the conversation, not
//! for each `read`.
//!
//! A read time-out (`set_read_timeout`) bounds one wait: "nothing arrived for
//! 10 s". A client that sends one byte every 9 s never trips it, and the
//! 19-byte header `SEND 5 hello.txt\n` then takes almost three minutes. This
//! server serves one client at a time, so for those three minutes every
//! other client waits. A *phase* deadline bounds the step as a whole: the
//! header must be complete 10 s after the client connected, however its
//! bytes are spread out.
//!
//! [`Deadline`] reads from a socket with both bounds. Before each read it
//! sets the socket's read time-out to whichever comes first, the idle limit
//! or the time left until the deadline, so one `read` never waits past
//! either. When the deadline has passed it does not read at all.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

// ANCHOR: deadline
/// A socket read with two bounds: each read waits at most `idle`, and no read
/// starts or waits past `ends`.
pub struct Deadline<'a> {
    stream: &'a TcpStream,
    idle: Duration,
    phase: Duration,
    /// `None`: the phase has no deadline of its own, only the idle limit
    /// (only for a deadline so far away that `Instant` cannot hold it).
    ends: Option<Instant>,
}

impl<'a> Deadline<'a> {
    /// Reads from `stream` waiting at most `idle` per read, for at most
    /// `phase` in all, starting now.
    pub fn new(stream: &'a TcpStream, idle: Duration, phase: Duration) -> Deadline<'a> {
        Deadline {
            stream,
            idle,
            phase,
            ends: Instant::now().checked_add(phase),
        }
    }

    /// Starts a new phase on the same socket: at most `phase` from now.
    pub fn restart(&mut self, phase: Duration) {
        self.phase = phase;
        self.ends = Instant::now().checked_add(phase);
    }

    /// The longest one read may wait.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// How long the current phase may take in all.
    pub fn phase(&self) -> Duration {
        self.phase
    }

    /// True once the phase's time is up.
    pub fn has_passed(&self) -> bool {
        self.ends.is_some_and(|ends| Instant::now() >= ends)
    }

    /// The socket, for a caller that reads it by other means (`splice`):
    /// call [`Deadline::arm`] before each of those reads.
    pub fn stream(&self) -> &'a TcpStream {
        self.stream
    }

    /// Sets the socket's read time-out for the next read: the idle limit, or
    /// the time left if that is shorter. Fails with `TimedOut` once the
    /// phase's time is up.
    pub fn arm(&self) -> io::Result<()> {
        let mut wait = self.idle;
        if let Some(ends) = self.ends {
            let left = ends.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the deadline has passed",
                ));
            }
            wait = wait.min(left);
        }
        self.stream.set_read_timeout(Some(wait))
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.stream.read(buffer)
    }
}
// ANCHOR_END: deadline

/// True for the errors a read or write time-out produces: Unix reports
/// `SO_RCVTIMEO` as `EAGAIN` (WouldBlock), Windows as `TimedOut`, and
/// [`Deadline::arm`] says `TimedOut`.
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::thread;

    /// A connected pair: (the side the test writes, the side it reads).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
        let writer = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (reader, _) = listener.accept().expect("accepting");
        (writer, reader)
    }

    #[test]
    fn a_trickle_cannot_outlast_the_phase() {
        let (mut writer, reader) = pair();
        reader
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("setting a safety time-out");
        // One byte every 300 ms: never idle for 2 s, but the phase is 1 s.
        let trickle = thread::spawn(move || {
            for _ in 0..10 {
                if writer.write_all(b"x").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(300));
            }
        });
        let started = Instant::now();
        let mut deadline = Deadline::new(&reader, Duration::from_secs(2), Duration::from_secs(1));
        let mut received = 0;
        let mut byte = [0u8; 1];
        let err = loop {
            match deadline.read(&mut byte) {
                Ok(0) => panic!("the writer closed before the deadline"),
                Ok(_) => received += 1,
                Err(err) => break err,
            }
        };
        let took = started.elapsed();
        assert!(is_timeout(&err), "expected a time-out, got {err}");
        assert!(deadline.has_passed(), "the phase must be over");
        assert!(
            (1..=5).contains(&received),
            "about 4 bytes fit in 1 s at one per 300 ms, received {received}"
        );
        assert!(
            took < Duration::from_secs(2),
            "the deadline (1 s) must end the phase before the idle limit (2 s); took {took:?}"
        );
        drop(reader);
        trickle.join().expect("the trickle thread panicked");
    }

    #[test]
    fn silence_trips_the_idle_limit_before_a_far_deadline() {
        let (_writer, reader) = pair();
        // A safety net, so that a broken `arm` fails this test instead of
        // hanging it.
        reader
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("setting a safety time-out");
        let mut deadline =
            Deadline::new(&reader, Duration::from_millis(200), Duration::from_secs(60));
        let started = Instant::now();
        let err = deadline
            .read(&mut [0u8; 1])
            .expect_err("nothing was sent, so the read must time out");
        assert!(is_timeout(&err), "expected a time-out, got {err}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the idle limit is 200 ms; the read waited {:?}",
            started.elapsed()
        );
        assert!(!deadline.has_passed(), "the 60 s phase is not over");
        deadline.restart(Duration::ZERO);
        assert!(deadline.has_passed(), "a zero phase is over at once");
        assert_eq!(
            deadline.arm().map_err(|err| err.kind()),
            Err(io::ErrorKind::TimedOut)
        );
    }

    #[test]
    fn a_deadline_too_far_for_instant_means_only_the_idle_limit() {
        let (_writer, reader) = pair();
        let deadline = Deadline::new(&reader, Duration::from_millis(100), Duration::MAX);
        assert!(!deadline.has_passed());
        deadline.arm().expect("arming with no deadline");
        assert_eq!(
            reader.read_timeout().expect("reading the time-out"),
            Some(Duration::from_millis(100))
        );
    }
}
