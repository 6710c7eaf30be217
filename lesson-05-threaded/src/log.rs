//! The server's log: event lines that can never hold up serving.
//!
//! Writing to stdout looks free, but it is a write into a pipe or a terminal,
//! and those can be full. A terminal paused with Ctrl-S, a `| less` nobody
//! scrolls, a log collector that fell behind: after 64 KiB (a Linux pipe's
//! buffer) the next `println!` blocks until someone reads. A server that
//! logs from the thread that serves would then stop serving, and one that
//! logs while holding a lock would stop everything that needs the lock,
//! shutting down included.
//!
//! So the serving code never writes the log itself. It hands each line to a
//! queue of at most [`QUEUE_LINES`] lines, and one thread of its own, the log
//! writer, takes lines from the queue and writes them out. Handing over never
//! waits: when the queue is full, the line is dropped and counted. The
//! writer says so exactly where the lines are missing, `(37 log lines
//! dropped)`: before the next line that got through, or, if none came,
//! as soon as it has written everything the queue held.
//! Losing log lines is bad; a server that stops answering because nobody
//! reads its log is worse.
//!
//! This file is the same in lessons 03, 04 and 05.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread;
use std::time::Duration;

/// How many lines may wait for the writer before new ones are dropped:
/// about 100 KiB of short event lines.
pub const QUEUE_LINES: usize = 1024;

/// Which of the two outputs a line goes to.
enum Stream {
    /// Events: standard output, or whatever [`Log::start`] was given.
    Out,
    /// Errors the server survives: standard error.
    Err,
}

/// What waits in the queue: a line, and how many lines were dropped just
/// before it.
struct Entry {
    stream: Stream,
    line: String,
    dropped_before: u64,
}

/// Hands lines to the log writer; cheap to clone, one per thread that logs.
#[derive(Clone)]
pub struct Log {
    queue: SyncSender<Entry>,
    /// Lines dropped since the last one that got into the queue.
    dropped: Arc<AtomicU64>,
}

/// The log writer thread, to wait for at the end (see [`LogWriter::finish`]).
pub struct LogWriter {
    finished: Receiver<()>,
}

