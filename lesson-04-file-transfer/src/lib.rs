//! Lesson 04: a file transfer that loses nothing.
//!
//! The tutorial's file transfer opens a connection, sends the raw bytes of a
//! file and closes. The server cannot know the file's name, cannot tell a
//! complete file from one that was cut off, and the client never learns
//! whether the file was saved. This crate keeps the tutorial's shape (one
//! client streams a file, the server saves it) and fixes each of those with a
//! tiny line-based protocol:
//!
//! ```text
//! client -> server   SEND <size> <name>\n
//! server -> client   READY\n                 or  ERR <code> <detail>\n and close
//! client -> server   exactly <size> bytes, then shut down the write half
//! server -> client   OK <size>\n             only once the file is complete on disk
//!                    or ERR <code> <detail>\n
//! ```
//!
//! The server ([`serve`]) reads a bounded header, checks the name, streams the
//! body through a fixed buffer into a temporary file, and only after
//! `sync_all` and `rename` answers `OK`. The client ([`send_file`]) refuses
//! to connect for a file it cannot read, waits for `READY`, streams the file
//! (with `sendfile` on Linux) and succeeds only on the `OK` with the right
//! size.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};

/// The port this lesson uses unless told otherwise: 7000 + lesson number.
pub const DEFAULT_PORT: u16 = 7004;

// ANCHOR: limits
/// The longest line either side reads, `\n` included. A real header is at
/// most `SEND ` + 20 digits + a space + 255 bytes of name + `\n` = 282 bytes;
/// the rest is headroom. Whatever a client sends, the server never holds more
/// than this while it looks for the end of the line.
pub const MAX_LINE: usize = 4096;

/// The longest name accepted, in bytes: what Linux, macOS and Windows file
/// systems allow for one path component.
pub const MAX_NAME: usize = 255;

/// The server's body buffer. A fixed 1 MiB: large enough that each `read`
/// and `write` system call moves a lot of data, small enough that memory
/// stays flat whatever the size of the file.
pub const BODY_BUFFER: usize = 1024 * 1024;
// ANCHOR_END: limits

/// How long the server keeps listening after a refusal, to swallow what the
/// client had already sent (see [`refuse`]). Kept short so that a client that
/// goes quiet cannot hold a one-client-at-a-time server for long.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// The most the server swallows after a refusal before it closes anyway.
const DRAIN_LIMIT: u64 = 64 * 1024;

// ---------------------------------------------------------------------------
// The protocol: codes, refusals, headers, names, replies.
// ---------------------------------------------------------------------------

/// Why the server said no: the `<code>` word of an `ERR <code> <detail>` line.
///
/// The words are stable so that a program can match them; the detail that
/// follows is for humans and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The header line is not `SEND <size> <name>\n`.
    BadHeader,
    /// The name could escape `--dir` or is not a plain file name.
    BadName,
    /// The announced size is over `--max-size`.
    TooLarge,
    /// A file of that name is already there and `--overwrite` is off.
    Exists,
    /// The body ended before `<size>` bytes arrived.
    Short,
    /// The client went quiet for longer than `--timeout`.
    Timeout,
    /// The server could not write the file.
    Io,
}

