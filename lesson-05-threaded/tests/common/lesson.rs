//! What only lesson 05's tests need, beside the shared toolkit in `mod.rs`.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::{Finished, Running, SOCKET_WAIT, WAIT, describe_io_error, run, with_timeouts};

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
    match super::try_start(args) {
        Ok(started) => started,
        Err(finished) => {
            let error = finished
                .stderr
                .lines()
                .find(|line| line.starts_with("error:"))
                .unwrap_or(finished.stderr.trim());
            panic!(
                "{asks}, but `{}` did not start ({}): {error}",
                args.join(" "),
                finished.status
            )
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