impl Log {
    // ANCHOR: start
    /// Starts the log writer: events go to `out`, errors to `err`.
    pub fn start(
        out: impl Write + Send + 'static,
        err: impl Write + Send + 'static,
    ) -> (Log, LogWriter) {
        let (queue, lines) = mpsc::sync_channel(QUEUE_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        let (done, finished) = mpsc::channel();
        let writer_dropped = Arc::clone(&dropped);
        thread::spawn(move || {
            write_lines(lines, out, err, &writer_dropped);
            let _ = done.send(());
        });
        (Log { queue, dropped }, LogWriter { finished })
    }
    // ANCHOR_END: start

    /// Queues an event line (without its `\n`). Never waits.
    pub fn line(&self, line: String) {
        self.send(Stream::Out, line);
    }

    /// Queues an error line for standard error. Never waits.
    pub fn error(&self, line: String) {
        self.send(Stream::Err, line);
    }

    // ANCHOR: send
    fn send(&self, stream: Stream, line: String) {
        // This line carries the count of the lines dropped before it; if it
        // is dropped too, the count goes back, one higher.
        let dropped_before = self.dropped.swap(0, Ordering::Relaxed);
        let entry = Entry {
            stream,
            line,
            dropped_before,
        };
        // `try_send`, not `send`: `send` would wait for room in a full queue,
        // which is exactly the wait this module exists to avoid.
        match self.queue.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped
                    .fetch_add(dropped_before + 1, Ordering::Relaxed);
            }
            // The writer has stopped: nobody can show the line any more.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
    // ANCHOR_END: send
}

impl LogWriter {
    /// Waits until the writer has written every queued line, but at most
    /// `limit`: a log nobody reads must not keep the program from exiting.
    /// Call it after every [`Log`] has been dropped (the writer stops when
    /// the last one is gone). Returns whether the writer finished in time.
    pub fn finish(self, limit: Duration) -> bool {
        self.finished.recv_timeout(limit).is_ok()
    }
}

// ANCHOR: write_lines
/// The writer thread: one line at a time, each flushed, so a line is on its
/// way as soon as it is written. Write errors are ignored: a closed stdout
/// must not stop the server either.
fn write_lines(
    entries: Receiver<Entry>,
    mut out: impl Write,
    mut err: impl Write,
    dropped: &AtomicU64,
) {
    loop {
        let entry = match entries.try_recv() {
            Ok(entry) => entry,
            Err(TryRecvError::Empty) => {
                // Everything queued is written: lines dropped since the
                // last one that got through are missing here.
                report_dropped(&mut out, dropped.swap(0, Ordering::Relaxed));
                match entries.recv() {
                    Ok(entry) => entry,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        report_dropped(&mut out, entry.dropped_before);
        let target: &mut dyn Write = match entry.stream {
            Stream::Out => &mut out,
            Stream::Err => &mut err,
        };
        let _ = writeln!(target, "{}", entry.line);
        let _ = target.flush();
    }
    // Every `Log` is gone: lines dropped after the last one that got through.
    report_dropped(&mut out, dropped.swap(0, Ordering::Relaxed));
}

/// Says how many lines were dropped at this point, if any were.
fn report_dropped(out: &mut impl Write, count: u64) {
    if count > 0 {
        let _ = writeln!(out, "({count} log lines dropped)");
        let _ = out.flush();
    }
}
// ANCHOR_END: write_lines

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::Mutex;

    /// An output that blocks every write until `open` is set: a pipe nobody
    /// reads, until somebody does.
    #[derive(Clone, Default)]
    struct Gate {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Gate {
        fn open(&self) {
            let (lock, opened) = &*self.open;
            *lock.lock().expect("gate lock") = true;
            opened.notify_all();
        }
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.written.lock().expect("buffer lock")).into_owned()
        }
    }

    impl Write for Gate {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let (lock, opened) = &*self.open;
            let mut open = lock.lock().expect("gate lock");
            while !*open {
                open = opened.wait(open).expect("gate wait");
            }
            self.written
                .lock()
                .expect("buffer lock")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_output_never_blocks_the_caller_and_drops_are_counted() {
        let gate = Gate::default();
        let (log, writer) = Log::start(gate.clone(), io::sink());
        // The writer takes the first line and blocks writing it; the queue
        // then fills; everything after that is dropped, and none of these
        // calls may wait.
        let total = QUEUE_LINES + 500;
        for n in 0..total {
            log.line(format!("line {n}"));
        }
        gate.open();
        drop(log);
        assert!(
            writer.finish(Duration::from_secs(5)),
            "the writer did not finish"
        );
        let text = gate.text();
        let written = text.lines().filter(|l| l.starts_with("line ")).count();
        // Usually one "(N log lines dropped)" line; two if the writer took
        // the first line only after the queue had filled (it then reports
        // the drops so far before that line, and the later ones after it).
        let dropped_lines: Vec<&str> = text
            .lines()
            .filter(|l| l.ends_with(" log lines dropped)"))
            .collect();
        assert!(
            !dropped_lines.is_empty(),
            "no \"(N log lines dropped)\" line in:\n{text}"
        );
        let dropped: usize = dropped_lines
            .iter()
            .map(|line| {
                line.trim_start_matches('(')
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or_else(|| panic!("cannot read the count in {line:?}"))
            })
            .sum();
        assert_eq!(
            written + dropped,
            total,
            "every line is either written or counted as dropped:\n{text}"
        );
        assert!(
            dropped > 0 && written >= QUEUE_LINES,
            "expected the queue ({QUEUE_LINES} lines) to be written and the rest dropped; \
             written {written}, dropped {dropped}"
        );
    }

    #[test]
    fn the_count_of_dropped_lines_stands_where_they_are_missing() {
        let gate = Gate::default();
        let (log, writer) = Log::start(gate.clone(), io::sink());
        let total = QUEUE_LINES + 500;
        for n in 0..total {
            log.line(format!("line {n}"));
        }
        gate.open();
        // Wait (bounded) until the writer has written what the queue held,
        // so that the next line finds room.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while gate.text().lines().count() < QUEUE_LINES {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer did not catch up:\n{}",
                gate.text()
            );
            thread::sleep(Duration::from_millis(10));
        }
        log.line("after the gap".into());
        drop(log);
        assert!(
            writer.finish(Duration::from_secs(5)),
            "the writer did not finish"
        );

        // Walk the output: each notice must stand exactly where its lines
        // are missing, so that the numbers always add up to the next line.
        let text = gate.text();
        let mut next = 0;
        for (at, line) in text.lines().enumerate() {
            if let Some(count) = line
                .strip_prefix('(')
                .and_then(|rest| rest.strip_suffix(" log lines dropped)"))
            {
                next += count.parse::<usize>().expect("a count in the notice");
            } else if line == "after the gap" {
                assert_eq!(
                    next, total,
                    "at output line {at}, before {line:?}: lines up to {next} accounted \
                     for, of {total}"
                );
                return;
            } else {
                assert_eq!(
                    line,
                    format!("line {next}"),
                    "at output line {at}: lines before it and notices add up to {next}"
                );
                next += 1;
            }
        }
        panic!("\"after the gap\" was never written");
    }

    #[test]
    fn the_count_is_written_once_the_queue_is_empty_without_waiting_for_a_next_line() {
        let gate = Gate::default();
        let (log, writer) = Log::start(gate.clone(), io::sink());
        let total = QUEUE_LINES + 500;
        for n in 0..total {
            log.line(format!("line {n}"));
        }
        gate.open();
        // No more lines come, and `log` stays alive: the writer must still
        // say how many were dropped, once it has written the queue.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = gate.text();
            let dropped_count = |line: &str| {
                line.strip_prefix('(')
                    .and_then(|rest| rest.strip_suffix(" log lines dropped)"))
                    .map(|count| count.parse::<usize>().expect("a count in the notice"))
            };
            if text.lines().last().and_then(dropped_count).is_some() {
                let written = text.lines().filter(|l| l.starts_with("line ")).count();
                let dropped: usize = text.lines().filter_map(dropped_count).sum();
                assert_eq!(
                    written + dropped,
                    total,
                    "written {written} and dropped {dropped}, of {total}"
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no \"(N log lines dropped)\" at the end within 5 s; the last lines: {:?}",
                text.lines().rev().take(3).collect::<Vec<_>>()
            );
            thread::sleep(Duration::from_millis(10));
        }
        drop(log);
        assert!(
            writer.finish(Duration::from_secs(5)),
            "the writer did not finish"
        );
    }

    #[test]
    fn lines_go_to_their_stream_in_order() {
        let out = Gate::default();
        let err = Gate::default();
        out.open();
        err.open();
        let (log, writer) = Log::start(out.clone(), err.clone());
        log.line("one".into());
        log.error("error: two".into());
        log.line("three".into());
        drop(log);
        assert!(writer.finish(Duration::from_secs(5)));
        assert_eq!(out.text(), "one\nthree\n");
        assert_eq!(err.text(), "error: two\n");
    }

    #[test]
    fn finish_gives_up_on_an_output_that_never_takes_the_lines() {
        let gate = Gate::default();
        let (log, writer) = Log::start(gate.clone(), io::sink());
        log.line("stuck".into());
        drop(log);
        assert!(
            !writer.finish(Duration::from_millis(200)),
            "finish must return false when the output is still blocked"
        );
        gate.open();
    }
}
