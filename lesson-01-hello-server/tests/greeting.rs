//! What the server sends, byte for byte, and how it treats clients that
//! do not behave. The test plays the client with a plain `TcpStream`, the
//! way the tutorial uses telnet.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::lesson::{DEFAULT_GREETING, ipv6_loopback_available};
use common::{Finished, assert_wire, connect, read_to_end_of_stream, reset_on_close, start_server};
use lesson_01_hello_server::{Outcome, greet_one_client, listen};

/// Checks the lines the server printed after `listening on`, for a client
/// at `client` that was greeted with `bytes` bytes.
fn assert_greeted(finished: &Finished, client: &TcpStream, bytes: usize) {
    let client_addr = client.local_addr().expect("reading the client's address");
    let server_addr = client.peer_addr().expect("reading the server's address");
    let expected = [
        format!("listening on {server_addr}"),
        format!("client {client_addr} connected"),
        format!("sent {bytes} bytes to {client_addr}, closing"),
    ];
    assert!(
        finished.status.success() && finished.stdout == expected && finished.stderr.is_empty(),
        "expected exit status 0, stdout {expected:#?} and an empty stderr\n{}",
        finished.describe()
    );
}

#[test]
fn sends_the_greeting_and_a_newline_then_closes() {
    let (server, addr) = start_server(&[]);
    let mut client = connect(addr);

    // Read until the server closes: the greeting must be the whole stream.
    let received = read_to_end_of_stream(&mut client, "the server");

    assert_wire(
        "the server",
        &received,
        format!("{DEFAULT_GREETING}\n").as_bytes(),
    );
    assert_greeted(&server.finish(), &client, DEFAULT_GREETING.len() + 1);
}

#[test]
fn listens_on_ipv6_loopback_written_bare_or_in_brackets() {
    if !ipv6_loopback_available() {
        return;
    }
    // `::1` is how the address is written alone, `[::1]` how it is written
    // before a port; `--host` takes both, and the server binds IPv6.
    for host in ["::1", "[::1]"] {
        let (server, addr) = start_server(&["--host", host]);
        assert!(
            addr.is_ipv6() && addr.ip().is_loopback(),
            "with --host {host} the server should listen on [::1], it said {addr}"
        );
        let mut client = connect(addr);
        let received = read_to_end_of_stream(&mut client, "the server");
        assert_wire(
            "the server",
            &received,
            format!("{DEFAULT_GREETING}\n").as_bytes(),
        );
        assert_greeted(&server.finish(), &client, DEFAULT_GREETING.len() + 1);
    }
}

#[test]
fn a_multi_byte_utf8_greeting_arrives_intact() {
    // 10 Chinese characters of 3 bytes each and 2 ASCII commas: 32 bytes of
    // UTF-8 for 12 characters. The server must count and send bytes.
    let greeting = "你好,客户端,我是服务器";
    let (server, addr) = start_server(&["--greeting", greeting]);
    let mut client = connect(addr);

    let received = read_to_end_of_stream(&mut client, "the server");

    assert_wire("the server", &received, format!("{greeting}\n").as_bytes());
    assert_eq!(
        greeting.len(),
        32,
        "the greeting in UTF-8 should be 32 bytes"
    );
    assert_greeted(&server.finish(), &client, 33);
}

/// A client that connects and leaves at once is the client's business: the
/// server exits 0 whether its write still succeeded (the hang-up arrived
/// after it) or failed (the hang-up arrived first). Which one happens is a
/// race, so this test accepts either line, and asserts what must not vary:
/// the exit status, and no error on stderr.
fn assert_survives_a_client_that_leaves(hang_up: impl Fn(TcpStream)) {
    let (server, addr) = start_server(&[]);
    let client = connect(addr);
    let client_addr = client.local_addr().expect("reading the client's address");

    hang_up(client);

    let finished = server.finish();
    let listening = format!("listening on {addr}");
    let connected = format!("client {client_addr} connected");
    let greeted = format!(" bytes to {client_addr}, closing");
    let left = format!("client {client_addr} hung up before the greeting was sent (");
    let ok = finished.status.success()
        && finished.stderr.is_empty()
        && finished.stdout.len() == 3
        && finished.stdout[0] == listening
        && finished.stdout[1] == connected
        && ((finished.stdout[2].starts_with("sent ") && finished.stdout[2].ends_with(&greeted))
            || finished.stdout[2].starts_with(&left));
    assert!(
        ok,
        "a client that leaves at once must not make the server fail: expected exit status \
         0, an empty stderr, and stdout {listening:?}, {connected:?}, then either \"sent N{greeted}\" or \
         \"{left}...\"\n{}",
        finished.describe()
    );
}

