//! What only lesson 05's tests need, beside the shared toolkit in `mod.rs`.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::{
    BIN, Finished, Running, SOCKET_WAIT, WAIT, describe_io_error, lines_of, run, server_args,
    with_timeouts,
};

/// Lesson 05's binary has subcommands: the server is `server`.
pub const SERVER_COMMAND: &[&str] = &["server"];

/// The server's last line: what it did, counted when it shut down.
pub fn summary_line(served: u64, turned_away: u64, bytes_echoed: u64) -> String {
    format!(
        "shut down: served {served} clients, turned away {turned_away}, echoed {bytes_echoed} bytes"
    )
}

/// The server's second line, with its default settings but `max` clients.
pub fn serving_line(max: u64, nodelay: &str) -> String {
    format!(
        "serving up to {max} clients at once, one thread each (idle time-out 30s, TCP_NODELAY {nodelay})"
    )
}

/// The next line of the process's stderr, waiting at most [`WAIT`] for it.
/// (The toolkit's `stderr_so_far` does not wait: a line on stderr may
/// still be on its way when a later line on stdout has arrived.)
#[track_caller]
pub fn next_stderr_line(running: &Running) -> String {
    running.stderr_lines.recv_timeout(WAIT).unwrap_or_else(|_| {
        panic!(
            "the program printed no line on stderr within {WAIT:?}; stdout so far:\n{}",
            running.seen.join("\n")
        )
    })
}

/// Runs `load` against the server at `addr` with `args`, to its end.
#[track_caller]
pub fn run_load(addr: SocketAddr, args: &[&str]) -> Finished {
    let mut all: Vec<String> = vec![
        "load".into(),
        "--host".into(),
        addr.ip().to_string(),
        "--port".into(),
        addr.port().to_string(),
    ];
    all.extend(args.iter().map(|arg| arg.to_string()));
    run(&all)
}

/// Starts the binary under `sh -c 'ulimit ULIMIT && exec BIN ARGS'`: the
/// open-file limit is set in the child only, never in the test process.
/// `ulimit` is what `ulimit` takes, e.g. `-n 24` (soft and hard limits) or
/// `-S -n 64` (the soft limit only).
#[track_caller]
pub fn spawn_with_ulimit(ulimit: &str, args: &[impl AsRef<OsStr>]) -> Running {
    let script = format!("ulimit {ulimit} && exec \"$0\" \"$@\"");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {BIN} under sh: {err}"));
    let stdout = child.stdout.take().expect("taking the child's stdout");
    let stderr = child.stderr.take().expect("taking the child's stderr");
    Running {
        child,
        stdout_lines: lines_of(stdout),
        stderr_lines: lines_of(stderr),
        seen: Vec::new(),
        _unread_stdout: None,
    }
}

/// [`spawn_with_ulimit`] for the server on a free port; returns it with
/// its address.
#[track_caller]
pub fn start_server_with_ulimit(ulimit: &str, args: &[&str]) -> (Running, SocketAddr) {
    let mut server = spawn_with_ulimit(ulimit, &server_args(args));
    let addr = server.listening_addr();
    (server, addr)
}

/// The lowest descriptor number the process `pid` does not use (Linux:
/// from the entries of /proc/PID/fd). The next descriptor it opens gets
/// this number, so an open-file limit of exactly this number makes that
/// open fail with EMFILE. (Counting the entries is not enough: a process
/// may have inherited descriptors with high numbers, leaving gaps.)
#[cfg(target_os = "linux")]
#[track_caller]
pub fn lowest_free_descriptor(pid: u32) -> u64 {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|err| panic!("listing /proc/{pid}/fd: {err}"));
    let used: std::collections::HashSet<u64> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|fd| !used.contains(fd)).unwrap_or(0)
}

/// The open-file limits of the process `pid`, soft and hard (`None`:
/// unlimited), from the "Max open files" line of /proc/PID/limits.
#[cfg(target_os = "linux")]
#[track_caller]
pub fn open_file_limits(pid: u32) -> (Option<u64>, Option<u64>) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap_or_else(|err| panic!("reading /proc/{pid}/limits: {err}"));
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no \"Max open files\" in /proc/{pid}/limits:\n{limits}"));
    let mut values = line["Max open files".len()..]
        .split_whitespace()
        .map(|value| value.parse().ok());
    (values.next().flatten(), values.next().flatten())
}

/// Sets the soft open-file limit of the running process `pid`, the way
/// `prlimit --pid PID --nofile=N:` does: from outside, while it runs. The
/// hard limit stays, so the soft one can be raised again later.
#[cfg(target_os = "linux")]
#[track_caller]
pub fn set_open_file_limit(pid: u32, limit: u64) {
    let (_, hard) = open_file_limits(pid);
    rustix::process::prlimit(
        rustix::process::Pid::from_raw(pid as i32),
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(limit),
            maximum: hard,
        },
    )
    .unwrap_or_else(|err| panic!("setting the open-file limit of process {pid} to {limit}: {err}"));
}

