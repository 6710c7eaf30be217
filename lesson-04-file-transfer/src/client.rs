//! The client: check the file, connect, send the header, wait for `READY`,
//! send the body, shut down the write half, and succeed only on `OK` with
//! the right size.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use crate::deadline::is_timeout;
use crate::progress::Progress;
use crate::protocol::{
    BODY_BUFFER, ErrorCode, Line, MAX_LINE, Refusal, Reply, parse_reply, printable,
    read_line_bounded, validate_name,
};
use crate::zero_copy::{self, CopyMode};

/// Where and how the client sends.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The server's host name or address (`::1` and `[::1]` both work).
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The bound on connecting and on every wait for the server.
    pub timeout: Duration,
    /// How the body goes from the file to the socket.
    pub copy: CopyMode,
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

// ANCHOR: send_file
/// Sends the file at `path` under `name` (default: its base name) and returns
/// once the server has confirmed it with `OK <size>`.
///
/// Everything that can be checked without the server is checked first, so a
/// typo in the file name never reaches the network.
pub fn send_file(path: &Path, name: Option<&str>, options: &ClientOptions) -> anyhow::Result<Sent> {
    // 1. The file. Its type is checked before it is opened: opening a FIFO
    //    waits (for ever, and deaf to --timeout) until something writes to it.
    let metadata = fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    if !metadata.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file
        .metadata()
        .with_context(|| format!("cannot read the size of {}", path.display()))?
        .len();
    if size == 0 && !at_end(&mut file)? {
        bail!(
            "{} has content although its size is 0 bytes (files in /proc and /sys say so); \
             copy it to a regular file and send that",
            path.display()
        );
    }
    let name = match name {
        Some(name) => name.to_string(),
        None => base_name(path)?,
    };
    validate_name(&name).map_err(|refusal| {
        anyhow!(
            "cannot send as {:?}: {}; choose another with --name",
            name,
            refusal.detail
        )
    })?;

    // 2. The header, then wait: a refusal arrives now, before any body byte.
    let mut stream = connect(&options.host, options.port, options.timeout)
        .with_context(|| format!("cannot connect to {}", address(&options.host, options.port)))?;
    stream.set_read_timeout(Some(options.timeout))?;
    stream.set_write_timeout(Some(options.timeout))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    stream
        .write_all(format!("SEND {size} {name}\n").as_bytes())
        .context("sending the header")?;
    match read_reply(&mut reader) {
        Ok(Reply::Ready) => {}
        Ok(Reply::Err(refusal)) => return Err(refused(&name, refusal)),
        Ok(Reply::Ok(_)) => bail!("the server said OK before the body was sent"),
        Err(err) if is_timeout(&err) => {
            let busy = io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no answer within {} s; the server serves one client at a time \
                     and is probably busy with another upload",
                    options.timeout.as_secs()
                ),
            );
            return Err(anyhow!(busy).context("waiting for READY"));
        }
        Err(err) => return Err(anyhow!(err).context("waiting for READY")),
    }

    // 3. The body, checked against the size announced in the header.
    let progress = Progress::new(size, options.progress);
    let started = Instant::now();
    let result = send_exactly(&mut file, &stream, size, options.copy, &progress);
    progress.finish();
    if let Err(err) = result {
        // Tell the server there is no more (it answers `short` at once) and
        // hear what it says: if it stopped listening for a reason of its own
        // (a time-out, a full disk), that reason is the better error.
        let _ = stream.shutdown(Shutdown::Write);
        match read_reply(&mut reader) {
            Ok(Reply::Err(refusal)) if refusal.code != ErrorCode::Short => {
                return Err(refused(&name, refusal));
            }
            _ => return Err(err.context(format!("sending the body of {name}"))),
        }
    }
    // End of the body: the server's read sees end of stream after exactly
    // `size` bytes.
    stream
        .shutdown(Shutdown::Write)
        .context("closing the write half")?;

    // 4. Success means `OK` with the same size, not "the writes returned":
    //    a write that returns only means the bytes reached our own kernel.
    let confirm = read_reply(&mut reader)
        .map_err(|err| in_words(err, options.timeout))
        .with_context(|| format!("waiting for the server to confirm {name}"))?;
    match confirm {
        Reply::Ok(saved) if saved == size => Ok(Sent {
            name,
            size,
            elapsed: started.elapsed(),
        }),
        Reply::Ok(saved) => bail!("the server saved {saved} bytes of {name}, but {size} were sent"),
        Reply::Err(refusal) => Err(refused(&name, refusal)),
        Reply::Ready => bail!("the server said READY twice"),
    }
}
// ANCHOR_END: send_file

