//! The server, with the test playing the client over a plain `TcpStream`,
//! the way the tutorial uses telnet: exact bytes, and every kind of bad
//! client.

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::lesson::{
    DEFAULT_GREETING, ipv6_loopback_available, read_to_end_of_stream_or_hint,
    write_ignoring_hang_up,
};
use common::{Finished, assert_wire, connect, read_line, reset_on_close, start_server};

/// Checks that the server exited 0 after printing that it listened on
/// `server_addr`, that `client` connected, and that it said `reply`.
fn assert_heard(server: &Finished, server_addr: SocketAddr, client: &TcpStream, reply: &str) {
    let client_addr = client.local_addr().expect("reading the client's address");
    let expected = [
        format!("listening on {server_addr}"),
        format!("client {client_addr} connected"),
        format!("client says: {reply}"),
    ];
    assert!(
        server.status.success() && server.stderr.is_empty() && server.stdout == expected,
        "expected exit status 0 and stdout {expected:#?}\n{}",
        server.describe()
    );
}

/// Checks that the server exited 1 with stderr `error: talking to client
/// ADDR: ` followed by `error`, then the `hint` line if one is given.
fn assert_failed(server: &Finished, client_addr: &str, error: &str, hint: Option<&str>) {
    let mut expected = format!("error: talking to client {client_addr}: {error}\n");
    if let Some(hint) = hint {
        expected.push_str(&format!("hint: {hint}\n"));
    }
    assert!(
        server.status.code() == Some(1) && server.stderr == expected,
        "expected exit status 1 and stderr:\n{expected}\n{}",
        server.describe()
    );
}

#[test]
fn greets_with_one_line_reads_the_reply_and_closes() {
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);

    let greeting = read_line(&mut client, "the server");
    assert_wire(
        "the server",
        &greeting,
        format!("{DEFAULT_GREETING}\n").as_bytes(),
    );

    client.write_all(b"Hi there\n").expect("sending the reply");
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down our write half");
    let after = read_to_end_of_stream_or_hint(
        &mut client,
        "the server",
        "the server should close the connection once it has read the reply line",
    );
    assert_wire("the server", &after, b"");

    assert_heard(&server.finish(), addr, &client, "Hi there");
}

#[test]
fn a_reply_that_ends_at_end_of_stream_is_a_line() {
    // No "\n", but the client shuts down its write half: end of stream
    // ends the last line.
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);
    read_line(&mut client, "the server");

    client.write_all(b"no newline").expect("sending the reply");
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down our write half");

    assert_heard(&server.finish(), addr, &client, "no newline");
}

#[test]
fn a_reply_ending_in_carriage_return_newline_loses_both() {
    // telnet ends lines with "\r\n".
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);
    read_line(&mut client, "the server");

    client
        .write_all(b"from telnet\r\n")
        .expect("sending the reply");

    assert_heard(&server.finish(), addr, &client, "from telnet");
}

#[test]
fn a_reply_of_exactly_64_kib_is_accepted() {
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);
    read_line(&mut client, "the server");

    let mut reply = vec![b'a'; 64 * 1024];
    reply.push(b'\n');
    client.write_all(&reply).expect("sending the reply");

    assert_heard(&server.finish(), addr, &client, &"a".repeat(64 * 1024));
}

#[test]
fn a_reply_of_exactly_64_kib_ending_at_end_of_stream_is_accepted() {
    // The limit counts the bytes before the "\n"; a last line may end at
    // end of stream instead, and 65536 bytes are still within the limit.
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);
    read_line(&mut client, "the server");

    client
        .write_all(&vec![b'a'; 64 * 1024])
        .expect("sending the reply");
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down our write half");

    assert_heard(&server.finish(), addr, &client, &"a".repeat(64 * 1024));
}

