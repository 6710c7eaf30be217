//! The server: accept a client, read its header, say `READY`, receive the
//! body into a temporary file, save it, say `OK`, and go on to the next
//! client. One client at a time, like the tutorial's server.
//!
//! Read it top to bottom: [`serve`] is the accept loop, [`receive_upload`] is
//! one upload from header to save, [`receive_body`] is the body loop, and
//! [`reply_and_close`] is how every conversation ends. Whatever a client
//! does, it ends in one `OK` or `ERR` line and one log line, and the server
//! goes on.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::atomic_save::{TempFile, remove_leftovers, sync_dir};
use crate::deadline::{Deadline, is_timeout};
use crate::log::Log;
use crate::protocol::{
    BODY_BUFFER, ErrorCode, Line, MAX_LINE, Refusal, megabytes_per_second, name_in_header,
    parse_header, printable, read_line_bounded, shorten,
};
use crate::zero_copy::{self, CopyMode};

/// What the server needs to know besides its listener.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where files are saved (and where their temporary files live).
    pub dir: PathBuf,
    /// The largest size accepted, in bytes.
    pub max_size: u64,
    /// Replace a file that already exists instead of refusing with `exists`.
    pub overwrite: bool,
    /// The longest a client may stay silent, and the time the whole header
    /// has to arrive in.
    pub timeout: Duration,
    /// The slowest body accepted, in bytes per second on average: the body
    /// must be complete within `timeout` + `size / min_rate` seconds.
    pub min_rate: u64,
    /// Stop after this many clients (`None`: serve forever).
    pub max_clients: Option<u64>,
    /// How the body goes from the socket to the file.
    pub copy: CopyMode,
}

// ANCHOR: serve
/// Serves clients one after another until `max_clients` have been served (or
/// forever). An upload that fails is answered with `ERR`, logged, and the
/// next client is served: no client can stop the server.
///
/// Event lines go to `log_to` through the log writer of [`crate::log`], so a
/// log nobody reads never holds up serving.
pub fn serve(
    listener: TcpListener,
    config: &ServerConfig,
    log_to: impl Write + Send + 'static,
) -> anyhow::Result<()> {
    if config.timeout.is_zero() || config.min_rate == 0 {
        bail!("the time-out and the minimum rate must be more than zero");
    }
    let (log, log_writer) = Log::start(log_to, io::stderr());
    // Sweep before saying where files go: whoever waits for that line (a
    // test, a script) may write into --dir at once, and the sweep must not
    // take those files for leftovers.
    let swept = remove_leftovers(&config.dir);
    log.line(format!("saving files in {}", config.dir.display()));
    match swept {
        Ok(removed) => {
            for name in removed {
                log.line(format!("removed {name}, left by a server that was killed"));
            }
        }
        Err(err) => log.error(format!(
            "error: looking for leftover temporary files: {err}"
        )),
    }

    let mut served: u64 = 0;
    while config.max_clients != Some(served) {
        // Python: `conn, addr = server.accept()`. While we serve this
        // client, the next one waits in the listen queue.
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) => {
                accept_failed(&err, &log);
                continue;
            }
        };
        served += 1;
        log.line(format!("client {peer} connected"));

        let mut upload = Upload::default();
        let result = receive_upload(&stream, config, &mut upload);
        let reply = match &result {
            Ok(()) => format!("OK {}\n", upload.size),
            Err(refusal) => format!("ERR {refusal}\n"),
        };
        reply_and_close(&stream, &reply);
        log.line(log_line(&upload, &result));
    }
    // Give the last lines a moment to reach the log, but never wait on a
    // log nobody reads.
    drop(log);
    log_writer.finish(LOG_FINISH_LIMIT);
    Ok(())
}
// ANCHOR_END: serve

/// How long [`serve`] waits, at the end, for its last log lines.
const LOG_FINISH_LIMIT: Duration = Duration::from_millis(500);

// ANCHOR: accept_failed
/// A failed `accept` does not end the server. Most failures concern one
/// connection (it was reset while it waited in the queue), and the next
/// `accept` works. Others, like running out of file descriptors (EMFILE),
/// last until something changes: retrying at once would spin the CPU and
/// flood the log, so the loop pauses a little first.
fn accept_failed(err: &io::Error, log: &Log) {
    log.error(format!("error: cannot accept a client: {err}"));
    if !matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) {
        thread::sleep(ACCEPT_BACKOFF);
    }
}
// ANCHOR_END: accept_failed