impl Code {
    /// The word that goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadHeader => "bad-header",
            Code::BadName => "bad-name",
            Code::TooLarge => "too-large",
            Code::Exists => "exists",
            Code::Short => "short",
            Code::Timeout => "timeout",
            Code::Io => "io",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal the server sends as `ERR <code> <detail>\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The stable word.
    pub code: Code,
    /// One line for humans. It never contains `\n`: every piece of client
    /// input in it has passed through [`printable`].
    pub detail: String,
}

impl Refusal {
    fn new(code: Code, detail: impl Into<String>) -> Self {
        Refusal {
            code,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.detail)
    }
}

/// A parsed `SEND <size> <name>` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// How many body bytes follow `READY`.
    pub size: u64,
    /// The file name, already checked by [`validate_name`].
    pub name: String,
}

// ANCHOR: parse_header
/// Parses one header line, without its `\n`.
///
/// The whole line must be UTF-8 text, start with `SEND `, then a size made
/// only of ASCII digits (so `-5`, `+5` and ` 5` are refused, which
/// `u64::from_str` alone would not all do), one space, and the name: the rest
/// of the line, spaces included.
pub fn parse_header(line: &[u8]) -> Result<Header, Refusal> {
    let bad = |detail: String| Refusal::new(Code::BadHeader, detail);
    let Ok(text) = std::str::from_utf8(line) else {
        return Err(bad("the header is not valid UTF-8".into()));
    };
    let Some(rest) = text.strip_prefix("SEND ") else {
        return Err(bad(format!(
            "expected \"SEND <size> <name>\", got \"{}\"",
            shorten(text)
        )));
    };
    let Some((size_text, name)) = rest.split_once(' ') else {
        return Err(bad("expected a space between the size and the name".into()));
    };
    if size_text.is_empty() || !size_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "the size must be a decimal number of bytes, got \"{}\"",
            shorten(size_text)
        )));
    }
    let Ok(size) = size_text.parse::<u64>() else {
        return Err(bad(format!(
            "the size {} does not fit in 64 bits",
            shorten(size_text)
        )));
    };
    validate_name(name)?;
    Ok(Header {
        size,
        name: name.to_string(),
    })
}
// ANCHOR_END: parse_header

// ANCHOR: validate_name
/// Accepts a name only if it is a plain file name that stays inside `--dir`.
///
/// `dir.join(name)` is the only way a name reaches the file system, and
/// `join` with `/etc/passwd` *replaces* the directory, with `..` climbs out
/// of it, and `a/b` reaches into a subfolder. So a name is 1 to 255 bytes,
/// is not `.` or `..`, and contains no `/`, no `\` (a separator on Windows),
/// and no control character (NUL, `\r`, escape codes: they hide in listings
/// and in logs). The name is already UTF-8: it came from a `&str`.
pub fn validate_name(name: &str) -> Result<(), Refusal> {
    let bad = |detail: String| Refusal::new(Code::BadName, detail);
    if name.is_empty() {
        return Err(bad("the name is empty".into()));
    }
    if name.len() > MAX_NAME {
        return Err(bad(format!(
            "the name is {} bytes long; at most {MAX_NAME} are allowed",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(bad(format!("the name must not be \"{name}\"")));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(bad(format!("the name must not contain {c:?}")));
    }
    Ok(())
}
// ANCHOR_END: validate_name

/// What the server says to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `READY`: send the body now.
    Ready,
    /// `OK <size>`: the file is complete on disk.
    Ok(u64),
    /// `ERR <code> <detail>`.
    Err {
        /// The stable word, as received.
        code: String,
        /// The human part.
        detail: String,
    },
}

/// Parses one reply line, without its `\n`. `None` if it is none of the three.
pub fn parse_reply(line: &[u8]) -> Option<Reply> {
    let text = std::str::from_utf8(line).ok()?;
    if text == "READY" {
        return Some(Reply::Ready);
    }
    if let Some(size) = text.strip_prefix("OK ") {
        return size.parse().ok().map(Reply::Ok);
    }
    let rest = text.strip_prefix("ERR ")?;
    let (code, detail) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(Reply::Err {
        code: code.to_string(),
        detail: detail.to_string(),
    })
}

/// The result of reading one line with [`read_line_bounded`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A whole line, without its `\n`.
    Complete(Vec<u8>),
    /// `limit` bytes arrived and none of them was `\n`.
    TooLong,
    /// The peer closed the connection after this many bytes, before a `\n`.
    Closed(usize),
}

// ANCHOR: read_line_bounded
/// Reads one line of at most `limit` bytes, `\n` included.
///
/// `take(limit)` is what makes the read bounded: `read_until` alone would
/// keep growing its buffer for as long as the peer sends bytes that are not
/// `\n`, and a hostile peer never sends one.
pub fn read_line_bounded(reader: &mut impl BufRead, limit: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(limit as u64)
        .read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
        Ok(Line::Complete(line))
    } else if line.len() >= limit {
        Ok(Line::TooLong)
    } else {
        Ok(Line::Closed(line.len()))
    }
}
// ANCHOR_END: read_line_bounded

/// Makes client input safe to print on one line: control characters become
/// escapes (`\r`, `\0`, `\u{1b}`), everything else is kept as it is.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// [`printable`], cut to 40 characters so a detail stays one short line.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    printable(&short)
}

/// True for the errors a read or write time-out produces: Unix reports
/// `SO_RCVTIMEO` as `EAGAIN` (WouldBlock), Windows as `TimedOut`.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Bytes per second as decimal megabytes (10^6), the unit `dd` and `pv` use.
pub fn megabytes_per_second(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        bytes as f64 / 1e6 / secs
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------
// The server.
// ---------------------------------------------------------------------------

/// What the server needs to know besides its listener.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where files are saved (and where their temporary files live).
    pub dir: PathBuf,
    /// The largest size accepted, in bytes.
    pub max_size: u64,
    /// Replace a file that already exists instead of refusing with `exists`.
    pub overwrite: bool,
    /// How long a client may stay quiet before it is dropped.
    pub timeout: Duration,
    /// Stop after this many clients (`None`: serve forever).
    pub max_clients: Option<u64>,
}

// ANCHOR: temp_file
/// A temporary file inside `--dir` that deletes itself unless it is kept.
///
/// Its name is `.upload-<pid>-<n>.part`: the dot hides it from `ls`, the
/// process id and a counter that only goes up make two uploads of this server
/// never share one, and it is created with `create_new` (`O_EXCL`), which
/// fails instead of opening a file that is already there, so it can never
/// clobber anything, not even a file a client once uploaded under that very
/// name. Being in `--dir` itself matters: `rename` is atomic only within one
/// file system.
///
/// `Drop` removes the file. Every way out of an upload that is not
/// [`TempFile::persist`] (a short body, a time-out, a full disk, an early
/// `return` added in an exercise, a panic) therefore leaves nothing behind.
/// A signal skips `Drop`, so the path is also recorded for the server's
/// Ctrl-C handler ([`remove_unfinished_upload`]).
struct TempFile {
    path: PathBuf,
    file: File,
    kept: bool,
}

/// Numbers the temporary files of this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary file of the upload in progress, if any. A signal (Ctrl-C,
/// `kill`) ends the process without running `Drop`, so the server's signal
/// handler removes this one by name: see [`remove_unfinished_upload`].
static UNFINISHED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Records (or, with `None`, forgets) the upload in progress.
fn set_unfinished(path: Option<PathBuf>) {
    // A poisoned lock only means another thread panicked while holding it;
    // the path inside is still right.
    let mut slot = UNFINISHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = path;
}

/// Removes the temporary file of the upload in progress, if there is one.
/// For the server's Ctrl-C / SIGTERM handler, just before the process exits.
pub fn remove_unfinished_upload() {
    let mut slot = UNFINISHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = slot.take() {
        let _ = fs::remove_file(path);
    }
}

impl TempFile {
    fn create_in(dir: &Path) -> io::Result<TempFile> {
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".upload-{}-{n}.part", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    set_unfinished(Some(path.clone()));
                    return Ok(TempFile {
                        path,
                        file,
                        kept: false,
                    });
                }
                // Left over from an earlier server with the same pid: take
                // the next number.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// Gives the file its real name. `rename` replaces `target` in one step:
    /// anyone who opens `target` sees the old file or the new one, never half.
    fn persist(mut self, target: &Path) -> io::Result<()> {
        fs::rename(&self.path, target)?;
        self.kept = true;
        set_unfinished(None);
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            // Nothing more can be done if this fails; the file is ours alone.
            let _ = fs::remove_file(&self.path);
            set_unfinished(None);
        }
    }
}
// ANCHOR_END: temp_file

/// Creates `dir` if it is missing and proves the server can write there, so
/// that an unusable `--dir` is an error at start, not at the first upload.
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("cannot use --dir {}: it is not a folder", dir.display());
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot use --dir {}", dir.display()))?;
    // Creating (and, on drop, removing) a temporary file is exactly what an
    // upload does first.
    TempFile::create_in(dir)
        .with_context(|| format!("cannot write into --dir {}", dir.display()))?;
    Ok(())
}

// ANCHOR: serve
/// Serves clients one after another until `max_clients` have been served (or
/// forever). An upload that fails is logged and the next client is served: no
/// client can stop the server.
pub fn serve(listener: TcpListener, config: &ServerConfig) -> anyhow::Result<()> {
    let mut served = 0;
    for connection in listener.incoming() {
        match connection {
            Ok(stream) => {
                handle_client(stream, config);
                served += 1;
                if config.max_clients == Some(served) {
                    break;
                }
            }
            // A failed accept (e.g. the client reset the connection while it
            // waited in the backlog) is that client's problem, not ours.
            Err(err) => eprintln!("error: accepting a connection: {err}"),
        }
    }
    Ok(())
}
// ANCHOR_END: serve

/// How one upload ended, for the log line and the reply.
enum Failure {
    /// Refused before the body (or the server could not write it).
    Refused {
        name: Option<String>,
        refusal: Refusal,
    },
    /// The body stopped early.
    Aborted {
        name: String,
        expected: u64,
        got: u64,
        refusal: Refusal,
    },
}

/// Handles one client from `connected` to its one closing log line:
/// `received`, `refused` or `aborted`.
fn handle_client(stream: TcpStream, config: &ServerConfig) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "(unknown)".to_string(), |addr| addr.to_string());
    println!("client {peer} connected");
    let mut reader = BufReader::with_capacity(MAX_LINE, &stream);
    match receive_upload(&mut reader, &stream, config) {
        Ok((header, elapsed)) => println!(
            "received {}: {} bytes in {:.3} s ({:.1} MB/s)",
            printable(&header.name),
            header.size,
            elapsed.as_secs_f64(),
            megabytes_per_second(header.size, elapsed)
        ),
        Err(Failure::Refused { name, refusal }) => {
            refuse(&stream, &refusal);
            match name {
                Some(name) if name.is_empty() => println!("refused \"\": {refusal}"),
                Some(name) => println!("refused {}: {refusal}", printable(&name)),
                None => println!("refused header: {refusal}"),
            }
        }
        Err(Failure::Aborted {
            name,
            expected,
            got,
            refusal,
        }) => {
            refuse(&stream, &refusal);
            println!(
                "aborted {}: expected {expected} bytes, got {got}",
                printable(&name)
            );
        }
    }
}

// ANCHOR: refuse
/// Sends `ERR <code> <detail>\n` and closes politely.
///
/// If a socket is closed while bytes the peer sent are still unread, the
/// kernel answers with a reset (RST) instead of a normal close, and a reset
/// can destroy the `ERR` line before the client reads it. So after the line we
/// shut down our write half (the client reads `ERR`, then end of stream) and
/// swallow what is still arriving, for at most [`DRAIN_TIME`] and
/// [`DRAIN_LIMIT`] bytes, before the socket is dropped.
fn refuse(stream: &TcpStream, refusal: &Refusal) {
    let line = format!("ERR {} {}\n", refusal.code, refusal.detail);
    // The client may be gone already; there is no one left to tell.
    let _ = (&*stream).write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(DRAIN_TIME));
    let _ = io::copy(&mut stream.take(DRAIN_LIMIT), &mut io::sink());
}
// ANCHOR_END: refuse

// ANCHOR: receive_upload
/// Runs the protocol for one client: header, checks, `READY`, body, save, `OK`.
/// Returns the header and the time from `READY` to `OK`.
fn receive_upload(
    reader: &mut BufReader<&TcpStream>,
    stream: &TcpStream,
    config: &ServerConfig,
) -> Result<(Header, Duration), Failure> {
    let refused_header = |refusal| Failure::Refused {
        name: None,
        refusal,
    };
    let io_failure = |what: &str, err: io::Error| Refusal::new(Code::Io, format!("{what}: {err}"));

    // Every read and write on this client gives up after --timeout.
    stream
        .set_read_timeout(Some(config.timeout))
        .and_then(|()| stream.set_write_timeout(Some(config.timeout)))
        .map_err(|err| refused_header(io_failure("setting the time-out", err)))?;

    // 1. The header, bounded: at most MAX_LINE bytes are ever held.
    let line = match read_line_bounded(reader, MAX_LINE) {
        Ok(Line::Complete(line)) => line,
        Ok(Line::TooLong) => {
            return Err(refused_header(Refusal::new(
                Code::BadHeader,
                format!("no newline in the first {MAX_LINE} bytes"),
            )));
        }
        Ok(Line::Closed(0)) => {
            return Err(refused_header(Refusal::new(
                Code::BadHeader,
                "the connection closed before a header",
            )));
        }
        Ok(Line::Closed(_)) => {
            return Err(refused_header(Refusal::new(
                Code::BadHeader,
                "the connection closed in the middle of the header",
            )));
        }
        Err(err) if is_timeout(&err) => {
            return Err(refused_header(Refusal::new(
                Code::Timeout,
                format!("no header within {} s", config.timeout.as_secs()),
            )));
        }
        Err(err) => return Err(refused_header(io_failure("reading the header", err))),
    };
    let header = parse_header(&line).map_err(|refusal| {
        // A bad name still has a name worth logging.
        let name = (refusal.code == Code::BadName)
            .then(|| {
                String::from_utf8_lossy(&line)
                    .splitn(3, ' ')
                    .nth(2)
                    .map(String::from)
            })
            .flatten();
        Failure::Refused { name, refusal }
    })?;
    let refused = |refusal| Failure::Refused {
        name: Some(header.name.clone()),
        refusal,
    };

    // 2. Checks that need no body: size, then the target.
    if header.size > config.max_size {
        return Err(refused(Refusal::new(
            Code::TooLarge,
            format!(
                "{} bytes is more than the limit of {} bytes",
                header.size, config.max_size
            ),
        )));
    }
    let target = config.dir.join(&header.name);
    // symlink_metadata, not exists(): a dangling symbolic link is a name
    // that is taken too.
    match target.symlink_metadata() {
        Ok(meta) if meta.is_dir() => {
            return Err(refused(Refusal::new(
                Code::Exists,
                format!("{} is a directory", printable(&header.name)),
            )));
        }
        Ok(_) if !config.overwrite => {
            return Err(refused(Refusal::new(
                Code::Exists,
                format!("{} already exists", printable(&header.name)),
            )));
        }
        _ => {}
    }
    let mut temp = TempFile::create_in(&config.dir)
        .map_err(|err| refused(io_failure("creating a temporary file", err)))?;

    // 3. Only now may the body come.
    (&*stream)
        .write_all(b"READY\n")
        .map_err(|err| refused(io_failure("sending READY", err)))?;
    let started = Instant::now();
    receive_body(reader, &mut temp.file, &header, config.timeout)?;

    // 4. The file is complete: make it durable, give it its name, make the
    //    name durable, and only then say OK.
    temp.file
        .sync_all()
        .map_err(|err| refused(io_failure("syncing the file to disk", err)))?;
    temp.persist(&target)
        .map_err(|err| refused(io_failure("renaming the temporary file", err)))?;
    sync_dir(&config.dir).map_err(|err| refused(io_failure("syncing the directory", err)))?;
    let elapsed = started.elapsed();
    // The file is saved whether or not the client is still there to hear it.
    let _ = (&*stream).write_all(format!("OK {}\n", header.size).as_bytes());
    Ok((header, elapsed))
}
// ANCHOR_END: receive_upload

// ANCHOR: receive_body
/// Copies exactly `header.size` bytes from the client into `file`.
///
/// On Linux the kernel moves them ([`receive_body_splice`]); elsewhere they go
/// through a buffer ([`receive_body_buffered`]). Either way the count is
/// exact: end of stream before `size` bytes is a short body, never a
/// complete file.
fn receive_body(
    reader: &mut BufReader<&TcpStream>,
    file: &mut File,
    header: &Header,
    timeout: Duration,
) -> Result<u64, Failure> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let received = receive_body_splice(reader, file, header, timeout);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let received = receive_body_buffered(reader, file, header, timeout);
    received
}

/// The portable way: one fixed buffer of [`BODY_BUFFER`] bytes, `read` from
/// the socket, `write_all` to the file.
///
/// The loop asks for no more than what is still due, so it never reads past
/// the body. `read` returning 0 before the end means the client closed early.
#[cfg_attr(
    any(target_os = "linux", target_os = "android"),
    allow(
        dead_code,
        reason = "Linux uses receive_body_splice; the tests still run this"
    )
)]
fn receive_body_buffered(
    reader: &mut BufReader<&TcpStream>,
    file: &mut File,
    header: &Header,
    timeout: Duration,
) -> Result<u64, Failure> {
    let mut buffer = vec![0u8; BODY_BUFFER];
    let mut received: u64 = 0;
    while received < header.size {
        let due = (header.size - received).min(BODY_BUFFER as u64) as usize;
        // A read into a buffer larger than BufReader's own goes straight to
        // the socket once the few header-time bytes it holds are used up.
        let n = match reader.read(&mut buffer[..due]) {
            Ok(0) => return Err(body_ended(header, received)),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(body_failed(header, received, &err, timeout)),
        };
        file.write_all(&buffer[..n])
            .map_err(|err| write_failed(header, &err))?;
        received += n as u64;
    }
    Ok(received)
}

// ANCHOR_END: receive_body

// ANCHOR: receive_body_splice
/// `splice(2)`: the kernel moves the bytes from the socket into a pipe (by
/// handing over its buffers, not copying them) and from the pipe into the
/// file, so they never pass through this process. That saves one copy of
/// every byte, the server's largest cost (see the chapter's benchmark).
///
/// A pipe is needed because `splice` always has a pipe on one side. It is
/// enlarged to [`BODY_BUFFER`] and emptied after every fill, so at most that
/// much is in flight, like the buffer of the portable loop.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn receive_body_splice(
    reader: &mut BufReader<&TcpStream>,
    file: &mut File,
    header: &Header,
    timeout: Duration,
) -> Result<u64, Failure> {
    use rustix::io::Errno;
    use rustix::pipe::{SpliceFlags, fcntl_setpipe_size, splice};

    // Bytes the client sent before READY are in the BufReader, not the
    // socket: they come first.
    let early = reader.buffer();
    let early = &early[..early.len().min(header.size as usize)];
    file.write_all(early)
        .map_err(|err| write_failed(header, &err))?;
    let mut received = early.len() as u64;
    let early_len = early.len();
    reader.consume(early_len);

    let (mut pipe_reader, pipe_writer) = io::pipe().map_err(|err| write_failed(header, &err))?;
    // Best effort: a smaller pipe (64 KiB by default) only means more rounds.
    let _ = fcntl_setpipe_size(&pipe_writer, BODY_BUFFER);
    let socket: &TcpStream = reader.get_ref();
    while received < header.size {
        let due = (header.size - received).min(BODY_BUFFER as u64) as usize;
        // Socket -> pipe. Returns as soon as some bytes moved; waits (up to
        // the socket's read time-out) only while none are there.
        let n = match splice(socket, None, &pipe_writer, None, due, SpliceFlags::MOVE) {
            Ok(0) => return Err(body_ended(header, received)),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(body_failed(header, received, &errno.into(), timeout)),
        };
        // Pipe -> file: std's io::copy uses splice when one side is a pipe
        // (and falls back to read and write if the file system refuses).
        let moved = io::copy(&mut (&mut pipe_reader).take(n as u64), file)
            .map_err(|err| write_failed(header, &err))?;
        if moved != n as u64 {
            let err = io::Error::other("the pipe returned fewer bytes than it was given");
            return Err(write_failed(header, &err));
        }
        received += n as u64;
    }
    Ok(received)
}

// ANCHOR_END: receive_body_splice

/// The client closed before `size` bytes: `short`.
fn body_ended(header: &Header, received: u64) -> Failure {
    Failure::Aborted {
        name: header.name.clone(),
        expected: header.size,
        got: received,
        refusal: Refusal::new(
            Code::Short,
            format!("expected {} bytes, got {received}", header.size),
        ),
    }
}

/// Reading the body failed: `timeout` if the client went quiet, else `short`.
fn body_failed(header: &Header, received: u64, err: &io::Error, timeout: Duration) -> Failure {
    let refusal = if is_timeout(err) {
        Refusal::new(
            Code::Timeout,
            format!("no data for {} s", timeout.as_secs()),
        )
    } else {
        Refusal::new(
            Code::Short,
            format!("the connection failed after {received} bytes: {err}"),
        )
    };
    Failure::Aborted {
        name: header.name.clone(),
        expected: header.size,
        got: received,
        refusal,
    }
}

/// Writing the file failed (a full disk, say): `io`.
fn write_failed(header: &Header, err: &io::Error) -> Failure {
    Failure::Refused {
        name: Some(header.name.clone()),
        refusal: Refusal::new(Code::Io, format!("writing the file: {err}")),
    }
}

/// Flushes a directory's entries to disk, so a rename survives a power cut.
/// On Unix a directory can be opened and synced like a file; elsewhere this
/// is not possible and the rename's own durability has to do.
fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The client.
// ---------------------------------------------------------------------------

/// The server answered `ERR`: the error the client reports, as
/// `server refused <name>: <code> <detail>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRefused {
    /// The name the client sent.
    pub name: String,
    /// The server's code word.
    pub code: String,
    /// The server's detail.
    pub detail: String,
}

impl fmt::Display for ServerRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "server refused {}: {} {}",
            printable(&self.name),
            self.code,
            self.detail
        )
    }
}