// ANCHOR: send_exactly
/// Sends the body: exactly `size` bytes, and only if the file has exactly
/// that many.
///
/// The size went out in the header before the first byte, and a file can
/// change while it is sent (a log that grows, a file being rewritten). The
/// server stops reading after `size` bytes and saves them, so the check has
/// to come before the end of the body: the client sends all but the last
/// piece (up to [`BODY_BUFFER`] bytes) the chosen way, then reads the last
/// piece into memory together with one byte more. If the file ends right
/// there, the piece goes out; if it has more (or less), the client stops
/// short, the server sees a short body, and nothing is saved.
fn send_exactly(
    file: &mut File,
    mut stream: &TcpStream,
    size: u64,
    copy: CopyMode,
    progress: &Progress,
) -> anyhow::Result<()> {
    let last_piece = size.min(BODY_BUFFER as u64);
    let first_part = size - last_piece;
    let sent = match copy {
        CopyMode::Loop => send_body(file, stream, first_part, progress)?,
        CopyMode::ZeroCopy => zero_copy::send_body(file, stream, first_part, progress)?,
    };
    // If the file ended early, `sent` fell short and this read finds
    // nothing: one check covers both.
    let mut last = vec![0u8; last_piece as usize + 1];
    let got = read_up_to(file, &mut last)? as u64;
    if got < last_piece {
        bail!(
            "the file shrank from {size} to {} bytes while it was sent",
            sent + got
        );
    }
    if got > last_piece {
        bail!(
            "the file grew while it was sent (it had {size} bytes when the upload started); \
             the end of the body was held back, so the server saved nothing"
        );
    }
    stream.write_all(&last[..last_piece as usize])?;
    progress.set(size);
    Ok(())
}
// ANCHOR_END: send_exactly

// ANCHOR: send_body
/// Streams `count` bytes of `file`, from its current position, to the socket
/// and returns how many went (fewer only if the file ended first).
///
/// One fixed buffer of [`BODY_BUFFER`] bytes: `read` from the file,
/// `write_all` to the socket. Two system calls per MiB (a plain `io::copy`
/// would use 8 KiB pieces: 256 calls), and memory stays at that one buffer
/// whatever the file size. The same shape as the server's loop.
pub fn send_body(
    file: &mut File,
    mut stream: &TcpStream,
    count: u64,
    progress: &Progress,
) -> io::Result<u64> {
    let mut buffer = vec![0u8; BODY_BUFFER];
    let mut sent: u64 = 0;
    while sent < count {
        let due = (count - sent).min(BODY_BUFFER as u64) as usize;
        let n = match file.read(&mut buffer[..due]) {
            Ok(0) => break, // end of file: it shrank
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        // Python: `sock.sendall(data)`. `write` may take only part of the
        // slice; `write_all` loops until all of it is handed to the kernel.
        stream.write_all(&buffer[..n])?;
        sent += n as u64;
        progress.set(sent);
    }
    Ok(sent)
}
// ANCHOR_END: send_body

/// Reads until `buffer` is full or the file ends; returns how many bytes.
fn read_up_to(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// True if the file has nothing more to read from its current position.
fn at_end(file: &mut File) -> anyhow::Result<bool> {
    Ok(read_up_to(file, &mut [0u8; 1])? == 0)
}

/// The file's base name, which is the default name to save it under.
fn base_name(path: &Path) -> anyhow::Result<String> {
    let name = path.file_name().and_then(|name| name.to_str());
    let name = name.with_context(|| {
        format!(
            "{} has no base name in UTF-8; choose one with --name",
            path.display()
        )
    })?;
    Ok(name.to_string())
}

/// The server's refusal, as the client reports it:
/// `server refused <name>: <code> <detail>`. The [`Refusal`] stays in the
/// error, so `main` (or any caller) can match its code.
fn refused(name: &str, refusal: Refusal) -> anyhow::Error {
    anyhow!(refusal).context(format!("server refused {}", printable(name)))
}

/// Reads one reply line and parses it.
fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let unexpected = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    match read_line_bounded(reader, MAX_LINE)? {
        Line::Complete(line) => parse_reply(&line).ok_or_else(|| {
            unexpected(format!(
                "the server sent an unexpected line: {:?}",
                String::from_utf8_lossy(&line)
            ))
        }),
        Line::TooLong => Err(unexpected(format!(
            "the server sent a line longer than {MAX_LINE} bytes"
        ))),
        Line::Closed(_) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection without an answer",
        )),
    }
}

