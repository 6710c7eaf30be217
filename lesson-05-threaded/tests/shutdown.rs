//! Graceful shutdown on SIGINT and SIGTERM, with the real binary. Unix
//! only: the signals are sent with `kill`, the way a user's Ctrl-C or a
//! service manager sends them.
#![cfg(unix)]

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::lesson::summary_line;
use common::{
    SOCKET_WAIT, WAIT, assert_wire, connect, echo_round_trip, leave, read_to_end_of_stream,
    start_server, start_server_with_unread_stdout,
};

#[test]
fn sigint_with_clients_connected_exits_0_within_grace_plus_1s() {
    let (mut server, addr) = start_server(&["--grace", "1"]);
    let mut busy = connect(addr);
    echo_round_trip(
        &mut busy,
        b"working\n",
        "the server (a client in the middle of its work)",
    );
    let mut silent = connect(addr);
    echo_round_trip(
        &mut silent,
        b"hi\n",
        "the server (a client that then goes quiet)",
    );
    server.line_containing("connected");
    server.line_containing("connected");

    let signalled = Instant::now();
    server.signal("INT");
    let finished = server.finish_within(Duration::from_secs(2) + Duration::from_millis(500));
    let took = signalled.elapsed();
    assert!(
        finished.status.success(),
        "exit status after SIGINT: {}",
        finished.describe()
    );
    assert!(
        took <= Duration::from_secs(2),
        "with --grace 1 the server took {took:?} to exit (at most grace + 1 s expected)"
    );
    // The last line is counted after every client thread has been joined:
    // 8 + 3 bytes were echoed.
    assert_eq!(
        finished.stdout.last(),
        Some(&summary_line(2, 0, 11)),
        "the last line should be the summary: {}",
        finished.describe()
    );
    assert!(
        finished
            .stdout
            .iter()
            .any(|line| line == "grace period over: closing 2 connections"),
        "{}",
        finished.describe()
    );
    // Both clients were closed by the server, not left hanging.
    for (client, who) in [
        (&mut busy, "the server (to the busy client)"),
        (&mut silent, "the server (to the silent client)"),
    ] {
        let rest = read_to_end_of_stream(client, who);
        assert_wire(who, &rest, b"");
    }
}

#[test]
fn sigint_on_an_idle_server_wakes_the_blocked_accept() {
    let (server, _addr) = start_server(&["--grace", "5"]);
    let signalled = Instant::now();
    server.signal("INT");
    // No client to wait for: the grace period does not apply.
    let finished = server.finish_within(Duration::from_secs(3));
    assert!(finished.status.success(), "{}", finished.describe());
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "an idle server took {:?} to stop: is it stuck in accept()?",
        signalled.elapsed()
    );
    assert_eq!(
        finished.stdout[2..],
        [
            "shutting down: no longer accepting; waiting up to 5s for 0 clients".to_string(),
            summary_line(0, 0, 0)
        ],
        "with no client there is no grace period to wait for, nothing to close\n{}",
        finished.describe()
    );
}

#[test]
fn sigint_wakes_a_server_listening_on_another_loopback_address() {
    // 127.0.0.2 is loopback too, but nothing listens on 127.0.0.1 at this
    // port: the wake-up must go to the address the server listens on.
    let (server, addr) = start_server(&["--host", "127.0.0.2", "--grace", "5"]);
    assert_eq!(addr.ip().to_string(), "127.0.0.2");
    let signalled = Instant::now();
    server.signal("INT");
    let finished = server.finish_within(Duration::from_secs(3));
    assert!(finished.status.success(), "{}", finished.describe());
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "a server on 127.0.0.2 took {:?} to stop: did the wake-up go elsewhere?",
        signalled.elapsed()
    );
    assert_eq!(
        finished.stdout.last(),
        Some(&summary_line(0, 0, 0)),
        "{}",
        finished.describe()
    );
}