impl std::error::Error for ServerRefused {}

/// Where and how the client sends.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The server's host name or address.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The bound on connecting and on every read and write.
    pub timeout: Duration,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// What a successful send did.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The name the server saved the file under.
    pub name: String,
    /// Its size in bytes, as confirmed by `OK <size>`.
    pub size: u64,
    /// From `READY` to `OK`.
    pub elapsed: Duration,
}

/// Connects to the first address of `host:port` that answers, each attempt
/// bounded by `timeout`.
pub fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = err,
        }
    }
    Err(last_error)
}

/// Reads one reply line and parses it.
fn read_reply(reader: &mut impl BufRead) -> anyhow::Result<Reply> {
    match read_line_bounded(reader, MAX_LINE)? {
        Line::Complete(line) => parse_reply(&line).ok_or_else(|| {
            anyhow!(
                "the server sent an unexpected line: {:?}",
                String::from_utf8_lossy(&line)
            )
        }),
        Line::TooLong => bail!("the server sent a line longer than {MAX_LINE} bytes"),
        Line::Closed(_) => bail!("the server closed the connection without an answer"),
    }
}

// ANCHOR: send_file
/// Sends the file at `path` under `name` (default: its base name) and returns
/// once the server has confirmed it with `OK <size>`.
///
/// Everything that can be checked without the server is checked first, so a
/// typo in the file name never reaches the network.
pub fn send_file(path: &Path, name: Option<&str>, options: &ClientOptions) -> anyhow::Result<Sent> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("cannot read the size of {}", path.display()))?;
    if !metadata.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let size = metadata.len();
    let name = match name {
        Some(name) => name.to_string(),
        None => path
            .file_name()
            .and_then(|name| name.to_str())
            .with_context(|| {
                format!(
                    "{} has no base name in UTF-8; choose one with --name",
                    path.display()
                )
            })?
            .to_string(),
    };
    validate_name(&name).map_err(|refusal| {
        anyhow!(
            "cannot send as {:?}: {}; choose another with --name",
            name,
            refusal.detail
        )
    })?;

    let stream = connect(&options.host, options.port, options.timeout)
        .with_context(|| format!("cannot connect to {}:{}", options.host, options.port))?;
    stream.set_read_timeout(Some(options.timeout))?;
    stream.set_write_timeout(Some(options.timeout))?;
    let mut reader = BufReader::new(&stream);

    // The header, then wait: a refusal arrives now, before any body byte.
    (&stream)
        .write_all(format!("SEND {size} {name}\n").as_bytes())
        .context("sending the header")?;
    match read_reply(&mut reader).context("waiting for READY")? {
        Reply::Ready => {}
        Reply::Err { code, detail } => return Err(ServerRefused { name, code, detail }.into()),
        Reply::Ok(_) => bail!("the server said OK before the body was sent"),
    }

    let progress = if options.progress {
        let bar = ProgressBar::new(size).with_style(ProgressStyle::with_template(
            "{binary_bytes}/{binary_total_bytes} [{wide_bar}] {binary_bytes_per_sec} eta {eta}",
        )?);
        Some(bar)
    } else {
        None
    };
    let started = Instant::now();
    let result = send_body(&mut file, &stream, size, progress.as_ref());
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let sent = match result {
        Ok(sent) => sent,
        Err(err) => {
            // The server may have said why it stopped listening (a time-out,
            // a full disk); if it did, that is the better error.
            if let Ok(Reply::Err { code, detail }) = read_reply(&mut reader) {
                return Err(ServerRefused { name, code, detail }.into());
            }
            return Err(err).with_context(|| format!("sending the body of {name}"));
        }
    };
    if sent != size {
        bail!(
            "{} shrank from {size} to {sent} bytes while it was sent",
            path.display()
        );
    }
    // End of the body: the server's read sees end of stream after exactly
    // `size` bytes.
    stream
        .shutdown(Shutdown::Write)
        .context("closing the write half")?;

    match read_reply(&mut reader)
        .with_context(|| format!("waiting for the server to confirm {name}"))?
    {
        Reply::Ok(saved) if saved == size => Ok(Sent {
            name,
            size,
            elapsed: started.elapsed(),
        }),
        Reply::Ok(saved) => bail!("the server saved {saved} bytes of {name}, but {size} were sent"),
        Reply::Err { code, detail } => Err(ServerRefused { name, code, detail }.into()),
        Reply::Ready => bail!("the server said READY twice"),
    }
}
// ANCHOR_END: send_file