/// The pause after an `accept` error that does not go away by itself.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the server has learnt about one upload so far: enough for its one
/// closing log line, whichever way it ends.
#[derive(Debug, Default)]
struct Upload {
    /// The name from the header, once there was one (a refused name too).
    name: Option<String>,
    /// The announced size.
    size: u64,
    /// `READY` was sent: from here on, a failure is an aborted body.
    body_started: bool,
    /// Body bytes received so far.
    received: u64,
    /// From `READY` to the end of the save.
    elapsed: Duration,
}

// ANCHOR: receive_upload
/// Runs the protocol for one client, up to (not including) the final reply:
/// header, checks, `READY`, body, save. `Ok` means the file is saved under
/// its name; `Err` is the refusal to send.
fn receive_upload(
    mut stream: &TcpStream,
    config: &ServerConfig,
    upload: &mut Upload,
) -> Result<(), Refusal> {
    // A client that stops reading must not hold the server either: every
    // write gives up after --timeout.
    stream
        .set_write_timeout(Some(config.timeout))
        .map_err(|err| io_refusal("setting the time-out", err))?;

    // 1. The header: one line of at most MAX_LINE bytes, complete within
    //    --timeout of connecting, however its bytes are spread out.
    let socket = Deadline::new(stream, config.timeout, config.timeout);
    let mut reader = BufReader::with_capacity(MAX_LINE, socket);
    let line = read_header(&mut reader, config.timeout)?;
    let header = match parse_header(&line) {
        Ok(header) => header,
        Err(refusal) => {
            if refusal.code == ErrorCode::BadName {
                upload.name = name_in_header(&line); // worth logging, escaped
            }
            return Err(refusal);
        }
    };
    upload.name = Some(header.name.clone());
    upload.size = header.size;

    // 2. Checks that need no body: the size, then the name.
    if header.size > config.max_size {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!(
                "{} bytes is more than the limit of {} bytes",
                header.size, config.max_size
            ),
        ));
    }
    let target = config.dir.join(&header.name);
    check_name_is_free(&target, &header.name, config.overwrite)?;
    let mut temp = TempFile::create_in(&config.dir)
        .map_err(|err| io_refusal("creating a temporary file", err))?;

    // 3. Only now may the body come. It gets a deadline of its own, from
    //    its size: a client may be slow, but not slower than --min-rate.
    stream
        .write_all(b"READY\n")
        .map_err(|err| io_refusal("sending READY", err))?;
    let started = Instant::now();
    upload.body_started = true;
    reader.get_mut().restart(body_time(header.size, config));
    let received = &mut upload.received;
    match config.copy {
        CopyMode::Loop => receive_body(&mut reader, &mut temp.file, header.size, received)?,
        CopyMode::ZeroCopy => {
            zero_copy::receive_body(&mut reader, &mut temp.file, header.size, received)?;
        }
    }

    // 4. The file is complete: make it durable, give it its name (unless
    //    someone took the name meanwhile), and make the name durable. (What
    //    the two syncs buy shows only after a power cut: no test sees it.)
    temp.file
        .sync_all()
        .map_err(|err| io_refusal("syncing the file to disk", err))?;
    match temp.persist(&target, config.overwrite) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Refusal::new(
                ErrorCode::Exists,
                format!(
                    "{} was created by someone else during the upload",
                    printable(&header.name)
                ),
            ));
        }
        Err(err) => return Err(io_refusal("renaming the temporary file", err)),
    }
    sync_dir(&config.dir).map_err(|err| io_refusal("syncing the directory", err))?;
    upload.elapsed = started.elapsed();
    Ok(())
}
// ANCHOR_END: receive_upload

/// Reads the header line through the header's deadline.
fn read_header(
    reader: &mut BufReader<Deadline<'_>>,
    timeout: Duration,
) -> Result<Vec<u8>, Refusal> {
    let bad_header = |detail: &str| Refusal::new(ErrorCode::BadHeader, detail);
    match read_line_bounded(reader, MAX_LINE) {
        Ok(Line::Complete(line)) => Ok(line),
        Ok(Line::TooLong) => Err(bad_header(&format!(
            "no newline in the first {MAX_LINE} bytes"
        ))),
        Ok(Line::Closed(0)) => Err(bad_header("the connection closed before a header")),
        Ok(Line::Closed(_)) => Err(bad_header(
            "the connection closed in the middle of the header",
        )),
        Err(err) if is_timeout(&err) => Err(Refusal::new(
            ErrorCode::Timeout,
            format!("no header within {} s", timeout.as_secs()),
        )),
        Err(err) => Err(io_refusal("reading the header", err)),
    }
}

