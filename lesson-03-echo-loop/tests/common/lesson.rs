//! What only lesson 03's tests need, beside the shared toolkit in `mod.rs`.

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::{Running, WAIT, describe_io_error, escaped, with_timeouts};

/// Lesson 03's binary has two subcommands; the tests start `server`.
pub const SERVER_COMMAND: &[&str] = &["server"];

/// A stdout line the program has already printed, if there is one, without
/// waiting: to check that something has *not* happened yet. (`lesson.rs` is
/// a child module of the toolkit, so it may read a `Running`'s lines.)
pub fn line_if_any(program: &mut Running) -> Option<String> {
    let line = program.stdout_lines.try_recv().ok()?;
    program.seen.push(line.clone());
    Some(line)
}

/// The lowest descriptor number that process `pid` has free: the number
/// its next `accept` would get (Linux: read from `/proc/PID/fd`).
#[track_caller]
pub fn lowest_free_descriptor(pid: u32) -> u32 {
    let open: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|err| panic!("listing /proc/{pid}/fd: {err}"))
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|fd| !open.contains(fd)).expect("a free number")
}

/// Sets the soft limit on open descriptors of the running process `pid`
/// (and of no other) with `prlimit`. Says why not if that cannot be done.
pub fn set_descriptor_limit(pid: u32, limit: u32) -> Result<(), String> {
    match Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={limit}:")])
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("prlimit --nofile={limit}: failed: {status}")),
        Err(err) => Err(format!("prlimit cannot run here: {err}")),
    }
}

/// Reads until `who` ends its stream (a read returns 0 bytes) and returns
/// what arrived on the way; if the stream does not end, fails with the
/// bytes that did arrive and `hint`, which names the step `who` left out.
#[track_caller]
pub fn read_to_end_of_stream_or_hint(stream: &mut TcpStream, who: &str, hint: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "waiting for end of stream from {who}: it sent {}, then {}\nhint: {hint}",
                escaped(&received),
                describe_io_error(&err)
            ),
        }
    }
}

/// Whether this machine has IPv6 loopback (`::1`). A machine without IPv6
/// cannot run the IPv6 tests; they say so and skip the part that needs it.
pub fn ipv6_loopback_available() -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(err) => {
            println!("skipped: this machine cannot bind ::1 (IPv6 loopback): {err}");
            false
        }
    }
}

/// Accepts the real client's connection on a listener of the test's own,
/// waiting at most [`WAIT`], and fails at once, with what the client
/// printed, if the client exits without connecting (a client that fails
/// before it connects would otherwise cost the whole wait, and say less).
#[track_caller]
pub fn accept_client(listener: &TcpListener, client: &mut Running) -> TcpStream {
    listener
        .set_nonblocking(true)
        .expect("making the listener non-blocking");
    let deadline = Instant::now() + WAIT;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => panic!("accepting the client: {err}"),
        }
        if let Ok(Some(status)) = client.child.try_wait() {
            // It may have connected just before it exited: one last look.
            if let Ok((stream, _)) = listener.accept() {
                break stream;
            }
            panic!(
                "the client exited ({status}) without connecting; stdout:\n{}\nstderr:\n{}",
                client.seen.join("\n"),
                client.stderr_so_far()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the client did not connect within {WAIT:?}"
        );
        thread::sleep(Duration::from_millis(10));
    };
    stream
        .set_nonblocking(false)
        .expect("making the connection blocking");
    with_timeouts(stream)
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
        let states: Vec<char> = std::fs::read_dir(&tasks)
            .map(|entries| {
                entries
                    .filter_map(|entry| {
                        let text = std::fs::read_to_string(entry.ok()?.path().join("stat")).ok()?;
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