// ANCHOR: send_body
/// Streams `size` bytes of `file` to the socket and returns how many went
/// (fewer only if the file shrank meanwhile; the caller reports that). It
/// stops at the size announced in the header even if the file grows.
///
/// On Linux it asks the kernel to do it: [`send_body_sendfile`]. Elsewhere it
/// copies through a buffer: [`send_body_buffered`].
fn send_body(
    file: &mut File,
    stream: &TcpStream,
    size: u64,
    progress: Option<&ProgressBar>,
) -> io::Result<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let sent = send_body_sendfile(file, stream, size, progress);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let sent = send_body_buffered(file, stream, size, progress);
    sent
}

/// How much one `sendfile` call is asked to move: large enough that the
/// calls cost nothing, small enough that a progress bar moves smoothly.
#[cfg(any(target_os = "linux", target_os = "android"))]
const SENDFILE_CHUNK: u64 = 8 * 1024 * 1024;

/// `sendfile(2)`: the kernel hands the file's pages to the socket without
/// copying them into this process first. That saves one copy of every byte
/// and most of the client's CPU time (see the chapter's benchmark).
///
/// Why is this not simply `std::io::copy`? The standard library uses
/// `sendfile` for some pairs, but deliberately not from a file to a socket:
/// the pages wait in the socket's queue by reference, so a change to the
/// file after `copy` returned could still change bytes being sent. For this
/// client that is no new risk: a file changed during an upload is sent mixed
/// either way.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_body_sendfile(
    file: &File,
    stream: &TcpStream,
    size: u64,
    progress: Option<&ProgressBar>,
) -> io::Result<u64> {
    let mut sent: u64 = 0;
    while sent < size {
        let chunk = (size - sent).min(SENDFILE_CHUNK) as usize;
        // `None`: read from the file's current position, and advance it.
        let n = match rustix::fs::sendfile(stream, file, None, chunk) {
            Ok(0) => break, // end of file: it shrank
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(errno) => return Err(errno.into()),
        };
        sent += n as u64;
        if let Some(bar) = progress {
            bar.set_position(sent);
        }
    }
    Ok(sent)
}