// ANCHOR: check_name_is_free
/// Refuses a name that is taken, before the body is sent: a courtesy that
/// saves the client from sending a file the server will not keep. It is not
/// the protection: between this check and the end of the upload another
/// program may create the file. [`TempFile::persist`] checks again, in the
/// same step as the rename.
fn check_name_is_free(target: &Path, name: &str, overwrite: bool) -> Result<(), Refusal> {
    // symlink_metadata, not exists(): a dangling symbolic link is a name
    // that is taken too.
    match target.symlink_metadata() {
        Ok(meta) if meta.is_dir() => Err(Refusal::new(
            ErrorCode::Exists,
            format!("{} is a directory", printable(name)),
        )),
        Ok(_) if !overwrite => Err(Refusal::new(
            ErrorCode::Exists,
            format!("{} already exists", printable(name)),
        )),
        _ => Ok(()),
    }
}
// ANCHOR_END: check_name_is_free

// ANCHOR: body_time
/// How long a body of `size` bytes may take: `--timeout` to get going, plus
/// one second for every `--min-rate` bytes (rounded up). A client trickling
/// one byte just before each `--timeout` therefore cannot hold the server
/// for ever.
fn body_time(size: u64, config: &ServerConfig) -> Duration {
    Duration::from_secs(size.div_ceil(config.min_rate)).saturating_add(config.timeout)
}
// ANCHOR_END: body_time

// ANCHOR: receive_body
/// Copies exactly `size` bytes from the client into `file`, counting them in
/// `received` as they go (so the caller knows how far a failed body got).
///
/// The loop ends when `size` bytes have arrived, not at end of stream: end of
/// stream before that is a cut-off upload (`short`), never a complete file.
/// It asks for no more than is still due, so it never reads past the body.
pub fn receive_body(
    reader: &mut BufReader<Deadline<'_>>,
    file: &mut File,
    size: u64,
    received: &mut u64,
) -> Result<(), Refusal> {
    let mut buffer = vec![0u8; BODY_BUFFER];
    while *received < size {
        let due = (size - *received).min(BODY_BUFFER as u64) as usize;
        // Python: `data = conn.recv(...)`. The first reads return what the
        // BufReader still holds (bytes sent together with the header); after
        // that, since `buffer` is larger than the BufReader's own, each read
        // goes straight to the socket.
        let n = match reader.read(&mut buffer[..due]) {
            Ok(0) => return Err(body_ended(size, *received)),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(body_failed(reader.get_ref(), size, *received, &err)),
        };
        file.write_all(&buffer[..n]).map_err(write_failed)?;
        *received += n as u64;
    }
    Ok(())
}
// ANCHOR_END: receive_body

// ANCHOR: reply_and_close
/// Sends the final line (`OK ...` or `ERR ...`) and closes politely.
///
/// If a socket is closed while bytes the peer sent are still unread, the
/// kernel answers with a reset (RST) instead of a normal close, and a reset
/// can destroy the line before the client reads it. So after the line we
/// shut down our write half (the client reads the line, then end of stream)
/// and swallow what is still arriving, for at most [`DRAIN_TIME`] in all and
/// [`DRAIN_LIMIT`] bytes, before the socket is dropped. A client that did
/// its part has already shut down its write half, and this ends at once.
/// Returns how many bytes it swallowed.
fn reply_and_close(mut stream: &TcpStream, line: &str) -> u64 {
    // The client may be gone already; there is no one left to tell.
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    let rest = Deadline::new(stream, DRAIN_TIME, DRAIN_TIME);
    io::copy(&mut rest.take(DRAIN_LIMIT), &mut io::sink()).unwrap_or(0)
}
// ANCHOR_END: reply_and_close

/// How long the server keeps listening after its final line, to swallow
/// what the client is still sending. Kept short so that a client that goes
/// quiet cannot hold a one-client-at-a-time server for long.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// The most the server swallows after its final line before it closes
/// anyway (and the client then sees a reset).
const DRAIN_LIMIT: u64 = 64 * 1024;