#[test]
fn after_sigint_a_connected_client_may_finish_and_new_ones_are_refused() {
    let (mut server, addr) = start_server(&["--grace", "5"]);
    let mut client = connect(addr);
    echo_round_trip(&mut client, b"first\n", "the server (before the signal)");

    let signalled = Instant::now();
    server.signal("INT");
    server.line_containing("shutting down: no longer accepting");

    // The listener is closed: a new client is refused, not queued.
    match TcpStream::connect_timeout(&addr, SOCKET_WAIT) {
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => {}
        other => panic!("connecting after SIGINT should be refused, got {other:?}"),
    }
    // The connected client finishes its work within the grace period.
    echo_round_trip(
        &mut client,
        b"last words\n",
        "the server (after the signal, within the grace period)",
    );
    leave(&mut client, "the server (leaving after the signal)");

    // Once it has left, the server does not wait for the rest of the grace.
    let finished = server.finish_within(WAIT);
    assert!(finished.status.success(), "{}", finished.describe());
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "the server waited {:?}: it should exit as soon as its last client left",
        signalled.elapsed()
    );
    assert_eq!(
        finished.stdout.last(),
        Some(&summary_line(1, 0, 17)),
        "{}",
        finished.describe()
    );
    assert!(
        !finished
            .stdout
            .iter()
            .any(|line| line.starts_with("grace period over")),
        "the client left within the grace period: nothing was left to close\n{}",
        finished.describe()
    );
}

#[test]
fn sigterm_shuts_down_the_same_way() {
    let (mut server, addr) = start_server(&["--grace", "1"]);
    let mut client = connect(addr);
    echo_round_trip(&mut client, b"hello\n", "the server (before SIGTERM)");
    server.line_containing("connected");
    server.signal("TERM");
    let finished = server.finish_within(Duration::from_secs(3));
    assert!(finished.status.success(), "{}", finished.describe());
    assert_eq!(
        finished.stdout.last(),
        Some(&summary_line(1, 0, 6)),
        "{}",
        finished.describe()
    );
}

#[test]
fn the_summary_counts_the_clients_turned_away() {
    let (mut server, addr) = start_server(&["--max-connections", "1", "--grace", "1"]);
    let mut served = connect(addr);
    echo_round_trip(
        &mut served,
        b"mine\n",
        "the server (the one client it serves)",
    );
    for n in 1..=2 {
        let mut extra = connect(addr);
        let reply = read_to_end_of_stream(&mut extra, "the server (a client over the limit)");
        assert_wire(
            &format!("the server (to client {n} over the limit)"),
            &reply,
            b"ERR server busy\n",
        );
    }
    leave(&mut served, "the server (the served client leaving)");
    server.line_containing("disconnected");
    server.signal("INT");
    let finished = server.finish_within(Duration::from_secs(3));
    assert!(finished.status.success(), "{}", finished.describe());
    assert_eq!(
        finished.stdout.last(),
        Some(&summary_line(1, 2, 5)),
        "{}",
        finished.describe()
    );
}

#[test]
fn a_server_whose_stdout_nobody_reads_keeps_serving_and_still_stops_on_sigint() {
    // A pipe holds 64 KiB; each client costs two log lines of about 60
    // bytes, so after about 550 clients every later log line would block a
    // server that writes its log itself. 3,000 clients are far past that.
    let (server, addr) = start_server_with_unread_stdout(&["--grace", "1"]);
    for n in 0..3000 {
        let mut client = connect(addr);
        echo_round_trip(
            &mut client,
            b"x\n",
            &format!("the server (client {n} of 3000; nobody reads its stdout)"),
        );
        leave(
            &mut client,
            &format!("the server (client {n} of 3000 leaving; nobody reads its stdout)"),
        );
    }
    let signalled = Instant::now();
    server.signal("INT");
    let finished = server.finish_within(Duration::from_secs(2));
    assert!(
        finished.status.success(),
        "after SIGINT, with its stdout full: {}",
        finished.describe()
    );
    assert!(
        signalled.elapsed() <= Duration::from_secs(2),
        "with --grace 1 the server took {:?} to exit (at most grace + 1 s expected)",
        signalled.elapsed()
    );
}