// ANCHOR_END: send_body

/// The portable way, the same shape as the server's loop: one fixed buffer of
/// [`BODY_BUFFER`] bytes, read from the file, `write_all` to the socket. Two
/// system calls per MiB (a plain `io::copy` would use 8 KiB pieces: 256
/// calls), and memory stays at that one buffer whatever the file size.
#[cfg_attr(
    any(target_os = "linux", target_os = "android"),
    allow(
        dead_code,
        reason = "Linux uses send_body_sendfile; the tests still run this"
    )
)]
fn send_body_buffered(
    file: &mut File,
    stream: &TcpStream,
    size: u64,
    progress: Option<&ProgressBar>,
) -> io::Result<u64> {
    let mut socket = stream;
    let mut buffer = vec![0u8; BODY_BUFFER];
    let mut sent: u64 = 0;
    while sent < size {
        let due = (size - sent).min(BODY_BUFFER as u64) as usize;
        let n = match file.read(&mut buffer[..due]) {
            Ok(0) => break, // end of file: it shrank
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        socket.write_all(&buffer[..n])?;
        sent += n as u64;
        if let Some(bar) = progress {
            bar.set_position(sent);
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    //! The buffered sender is what other systems use; on Linux the binary
    //! uses `sendfile`, so this keeps the portable path tested too.

    use super::*;

    #[test]
    fn the_buffered_sender_sends_exactly_size_bytes() {
        let dir = std::env::temp_dir().join(format!("lesson-04-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("creating a scratch folder");
        let path = dir.join("body.bin");
        // 2.5 buffers, then 10 bytes more than we will announce.
        let content: Vec<u8> = (0..BODY_BUFFER * 5 / 2 + 10)
            .map(|i| (i % 251) as u8)
            .collect();
        fs::write(&path, &content).expect("writing the body");
        let size = (content.len() - 10) as u64;

        let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
        let addr = listener.local_addr().expect("local address");
        let receiver = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accepting");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("read time-out");
            let mut received = Vec::new();
            stream.read_to_end(&mut received).expect("reading the body");
            received
        });
        let stream = TcpStream::connect(addr).expect("connecting");
        let mut file = File::open(&path).expect("opening the body");
        let sent = send_body_buffered(&mut file, &stream, size, None).expect("sending");
        drop(stream);
        let received = receiver.join().expect("the receiver panicked");
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(sent, size);
        assert!(
            received == content[..content.len() - 10],
            "received {} bytes, expected the first {size} of the file",
            received.len()
        );
    }

    /// Sends `body` to a fresh server-side socket, closes, and runs the
    /// buffered receiver on it for an announced `size`.
    fn receive_buffered(body: Vec<u8>, size: u64) -> (Result<u64, Failure>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
        let addr = listener.local_addr().expect("local address");
        let sender = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).expect("connecting");
            stream.write_all(&body).expect("sending the body");
        });
        let (stream, _) = listener.accept().expect("accepting");
        sender.join().expect("the sender panicked");
        let dir =
            std::env::temp_dir().join(format!("lesson-04-unit-recv-{}-{size}", std::process::id()));
        fs::create_dir_all(&dir).expect("creating a scratch folder");
        let path = dir.join("body.bin");
        let mut file = File::create(&path).expect("creating the file");
        let mut reader = BufReader::with_capacity(MAX_LINE, &stream);
        let header = Header {
            size,
            name: "body.bin".into(),
        };
        let result =
            receive_body_buffered(&mut reader, &mut file, &header, Duration::from_secs(10));
        let saved = fs::read(&path).expect("reading the file back");
        let _ = fs::remove_dir_all(&dir);
        (result, saved)
    }

    #[test]
    fn the_buffered_receiver_takes_exactly_size_bytes() {
        let body: Vec<u8> = (0..BODY_BUFFER * 2 + 7).map(|i| (i % 253) as u8).collect();
        let (result, saved) = receive_buffered(body.clone(), body.len() as u64);
        assert!(matches!(result, Ok(n) if n == body.len() as u64));
        assert!(
            saved == body,
            "saved {} bytes, sent {}",
            saved.len(),
            body.len()
        );
    }

    #[test]
    fn the_buffered_receiver_reports_a_short_body() {
        let (result, _) = receive_buffered(vec![7u8; 1000], 3000);
        match result {
            Err(Failure::Aborted { got, refusal, .. }) => {
                assert_eq!(got, 1000);
                assert_eq!(refusal.to_string(), "short expected 3000 bytes, got 1000");
            }
            _ => panic!("a short body must be Failure::Aborted with the short code"),
        }
    }
}