// ---------------------------------------------------------------------------
// For the exercises (tests/exercises.rs)
// ---------------------------------------------------------------------------

/// Starts the binary with `args` (a subcommand and `--port 0` included) and
/// returns it with the address of its `listening on ADDR` line. If the
/// program exits instead, which is what it does with a flag or a subcommand
/// it does not know yet, the test fails with `asks` (what the exercise asks
/// for) and the program's own error line.
#[track_caller]
pub fn start_exercise_server(asks: &str, args: &[&str]) -> (Running, SocketAddr) {
    let mut running = super::spawn(args);
    let first = match running.stdout_lines.recv_timeout(WAIT) {
        Ok(line) => line,
        Err(RecvTimeoutError::Timeout) => panic!(
            "{asks}, but `{}` printed no `listening on` line within {WAIT:?}; stderr so far:\n{}",
            args.join(" "),
            running.stderr_so_far()
        ),
        Err(RecvTimeoutError::Disconnected) => {
            // It exited: its error is on stderr, which ends with it.
            let status = exited_within(&mut running, WAIT);
            let mut stderr = String::new();
            while let Ok(line) = running.stderr_lines.recv_timeout(WAIT) {
                stderr.push_str(&line);
                stderr.push('\n');
            }
            let error = stderr
                .lines()
                .find(|line| line.starts_with("error:"))
                .unwrap_or(stderr.trim());
            let status = status.map_or("still running".to_string(), |status| status.to_string());
            panic!(
                "{asks}, but `{}` did not start ({status}): {error}",
                args.join(" ")
            )
        }
    };
    running.seen.push(first.clone());
    let addr = running.parse_listening_line(&first);
    (running, addr)
}

/// Waits at most `limit` for the process to exit, taking its stdout as it
/// comes (into the lines `finish` returns); `None` if it is still running.
#[track_caller]
pub fn exited_within(running: &mut Running, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match running.child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                if let Ok(line) = running.stdout_lines.recv_timeout(Duration::from_millis(20)) {
                    running.seen.push(line);
                }
            }
            Ok(None) => return None,
            Err(err) => panic!("waiting for the program: {err}"),
        }
    }
}

/// Every stdout line so far, without waiting, for failure messages.
pub fn stdout_so_far(running: &mut Running) -> String {
    let arrived: Vec<String> = running.stdout_lines.try_iter().collect();
    running.seen.extend(arrived);
    running.seen.join("\n")
}

/// Waits (at most [`WAIT`] in all) until, for each of `texts`, a stdout
/// line containing it has been printed, in any order.
#[track_caller]
pub fn lines_containing_all(running: &mut Running, texts: &[String]) {
    let deadline = Instant::now() + WAIT;
    let mut missing: Vec<&String> = texts.iter().collect();
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match running.stdout_lines.recv_timeout(left) {
            Ok(line) => {
                missing.retain(|text| !line.contains(text.as_str()));
                running.seen.push(line);
            }
            Err(_) => panic!(
                "no stdout line containing {missing:?} within {WAIT:?}; stdout so far:\n{}\n\
                 stderr so far:\n{}",
                running.seen.join("\n"),
                running.stderr_so_far()
            ),
        }
    }
}

/// Connects to `addr` from the local address `from` (e.g. 127.0.0.2, which
/// is loopback too), so the server sees the client come from there. std
/// cannot choose the local address of a connection; socket2 can.
#[track_caller]
pub fn connect_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .expect("making a socket");
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .unwrap_or_else(|err| panic!("binding a client socket to {from}: {err}"));
    socket
        .connect_timeout(&addr.into(), SOCKET_WAIT)
        .unwrap_or_else(|err| panic!("connecting to {addr} from {from}: {err}"));
    with_timeouts(socket.into())
}

/// Whatever arrives on `stream` within `limit`: the bytes of the first read
/// that returns some, or nothing if none came (or the stream ended). For
/// checking that something does *not* happen yet.
#[track_caller]
pub fn bytes_within(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    stream
        .set_read_timeout(Some(limit))
        .expect("setting a short read time-out");
    let mut buffer = [0u8; 4096];
    let received = loop {
        match stream.read(&mut buffer) {
            Ok(n) => break buffer[..n].to_vec(),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break Vec::new();
            }
            Err(err) => panic!("reading from the server: {}", describe_io_error(&err)),
        }
    };
    stream
        .set_read_timeout(Some(SOCKET_WAIT))
        .expect("setting the read time-out back");
    received
}

/// Reads until the other side closes (a read returns 0 bytes). Unlike the
/// toolkit's `read_to_end_of_stream` it does not fail the test when the
/// stream does not end: it returns what arrived, with `Err` saying why it
/// stopped waiting, so the test can say what its exercise expected.
#[track_caller]
pub fn read_until_closed(stream: &mut TcpStream) -> Result<Vec<u8>, (Vec<u8>, String)> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err((received, describe_io_error(&err))),
        }
    }
}