/// The one log line that ends every client: `received`, `aborted` (with
/// the code: `short` or `timeout`) or `refused`. Names are escaped; a refused one is also cut, since it may be
/// 4 KiB of anything.
fn log_line(upload: &Upload, result: &Result<(), Refusal>) -> String {
    let name = upload.name.as_deref();
    match (result, name) {
        (Ok(()), name) => format!(
            "received {}: {} bytes in {:.3} s ({:.1} MB/s)",
            printable(name.unwrap_or_default()),
            upload.size,
            upload.elapsed.as_secs_f64(),
            megabytes_per_second(upload.size, upload.elapsed)
        ),
        (Err(refusal), Some(name))
            if upload.body_started
                && matches!(refusal.code, ErrorCode::Short | ErrorCode::Timeout) =>
        {
            format!(
                "aborted {}: expected {} bytes, got {} ({})",
                printable(name),
                upload.size,
                upload.received,
                refusal.code
            )
        }
        (Err(refusal), Some("")) => format!("refused \"\": {refusal}"),
        (Err(refusal), Some(name)) => {
            format!("refused {}: {refusal}", shorten(name, LOG_NAME_CHARS))
        }
        (Err(refusal), None) => format!("refused header: {refusal}"),
    }
}

/// How many characters of a refused name the log shows.
const LOG_NAME_CHARS: usize = 80;

/// The client closed before `size` bytes: `short`.
pub(crate) fn body_ended(size: u64, received: u64) -> Refusal {
    Refusal::new(
        ErrorCode::Short,
        format!("expected {size} bytes, got {received}"),
    )
}

/// Reading the body failed: `timeout` if the client was too slow (silent for
/// the idle limit, or past the body's deadline), else `short`.
pub(crate) fn body_failed(
    deadline: &Deadline<'_>,
    size: u64,
    received: u64,
    err: &io::Error,
) -> Refusal {
    if !is_timeout(err) {
        return Refusal::new(
            ErrorCode::Short,
            format!("the connection failed after {received} bytes: {err}"),
        );
    }
    if deadline.has_passed() {
        Refusal::new(
            ErrorCode::Timeout,
            format!(
                "the body was not complete within {} s (the time allowed for {size} bytes)",
                deadline.phase().as_secs()
            ),
        )
    } else {
        Refusal::new(
            ErrorCode::Timeout,
            format!("no data for {} s", deadline.idle().as_secs()),
        )
    }
}

/// Writing the file failed (a full disk, say): `io`.
pub(crate) fn write_failed(err: io::Error) -> Refusal {
    io_refusal("writing the file", err)
}