#[test]
fn a_reply_over_64_kib_is_refused() {
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);
    let client_addr = client
        .local_addr()
        .expect("reading our address")
        .to_string();
    read_line(&mut client, "the server");

    // One byte over the limit, and no "\n". The server stops reading and
    // closes, so this write may meet a reset: that is fine.
    write_ignoring_hang_up(&mut client, &vec![b'a'; 64 * 1024 + 1]);

    assert_failed(
        &server.finish(),
        &client_addr,
        "reading the client's reply line (time-out 10s): more than 65536 bytes arrived \
         without a \"\\n\": the line is too long",
        None,
    );
}

#[test]
fn a_reply_that_is_not_utf8_is_refused_and_shown() {
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);
    let client_addr = client
        .local_addr()
        .expect("reading our address")
        .to_string();
    read_line(&mut client, "the server");

    // 0xFF and 0xFE never occur in UTF-8.
    client
        .write_all(b"ok\xff\xfe\n")
        .expect("sending the reply");

    assert_failed(
        &server.finish(),
        &client_addr,
        "reading the client's reply line (time-out 10s): the line is not UTF-8 text (the \
         bytes go wrong at byte 2): b\"ok\\xff\\xfe\" (4 bytes)",
        Some("lines are UTF-8 text; the client sent bytes in another encoding, or binary data"),
    );
}

#[test]
fn a_client_that_never_speaks_is_timed_out() {
    let (server, addr) = start_server(&["--timeout", "1"]);
    let mut client = connect(addr);
    let client_addr = client
        .local_addr()
        .expect("reading our address")
        .to_string();
    read_line(&mut client, "the server");

    // Say nothing, and keep the connection open until the server gives up.
    let finished = server.finish();
    drop(client);

    assert_failed(
        &finished,
        &client_addr,
        "reading the client's reply line (time-out 1s): nothing arrived in time",
        Some(
            "the client is connected but sent nothing: it may be waiting for us, or its line \
             may sit in a buffer it never flushed",
        ),
    );
}

#[test]
fn a_client_that_stops_mid_line_is_timed_out_and_shown() {
    let (server, addr) = start_server(&["--timeout", "1"]);
    let mut client = connect(addr);
    let client_addr = client
        .local_addr()
        .expect("reading our address")
        .to_string();
    // Sent before the greeting is read, so the 3 bytes are waiting when the
    // server starts to read, however slow the machine is.
    client.write_all(b"Hel").expect("sending half a line");
    read_line(&mut client, "the server");

    let finished = server.finish();
    drop(client);

    assert_failed(
        &finished,
        &client_addr,
        "reading the client's reply line (time-out 1s): received \"Hel\" (3 bytes), but no \
         \"\\n\" to end the line in time",
        Some(
            "a line ends with \"\\n\": the client left it out, kept the rest of the line in a \
             buffer it never flushed, or sends it too slowly",
        ),
    );
}

#[test]
fn a_client_that_trickles_its_reply_is_cut_off_when_the_time_is_up() {
    // One byte every 0.4 s: each read gets a byte long before a 2 s time-out
    // per read would pass, so only a deadline for the whole line stops it.
    let (server, addr) = start_server(&["--timeout", "2"]);
    let mut client = connect(addr);
    let client_addr = client
        .local_addr()
        .expect("reading our address")
        .to_string();
    read_line(&mut client, "the server");

    let stop = Arc::new(AtomicBool::new(false));
    let mut trickle = client.try_clone().expect("cloning our socket");
    let stop_trickling = Arc::clone(&stop);
    let trickler = thread::spawn(move || {
        // At most 20 s, far longer than the test waits; it stops sooner when
        // the server has hung up (the write fails) or the test is done.
        let started = Instant::now();
        while !stop_trickling.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(20)
        {
            if trickle.write_all(b"a").is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(400));
        }
    });

    // A server with a time-out per read would still be reading when the
    // trickle ends, 20 s from now. 6 s is the 2 s deadline with room for a
    // slow machine.
    let finished = server.finish_within(Duration::from_secs(6));
    stop.store(true, Ordering::Relaxed);
    trickler.join().expect("the trickling thread panicked");

    let start = format!(
        "error: talking to client {client_addr}: reading the client's reply line (time-out \
         2s): received \"aa"
    );
    let end = " bytes), but no \"\\n\" to end the line in time\n\
               hint: a line ends with \"\\n\": the client left it out, kept the rest of the \
               line in a buffer it never flushed, or sends it too slowly\n";
    assert!(
        finished.status.code() == Some(1)
            && finished.stderr.starts_with(&start)
            && finished.stderr.ends_with(end),
        "a client that sends a byte every 0.4 s must be cut off after --timeout 2 for the \
         whole line: expected exit status 1 and stderr starting {start:?} (some bytes came) \
         and ending {end:?}\nhint: is the read time-out set once, so that every byte restarts \
         it, instead of a deadline for the whole line?\n{}",
        finished.describe()
    );
}