/// A time-out in words, "no answer within N s", still of kind `TimedOut`
/// (so `main` finds its hint): never "Resource temporarily unavailable",
/// which is how Unix reports a read that timed out.
fn in_words(err: io::Error, timeout: Duration) -> io::Error {
    if is_timeout(&err) {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {} s", timeout.as_secs()),
        )
    } else {
        err
    }
}

// ANCHOR: connect
/// Connects to the first address of `host`, `port` that answers, each
/// attempt bounded by `timeout`. `host` may be a name, an IPv4 address, or
/// an IPv6 address with or without brackets (`::1`, `[::1]`).
pub fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    // The (host, port) pair, not a "host:port" string: "::1:7004" cannot be
    // split, and a pair needs no brackets.
    for addr in (without_brackets(host), port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = err,
        }
    }
    Err(last_error)
}
// ANCHOR_END: connect

/// `[::1]` becomes `::1`; anything else is left as it is.
pub fn without_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host:port` for messages, with brackets around an IPv6 address.
pub fn address(host: &str, port: u16) -> String {
    let host = without_brackets(host);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    //! Both senders, in-process: exact byte counts from a file that is
    //! longer than the count.

    use super::*;
    use std::net::TcpListener;

    fn sends_exactly_count_bytes(copy: CopyMode) {
        let dir = std::env::temp_dir().join(format!(
            "lesson-04-unit-send-{copy:?}-{}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).expect("creating a scratch folder");
        let path = dir.join("body.bin");
        // 20.5 buffers (more than two of sendfile's 8 MiB pieces), then 10
        // bytes more than we will send.
        let content: Vec<u8> = (0..BODY_BUFFER * 41 / 2 + 10)
            .map(|i| (i % 251) as u8)
            .collect();
        fs::write(&path, &content).expect("writing the body");
        let count = (content.len() - 10) as u64;

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
        let progress = Progress::new(count, false);
        let sent = match copy {
            CopyMode::Loop => send_body(&mut file, &stream, count, &progress),
            CopyMode::ZeroCopy => zero_copy::send_body(&mut file, &stream, count, &progress),
        }
        .expect("sending");
        drop(stream);
        let received = receiver.join().expect("the receiver panicked");
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(sent, count, "{copy:?}");
        assert!(
            received == content[..content.len() - 10],
            "{copy:?}: received {} bytes, expected the first {count} of the file",
            received.len()
        );
    }

    #[test]
    fn the_loop_sender_sends_exactly_count_bytes() {
        sends_exactly_count_bytes(CopyMode::Loop);
    }

    #[test]
    fn the_zero_copy_sender_sends_exactly_count_bytes() {
        sends_exactly_count_bytes(CopyMode::ZeroCopy);
    }

    #[test]
    fn brackets_are_optional_around_an_ipv6_address() {
        assert_eq!(without_brackets("[::1]"), "::1");
        assert_eq!(without_brackets("::1"), "::1");
        assert_eq!(without_brackets("localhost"), "localhost");
        assert_eq!(address("[::1]", 7004), "[::1]:7004");
        assert_eq!(address("::1", 7004), "[::1]:7004");
        assert_eq!(address("127.0.0.1", 7004), "127.0.0.1:7004");
    }
}