/// Anything else the server could not do: `io`, with what it was doing.
fn io_refusal(what: &str, err: io::Error) -> Refusal {
    Refusal::new(ErrorCode::Io, format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    //! Both body receivers, in-process: exact counts, and a short body; the
    //! polite close; and the settings `serve` refuses.

    use super::*;
    use std::fs;

    /// Sends `trailing` bytes after the server's final line and returns
    /// how many `reply_and_close` swallowed, and what the client read.
    fn swallowed_after_reply(trailing: usize) -> (u64, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
        let mut client =
            TcpStream::connect(listener.local_addr().expect("address")).expect("connecting");
        let (server_side, _) = listener.accept().expect("accepting");
        let sender = thread::spawn(move || {
            // Errors are expected once the server stops reading.
            let _ = client.write_all(&vec![b'z'; trailing]);
            let _ = client.shutdown(Shutdown::Write);
            let mut reply = Vec::new();
            let _ = client.read_to_end(&mut reply);
            reply
        });
        let swallowed = reply_and_close(&server_side, "ERR io just a test\n");
        drop(server_side);
        (
            swallowed,
            sender.join().expect("the client thread panicked"),
        )
    }

    #[test]
    fn the_close_swallows_what_follows_up_to_64_kib() {
        let (swallowed, reply) = swallowed_after_reply(60 * 1024);
        assert_eq!(
            swallowed,
            60 * 1024,
            "all of a short trailer, up to its end"
        );
        assert_eq!(reply, b"ERR io just a test\n");
        let (swallowed, _) = swallowed_after_reply(1024 * 1024);
        assert_eq!(swallowed, DRAIN_LIMIT, "at most 64 KiB of a long one");
        assert_eq!(DRAIN_LIMIT, 65536);
    }

    #[test]
    fn serve_refuses_a_zero_time_out_or_rate() {
        let dir = std::env::temp_dir().join(format!("lesson-04-unit-serve-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("creating a scratch folder");
        let config = ServerConfig {
            dir: dir.clone(),
            max_size: 10,
            overwrite: false,
            timeout: Duration::from_secs(1),
            min_rate: 1,
            // Some(0): if the settings were wrongly accepted, serve returns
            // at once (no client needed) instead of waiting for one.
            max_clients: Some(0),
            copy: CopyMode::Loop,
        };
        let listener = || TcpListener::bind("127.0.0.1:0").expect("binding");
        for (timeout, min_rate) in [(0, 1), (1, 0)] {
            let config = ServerConfig {
                timeout: Duration::from_secs(timeout),
                min_rate,
                ..config.clone()
            };
            let err = serve(listener(), &config, io::sink())
                .expect_err("a zero time-out or rate must be refused");
            assert_eq!(
                err.to_string(),
                "the time-out and the minimum rate must be more than zero"
            );
        }
        // With both set, it serves `max_clients` clients and returns.
        let listener = listener();
        let addr = listener.local_addr().expect("address");
        let client = thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).expect("connecting");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("read time-out");
            stream.write_all(b"x\n").expect("sending a header");
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).map(|_| reply)
        });
        let config = ServerConfig {
            max_clients: Some(1),
            ..config
        };
        // On a thread, so that a loop that never ends fails this test
        // instead of hanging it.
        let (done, finished) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let _ = done.send(serve(listener, &config, io::sink()).map_err(|err| err.to_string()));
        });
        let result = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("serve must return after max_clients (1) clients");
        assert_eq!(result, Ok(()), "serving one client");
        let reply = client.join().expect("the client thread panicked");
        assert_eq!(
            reply.map_err(|err| err.to_string()),
            Ok(b"ERR bad-header expected \"SEND <size> <name>\", got \"x\"\n".to_vec())
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// Sends `early` (as if it came with the header) and then `body` to a
    /// fresh server-side socket, closes, and runs the receiver chosen by
    /// `copy` on it for an announced `size`.
    fn receive(
        copy: CopyMode,
        early: &[u8],
        body: Vec<u8>,
        size: u64,
    ) -> (Result<(), Refusal>, u64, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
        let addr = listener.local_addr().expect("local address");
        let mut header = b"SEND x y\n".to_vec();
        header.extend_from_slice(early);
        let sender = thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).expect("connecting");
            stream.write_all(&header).expect("sending the header");
            stream.write_all(&body).expect("sending the body");
        });
        let (stream, _) = listener.accept().expect("accepting");
        let idle = Duration::from_secs(10);
        let mut reader = BufReader::with_capacity(MAX_LINE, Deadline::new(&stream, idle, idle));
        read_header(&mut reader, idle).expect("reading the header");
        let dir = std::env::temp_dir().join(format!(
            "lesson-04-unit-recv-{copy:?}-{}-{size}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).expect("creating a scratch folder");
        let path = dir.join("body.bin");
        let mut file = File::create(&path).expect("creating the file");
        let mut received = 0;
        let result = match copy {
            CopyMode::Loop => receive_body(&mut reader, &mut file, size, &mut received),
            CopyMode::ZeroCopy => {
                zero_copy::receive_body(&mut reader, &mut file, size, &mut received)
            }
        };
        sender.join().expect("the sender panicked");
        let saved = fs::read(&path).expect("reading the file back");
        let _ = fs::remove_dir_all(&dir);
        (result, received, saved)
    }

    fn takes_exactly_size_bytes(copy: CopyMode) {
        let body: Vec<u8> = (0..BODY_BUFFER * 2 + 7).map(|i| (i % 253) as u8).collect();
        let size = body.len() as u64;
        // The first 5 bytes come with the header; 9 more than announced follow.
        let mut extra = body.clone();
        extra.extend_from_slice(b"not mine!");
        let (result, received, saved) = receive(copy, &extra[..5], extra[5..].to_vec(), size);
        assert_eq!(result, Ok(()), "{copy:?}");
        assert_eq!(received, size, "{copy:?}");
        assert!(
            saved == body,
            "{copy:?}: saved {} bytes, expected the {size} announced",
            saved.len(),
        );
    }

    #[test]
    fn the_loop_receiver_takes_exactly_size_bytes() {
        takes_exactly_size_bytes(CopyMode::Loop);
    }

    #[test]
    fn the_zero_copy_receiver_takes_exactly_size_bytes() {
        takes_exactly_size_bytes(CopyMode::ZeroCopy);
    }

    fn reports_a_short_body(copy: CopyMode) {
        let (result, received, _) = receive(copy, b"", vec![7u8; 1000], 3000);
        assert_eq!(received, 1000, "{copy:?}");
        assert_eq!(
            result.map_err(|refusal| refusal.to_string()),
            Err("short expected 3000 bytes, got 1000".to_string()),
            "{copy:?}"
        );
    }

    #[test]
    fn the_loop_receiver_reports_a_short_body() {
        reports_a_short_body(CopyMode::Loop);
    }

    #[test]
    fn the_zero_copy_receiver_reports_a_short_body() {
        reports_a_short_body(CopyMode::ZeroCopy);
    }
}
