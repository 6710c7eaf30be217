//! Graceful shutdown on SIGINT and SIGTERM, with the real binary. Unix
//! only: the signals are sent with `kill`, the way a user's Ctrl-C or a
//! service manager sends them.
#![cfg(unix)]

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Running, WAIT, connect, echo, escaped, leave, read_until_closed};

/// Sends `signal` (e.g. "INT") to the process with `kill -SIGNAL PID`.
fn send_signal(server: &Running, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(server.pid().to_string())
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{signal} failed: {status}");
}

#[test]
fn sigint_with_clients_connected_exits_0_within_grace_plus_1s() {
    let (mut server, addr) = Running::server(&["--grace", "1"]);
    let mut busy = connect(addr);
    echo(
        &mut busy,
        b"working\n",
        "a client in the middle of its work",
    );
    let mut silent = connect(addr);
    echo(&mut silent, b"hi\n", "a client that then goes quiet");
    server.expect_line("connected");
    server.expect_line("connected");

    let signalled = Instant::now();
    send_signal(&server, "INT");
    let status = server.wait_for_exit(Duration::from_secs(2) + Duration::from_millis(500));
    let took = signalled.elapsed();
    assert!(
        status.success(),
        "exit status {status} after SIGINT; stdout: {:?}",
        server.seen
    );
    assert!(
        took <= Duration::from_secs(2),
        "with --grace 1 the server took {took:?} to exit (at most grace + 1 s expected)"
    );
    assert_eq!(
        server.seen.last().map(String::as_str),
        Some("shut down: served 2 clients"),
        "the last line should be the summary; stdout: {:?}",
        server.seen
    );
    assert!(
        server
            .seen
            .iter()
            .any(|line| line == "grace period over: closing 2 connections"),
        "stdout: {:?}",
        server.seen
    );
    // Both clients were closed by the server, not left hanging.
    for (client, what) in [
        (&mut busy, "the busy client"),
        (&mut silent, "the silent client"),
    ] {
        let rest = read_until_closed(client, what);
        assert!(rest.is_empty(), "{what} received \"{}\"", escaped(&rest));
    }
}

#[test]
fn sigint_on_an_idle_server_wakes_the_blocked_accept() {
    let (mut server, _addr) = Running::server(&["--grace", "5"]);
    let signalled = Instant::now();
    send_signal(&server, "INT");
    // No client to wait for: the grace period does not apply.
    let status = server.wait_for_exit(Duration::from_secs(3));
    assert!(
        status.success(),
        "exit status {status}; stdout: {:?}",
        server.seen
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "an idle server took {:?} to stop: is it stuck in accept()?",
        signalled.elapsed()
    );
    assert_eq!(
        server.seen.last().map(String::as_str),
        Some("shut down: served 0 clients"),
        "stdout: {:?}",
        server.seen
    );
}

#[test]
fn after_sigint_a_connected_client_may_finish_and_new_ones_are_refused() {
    let (mut server, addr) = Running::server(&["--grace", "5"]);
    let mut client = connect(addr);
    echo(&mut client, b"first\n", "before the signal");

    let signalled = Instant::now();
    send_signal(&server, "INT");
    server.expect_line("shutting down: no longer accepting");

    // The listener is closed: a new client is refused, not queued.
    match TcpStream::connect_timeout(&addr, WAIT) {
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => {}
        other => panic!("connecting after SIGINT should be refused, got {other:?}"),
    }
    // The connected client finishes its work within the grace period.
    echo(
        &mut client,
        b"last words\n",
        "after the signal, within the grace period",
    );
    leave(&mut client, "leaving after the signal");

    // Once it has left, the server does not wait for the rest of the grace.
    let status = server.wait_for_exit(WAIT);
    assert!(
        status.success(),
        "exit status {status}; stdout: {:?}",
        server.seen
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "the server waited {:?}: it should exit as soon as its last client left",
        signalled.elapsed()
    );
    assert_eq!(
        server.seen.last().map(String::as_str),
        Some("shut down: served 1 clients"),
        "stdout: {:?}",
        server.seen
    );
}

#[test]
fn sigterm_shuts_down_the_same_way() {
    let (mut server, addr) = Running::server(&["--grace", "1"]);
    let mut client = connect(addr);
    echo(&mut client, b"hello\n", "before SIGTERM");
    server.expect_line("connected");
    send_signal(&server, "TERM");
    let status = server.wait_for_exit(Duration::from_secs(3));
    assert!(
        status.success(),
        "exit status {status}; stdout: {:?}",
        server.seen
    );
    assert_eq!(
        server.seen.last().map(String::as_str),
        Some("shut down: served 1 clients"),
        "stdout: {:?}",
        server.seen
    );
}
