//! What only lesson 02's tests need, beside the shared toolkit in `mod.rs`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{
    BIN, Finished, Running, WAIT, describe_io_error, escaped, spawn_command, with_timeouts,
};

/// Lesson 02's binary has two subcommands; the tests start `server`.
pub const SERVER_COMMAND: &[&str] = &["server"];

/// What the server says when `--greeting` is not given.
pub const DEFAULT_GREETING: &str = "Hello, client! I am the server.";

/// What the client answers when `--message` is not given.
pub const DEFAULT_MESSAGE: &str = "Hello, server!";

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

/// Writes `bytes`; a peer that already hung up is fine here (the test then
/// checks what the program printed about it).
#[track_caller]
pub fn write_ignoring_hang_up(stream: &mut TcpStream, bytes: &[u8]) {
    match stream.write_all(bytes) {
        Ok(()) => {}
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) => {}
        Err(err) => panic!(
            "writing {} failed: {}",
            escaped(bytes),
            describe_io_error(&err)
        ),
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

/// Runs the binary with `args` as a user without privileges, for whom a
/// port below 1024 is refused: directly when the tests do not run as root,
/// through `setpriv` as user `nobody` (65534) when they do. Returns `None`,
/// saying why, where that cannot be arranged.
#[track_caller]
pub fn run_unprivileged(args: &[&str]) -> Option<Finished> {
    let lowest_free_port = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    if lowest_free_port.is_some_and(|port| port <= 1) {
        println!("skipped: on this machine every user may bind any port");
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(2) == Some("0"));
    let mut command = if root {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        setpriv
    } else {
        Command::new(BIN)
    };
    command.args(args);
    let finished = spawn_command(command, Stdio::null()).finish();
    if finished.stderr.starts_with("setpriv:") {
        println!(
            "skipped: setpriv cannot run the binary as nobody: {}",
            finished.stderr
        );
        return None;
    }
    Some(finished)
}

/// A listening socket that answers no SYN: its queue of finished
/// handshakes (the backlog) is full and nobody accepts, so Linux drops
/// every new SYN and a client's connect waits until its own time-out. The
/// connections that fill the queue are returned too; keep them alive.
pub fn listener_that_never_answers() -> (socket2::Socket, SocketAddr, Vec<TcpStream>) {
    use socket2::{Domain, Socket, Type};
    let listener =
        Socket::new(Domain::IPV4, Type::STREAM, None).expect("creating a listening socket");
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    listener
        .bind(&any_port.into())
        .expect("binding a free port");
    // Backlog 0: Linux queues one finished handshake, and drops SYNs after that.
    listener.listen(0).expect("listening");
    let addr = listener
        .local_addr()
        .expect("reading the bound address")
        .as_socket()
        .expect("an IP address");
    let mut queued = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(stream) => queued.push(stream),
            // The queue is full: this SYN was dropped.
            Err(err) if err.kind() == io::ErrorKind::TimedOut => return (listener, addr, queued),
            Err(err) => panic!("filling the listen queue: {err}"),
        }
    }
    panic!("8 connections were queued on a listener with backlog 0: the queue never filled");
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
