//! What only lesson 04's tests need, beside the shared toolkit in `mod.rs`:
//! a server started with its own `--dir`, the protocol played by hand
//! (header, `READY`, body, final line), snapshots of folders, and
//! reproducible random bytes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Finished, Running, WAIT, connect, escaped, read_line, send, spawn, start_server};

/// Lesson 04's binary has subcommands: the server is `server`.
pub const SERVER_COMMAND: &[&str] = &["server"];

/// The two ways the body is copied, as `--copy` spells them. The tests that
/// move a body run through both.
pub const COPY_PATHS: [&str; 2] = ["loop", "zero-copy"];

/// Starts the server with `--dir DIR` and `args` on a free port, and checks
/// its second line, `saving files in DIR`.
#[track_caller]
pub fn start_in(dir: &Path, args: &[&str]) -> (Running, SocketAddr) {
    let dir_text = dir.to_str().expect("the scratch folder's path is UTF-8");
    let mut all = vec!["--dir", dir_text];
    all.extend_from_slice(args);
    let (mut server, addr) = start_server(&all);
    let second = server.next_line();
    assert_eq!(
        second,
        format!("saving files in {dir_text}"),
        "the server's second line"
    );
    (server, addr)
}

/// Skips lines until one starts with `prefix` and returns it. Used to wait
/// until the server has finished with a client: every client ends with
/// exactly one `received`, `refused` or `aborted` line, logged after the
/// file system work is done. Fails if a client's closing line of another
/// kind comes first.
#[track_caller]
pub fn line_starting_with(server: &mut Running, prefix: &str) -> String {
    loop {
        let line = server.next_line();
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

/// Connects, sends `header` as a raw client would, and returns the
/// connection and the server's first line.
#[track_caller]
pub fn send_header(addr: SocketAddr, header: &[u8]) -> (TcpStream, Vec<u8>) {
    let mut stream = connect(addr);
    send(&mut stream, header, "the server");
    let reply = read_line(&mut stream, "the server");
    (stream, reply)
}

/// Asserts the server answered `header` with exactly `expected`, then closed
/// its side (end of stream follows the `ERR` line).
#[track_caller]
pub fn assert_refused(addr: SocketAddr, header: &[u8], expected: &str) {
    let (mut stream, reply) = send_header(addr, header);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        expected,
        "sent {}; the server should answer {expected:?}",
        escaped(header)
    );
    let rest = super::read_to_end_of_stream(&mut stream, "the server");
    assert!(
        rest.is_empty(),
        "after {expected:?} the server should close, but it also sent {}",
        escaped(&rest)
    );
}

/// Starts an upload: sends `SEND <announced> <name>`, expects `READY`.
#[track_caller]
pub fn start_upload(addr: SocketAddr, name: &str, announced: usize) -> TcpStream {
    let header = format!("SEND {announced} {name}\n");
    let (stream, reply) = send_header(addr, header.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "READY\n",
        "sent {header:?}; the server should answer \"READY\\n\""
    );
    stream
}

/// Uploads `body` under `name` by hand and returns the final reply line.
#[track_caller]
pub fn upload(addr: SocketAddr, name: &str, body: &[u8]) -> String {
    let mut stream = start_upload(addr, name, body.len());
    finish_upload(&mut stream, body)
}

/// Sends `body`, shuts down the write half, returns the server's final line.
#[track_caller]
pub fn finish_upload(stream: &mut TcpStream, body: &[u8]) -> String {
    send(stream, body, "the server");
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    String::from_utf8_lossy(&read_line(stream, "the server")).into_owned()
}

/// A folder listing: each relative path with its content (`None` for a
/// folder). Comparing two snapshots shows any file created, changed or
/// removed, temporary files included.
pub type Snapshot = BTreeMap<PathBuf, Option<Vec<u8>>>;

/// Everything under `dir`, as a [`Snapshot`].
pub fn snapshot(dir: &Path) -> Snapshot {
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
pub fn names(snapshot: &Snapshot) -> Vec<String> {
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

    /// Writes `content` to `<root>/name` (outside `--dir`) and returns the
    /// path as a string, for the client's command line.
    pub fn file(&self, name: &str, content: &[u8]) -> String {
        let path = self.root.path().join(name);
        fs::write(&path, content).expect("writing a file to send");
        path.to_str().expect("the path is UTF-8").to_string()
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

/// Starts the binary's `subcommand` against the server at `addr`:
/// `SUBCOMMAND --host IP --port PORT ARGS...`. For the subcommands the
/// exercises add beside `client` (`list`, `get`); `start_client` is the one
/// for `client` itself.
#[track_caller]
pub fn start_subcommand(subcommand: &str, addr: SocketAddr, args: &[&str]) -> Running {
    let host = addr.ip().to_string();
    let port = addr.port().to_string();
    let mut all = vec![subcommand, "--host", &host, "--port", &port];
    all.extend_from_slice(args);
    spawn(&all)
}

/// Runs the binary's `subcommand` against the server at `addr` to its end
/// (see [`start_subcommand`]).
#[track_caller]
pub fn run_subcommand(subcommand: &str, addr: SocketAddr, args: &[&str]) -> Finished {
    start_subcommand(subcommand, addr, args).finish()
}

/// Sends `bytes` in pieces of `piece` bytes, one piece every `pause`, on a
/// thread of its own, the way a very slow (or hostile) client would. Stops
/// early when the server has closed the connection.
pub fn trickle(
    stream: &TcpStream,
    bytes: Vec<u8>,
    piece: usize,
    pause: Duration,
) -> JoinHandle<()> {
    let mut stream = stream.try_clone().expect("cloning the connection");
    thread::spawn(move || {
        for chunk in bytes.chunks(piece) {
            if stream.write_all(chunk).is_err() {
                return;
            }
            thread::sleep(pause);
        }
    })
}

/// Waits (at most [`WAIT`]) until the one temporary file in `dir`
/// (`.upload-*.part`) holds `len` bytes: the server has written that much
/// of the body and gone back to waiting for the rest.
#[track_caller]
pub fn wait_for_part_file(dir: &Path, len: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let sizes: Vec<u64> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok()?.metadata().ok())
                    .map(|meta| meta.len())
                    .collect()
            })
            .unwrap_or_default();
        if sizes == [len] {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for the server's temporary file in {} to hold {len} bytes; \
             after {WAIT:?} the folder holds files of {sizes:?} bytes",
            dir.display()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Stops the program as Ctrl-Z does (SIGSTOP), waits (bounded) until the
/// system shows it stopped, and lets it go on as `fg` does (SIGCONT). A
/// read with a time-out that was waiting fails with "Interrupted" on the
/// way; the program must simply read again.
#[track_caller]
pub fn stop_and_continue(program: &Running) {
    // First wait until every thread sleeps, in a read or another wait: the
    // stop must catch the program waiting, not on its way there.
    wait_until_every_thread_is(program, 'S');
    program.signal("STOP");
    wait_until_every_thread_is(program, 'T');
    program.signal("CONT");
}

/// Waits (at most [`WAIT`]) until every thread of the program is in
/// `state` as `/proc/PID/task/TID/stat` shows it: 'S' sleeping, 'T' stopped.
#[track_caller]
fn wait_until_every_thread_is(program: &Running, state: char) {
    let tasks = format!("/proc/{}/task", program.pid());
    let deadline = Instant::now() + WAIT;
    loop {
        let states: Vec<char> = fs::read_dir(&tasks)
            .map(|entries| {
                entries
                    .filter_map(|entry| {
                        let text = fs::read_to_string(entry.ok()?.path().join("stat")).ok()?;
                        // The state is the first field after the name, "(...)".
                        text.rsplit_once(')')?.1.trim_start().chars().next()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !states.is_empty() && states.iter().all(|s| *s == state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the program's threads did not all reach state {state} within {WAIT:?}: {states:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}