#[test]
fn a_client_that_shuts_down_without_a_reply_is_an_error_with_a_hint() {
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);
    let client_addr = client
        .local_addr()
        .expect("reading our address")
        .to_string();
    read_line(&mut client, "the server");

    // End of stream before any byte of the reply.
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down our write half");

    assert_failed(
        &server.finish(),
        &client_addr,
        "reading the client's reply line (time-out 10s): the connection was closed before a \
         line arrived",
        Some(
            "the client hung up without sending its line: it closed the connection too early, \
             or it failed (see its own output)",
        ),
    );
}

#[test]
fn listens_on_ipv6_loopback_written_bare_or_in_brackets() {
    if !ipv6_loopback_available() {
        return;
    }
    for host in ["::1", "[::1]"] {
        let (server, addr) = start_server(&["--host", host]);
        assert!(
            addr.is_ipv6() && addr.ip().is_loopback(),
            "with --host {host} the server should listen on [::1], it said {addr}"
        );
        let mut client = connect(addr);
        read_line(&mut client, "the server");
        client.write_all(b"over IPv6\n").expect("sending the reply");
        assert_heard(&server.finish(), addr, &client, "over IPv6");
    }
}

#[test]
fn a_client_that_resets_mid_line_is_an_error() {
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);
    let client_addr = client
        .local_addr()
        .expect("reading our address")
        .to_string();
    read_line(&mut client, "the server");

    client.write_all(b"Hel").expect("sending half a line");
    reset_on_close(&client);
    drop(client);

    let finished = server.finish();
    // The reset may overtake the 3 bytes: then the server saw none of them.
    let prefix = format!(
        "error: talking to client {client_addr}: reading the client's reply line (time-out \
         10s): Connection reset by peer (os error 104)"
    );
    assert!(
        finished.status.code() == Some(1) && finished.stderr.starts_with(&prefix),
        "expected exit status 1 and stderr starting {prefix:?}\n{}",
        finished.describe()
    );
}

/// A client that connects and leaves at once. Whether the server's
/// greeting write fails (the hang-up came first) or its read then finds
/// end of stream is a race; either way the server must exit 1 with an
/// error about this client, and never panic.
fn assert_fails_cleanly_when_the_client_leaves(hang_up: impl Fn(&TcpStream)) {
    let (server, addr) = start_server(&[]);
    let client = connect(addr);
    let client_addr = client
        .local_addr()
        .expect("reading our address")
        .to_string();
    hang_up(&client);
    drop(client);

    let finished = server.finish();
    let prefix = format!("error: talking to client {client_addr}: ");
    assert!(
        finished.status.code() == Some(1)
            && finished.stderr.starts_with(&prefix)
            && !finished.stderr.contains("panicked"),
        "expected exit status 1 and stderr starting {prefix:?}\n{}",
        finished.describe()
    );
}

#[test]
fn a_client_that_closes_at_once_is_an_error_not_a_panic() {
    assert_fails_cleanly_when_the_client_leaves(|_| {});
}

#[test]
fn a_client_that_resets_at_once_is_an_error_not_a_panic() {
    assert_fails_cleanly_when_the_client_leaves(reset_on_close);
}
