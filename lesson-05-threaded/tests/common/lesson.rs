//! What only lesson 05's tests need, beside the shared toolkit in `mod.rs`.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use super::{BIN, Finished, Running, WAIT, lines_of, run, server_args};

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
