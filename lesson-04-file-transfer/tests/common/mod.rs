//! Helpers shared by the tests of lesson 04: start the real server, play the
//! client by hand with a `TcpStream`, take snapshots of folders, and make
//! reproducible random data.
//!
//! Every wait is bounded: sockets have read and write time-outs, and the
//! server's output is read on a helper thread and received with
//! `recv_timeout`.

#![allow(dead_code)] // each test file uses a different part of this module

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// The bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// The path of the lesson's binary, built by cargo for the tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_lesson-04-file-transfer");

/// A running server. Dropping it kills and reaps the process, pass or fail.
pub struct Server {
    child: Child,
    /// The address from its `listening on` line.
    pub addr: SocketAddr,
    lines: Receiver<String>,
    /// Every stdout line seen so far, for failure messages.
    seen: Vec<String>,
}

impl Server {
    /// Starts `server --port 0 --dir DIR` plus `extra` flags and waits for
    /// its `listening on` line.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["server", "--port", "0", "--dir"])
            .arg(dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the server binary");
        let stdout = child.stdout.take().expect("the server's stdout is piped");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            seen: Vec::new(),
        };
        let first = server.next_line();
        let addr = first.strip_prefix("listening on ").unwrap_or_else(|| {
            panic!("the server's first line should be \"listening on ADDR\", got {first:?}")
        });
        server.addr = addr
            .parse()
            .unwrap_or_else(|err| panic!("{addr:?} is not an address: {err}"));
        let second = server.next_line();
        assert!(
            second.starts_with("saving files in "),
            "the server's second line should be \"saving files in DIR\", got {second:?}"
        );
        server
    }

    /// The next stdout line, waiting at most [`WAIT`].
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "the server printed nothing new for {WAIT:?}; its lines so far: {:#?}",
                self.seen
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the server's stdout closed (did it exit?); its lines so far: {:#?}",
                self.seen
            ),
        }
    }

    /// Skips lines until one starts with `prefix` and returns it. Used to
    /// wait until the server has finished with a client: every client ends
    /// with exactly one `received`, `refused` or `aborted` line, printed after
    /// the file system work is done.
    pub fn line_starting_with(&mut self, prefix: &str) -> String {
        loop {
            let line = self.next_line();
            if line.starts_with(prefix) {
                return line;
            }
            assert!(
                !line.starts_with("received")
                    && !line.starts_with("refused")
                    && !line.starts_with("aborted"),
                "expected a server line starting with {prefix:?}, but the client ended with {line:?}"
            );
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (after `--max-clients`) and returns its
    /// success.
    pub fn wait_exit(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        loop {
            match self
                .child
                .try_wait()
                .expect("checking whether the server exited")
            {
                Some(status) => return status.success(),
                None if Instant::now() < deadline => {
                    // Drain lines meanwhile; this also paces the loop.
                    if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(50)) {
                        self.seen.push(line);
                    }
                }
                None => panic!("the server did not exit within {WAIT:?}"),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects with read and write time-outs.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connecting to the server");
    stream
        .set_read_timeout(Some(WAIT))
        .expect("setting a read time-out");
    stream
        .set_write_timeout(Some(WAIT))
        .expect("setting a write time-out");
    stream
}

/// Reads one line byte by byte (so nothing after it is consumed), `\n`
/// included, or whatever arrived before the end of the stream.
pub fn read_line(stream: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 4096 {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    break;
                }
            }
            Err(err) => panic!(
                "reading the server's reply failed after {:?}: {err} \
                 (hint: a time-out here means the server never answered; did it get a \\n?)",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    line
}

/// Sends `header` as a raw client would, and returns the server's first
/// line.
pub fn send_header(addr: SocketAddr, header: &[u8]) -> (TcpStream, Vec<u8>) {
    let mut stream = connect(addr);
    stream.write_all(header).expect("sending the header");
    let reply = read_line(&mut stream);
    (stream, reply)
}

/// Asserts the server answered `header` with exactly `expected`, then closed
/// its side (end of stream follows the `ERR` line).
pub fn assert_refused(addr: SocketAddr, header: &[u8], expected: &str) {
    let (mut stream, reply) = send_header(addr, header);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        expected,
        "sent {:?}; the server should answer {expected:?}",
        String::from_utf8_lossy(header)
    );
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("reading to the end after ERR");
    assert!(
        rest.is_empty(),
        "after {expected:?} the server should close, but it also sent {:?}",
        String::from_utf8_lossy(&rest)
    );
}

/// Uploads `body` under `name` by hand and returns the final reply line.
pub fn upload(addr: SocketAddr, name: &str, body: &[u8]) -> String {
    let header = format!("SEND {} {name}\n", body.len());
    let (mut stream, reply) = send_header(addr, header.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "READY\n",
        "sent {header:?}; the server should answer \"READY\\n\""
    );
    stream.write_all(body).expect("sending the body");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutting down the write half");
    String::from_utf8_lossy(&read_line(&mut stream)).into_owned()
}

/// Everything under `dir`: each relative path with its content (`None` for a
/// folder). Comparing two snapshots shows any file created, changed or
/// removed, temporary files included.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut all = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).expect("listing a folder") {
            let path = entry.expect("reading a folder entry").path();
            let relative = path
                .strip_prefix(dir)
                .expect("entries are under the folder")
                .to_path_buf();
            if path.is_dir() {
                all.insert(relative, None);
                pending.push(path);
            } else {
                all.insert(relative, Some(fs::read(&path).expect("reading a file")));
            }
        }
    }
    all
}

/// The names in a snapshot, for readable failure messages.
pub fn names(snapshot: &BTreeMap<PathBuf, Option<Vec<u8>>>) -> Vec<String> {
    snapshot
        .keys()
        .map(|path| path.display().to_string())
        .collect()
}

/// A scratch folder whose subfolder `received` is the server's `--dir`, so a
/// test can also check that nothing appeared next to `--dir`.
pub struct Scratch {
    /// Keeps the folder alive; deleted on drop.
    pub root: tempfile::TempDir,
    /// `<root>/received`.
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let root = tempfile::tempdir().expect("creating a scratch folder");
        let dir = root.path().join("received");
        fs::create_dir(&dir).expect("creating the server's folder");
        Scratch { root, dir }
    }
}

/// `len` pseudo-random bytes from `seed` (xorshift64*): the same bytes on
/// every run, so a failure can be reproduced, and no extra crate needed.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The first position where two byte strings differ, for failure messages.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}