#[test]
fn a_client_that_closes_at_once_does_not_make_the_server_fail() {
    // Dropping the stream closes it normally: the server's system gets a FIN.
    assert_survives_a_client_that_leaves(drop);
}

#[test]
fn a_client_that_resets_at_once_does_not_make_the_server_fail() {
    // With SO_LINGER set to 0, closing sends a reset (RST) instead of a FIN:
    // the connection is torn down, not ended. std cannot set this, socket2 can.
    assert_survives_a_client_that_leaves(|client| {
        reset_on_close(&client);
        drop(client);
    });
}

#[test]
fn a_failed_write_to_a_client_that_left_is_reported_not_fatal() {
    // In-process, so the outcome is certain: the client resets the
    // connection before the server even accepts it. Linux still hands the
    // dead connection to accept. The greeting is far larger than any socket
    // buffer, so its write cannot complete without a reader: it must meet
    // the reset, however late the system gets round to processing it. The
    // library reports that as an outcome, not as an error.
    let listener = listen("127.0.0.1", 0).expect("binding a free port");
    let addr = listener.local_addr().expect("reading the bound address");
    let client = connect(addr);
    reset_on_close(&client);
    drop(client);
    let huge_greeting = "x".repeat(64 * 1024 * 1024);

    let mut events = Vec::new();
    let outcome = greet_one_client(
        &listener,
        &huge_greeting,
        Duration::from_secs(5),
        &mut events,
    )
    .expect("a client that left is not an error of the server");

    let events = String::from_utf8_lossy(&events);
    assert!(
        matches!(outcome, Outcome::ClientLeft { .. }) && events.contains("hung up"),
        "the client had reset the connection before the greeting was written, so the \
         write must fail and be reported as Outcome::ClientLeft; got {outcome:?}, events:\n\
         {events}"
    );
}

#[test]
fn the_write_itself_reports_a_client_that_left() {
    // The same, with the ordinary 32-byte greeting. Such a small write
    // fails only if the system has processed the client's reset before the
    // write, which on a busy machine it may do late; so we try up to 20
    // times and pass at the first failed write. A server whose write cannot
    // fail, because it only fills a buffer of its own (a `BufWriter` never
    // flushed: its drop flushes and throws the error away), fails all 20.
    const TRIES: usize = 20;
    for _ in 0..TRIES {
        let listener = listen("127.0.0.1", 0).expect("binding a free port");
        let addr = listener.local_addr().expect("reading the bound address");
        let client = connect(addr);
        reset_on_close(&client);
        drop(client);

        let outcome = greet_one_client(
            &listener,
            DEFAULT_GREETING,
            Duration::from_secs(5),
            &mut Vec::new(),
        )
        .expect("a client that left is not an error of the server");
        if matches!(outcome, Outcome::ClientLeft { .. }) {
            return;
        }
    }
    panic!(
        "{TRIES} times the client reset the connection before the server accepted it, \
         and {TRIES} times writing the greeting \"succeeded\"\n\
         hint: is the greeting written into a BufWriter? Its bytes reach the socket only \
         when it is flushed (or dropped, which throws a flush error away), so the write \
         never learns that the client left: call flush() and handle its result"
    );
}

#[test]
fn a_client_that_never_reads_cannot_hold_the_server() {
    // In-process: a greeting far larger than the system's socket buffers,
    // sent to a client that never reads, must end with a time-out error
    // instead of blocking the server for ever.
    let listener = listen("127.0.0.1", 0).expect("binding a free port");
    let addr = listener.local_addr().expect("reading the bound address");
    let _client_that_never_reads = connect(addr);
    let huge_greeting = "x".repeat(64 * 1024 * 1024);

    let mut events = Vec::new();
    let result = greet_one_client(
        &listener,
        &huge_greeting,
        Duration::from_millis(500),
        &mut events,
    );

    let Err(err) = result else {
        panic!(
            "sending 64 MiB to a client that never reads should time out, but it returned \
             {result:?}\nhint: is the write time-out set on the stream before writing?"
        );
    };
    let message = format!("{err:#}");
    assert!(
        message.starts_with("sending the greeting to ")
            && message.ends_with(": the client took nothing for 500ms, so it is not reading"),
        "the error should say what the server was doing, got {message:?}"
    );
}
