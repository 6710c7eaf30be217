//! The client, with the test playing the server over a plain listener:
//! the exact bytes the client sends, its half-close, and every kind of bad
//! server.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::lesson::{
    DEFAULT_GREETING, DEFAULT_MESSAGE, accept_client, ipv6_loopback_available,
    read_to_end_of_stream_or_hint, stop_and_continue,
};
use common::{
    Finished, Running, assert_wire, fake_server, read_line, reset_on_close, start_client,
};

/// Starts the real client against a listener of the test's own, and
/// returns the client and the test's end of the connection.
fn client_with_fake_server(args: &[&str]) -> (Running, TcpStream) {
    let (listener, addr) = fake_server();
    let mut client = start_client(addr, args, b"");
    let stream = accept_client(&listener, &mut client);
    (client, stream)
}

/// Checks that the client exited 1 with exactly `stderr`.
fn assert_failed(client: &Finished, stderr: &str) {
    assert!(
        client.status.code() == Some(1) && client.stderr == stderr,
        "expected exit status 1 and stderr:\n{stderr}\n{}",
        client.describe()
    );
}

#[test]
fn sends_one_line_then_shuts_down_its_write_half() {
    let (client, mut server) = client_with_fake_server(&[]);
    server
        .write_all(format!("{DEFAULT_GREETING}\n").as_bytes())
        .expect("sending the greeting");

    // The client must send its line and then shut down its write half:
    // we see end of stream while the client still waits for us to close.
    let received = read_to_end_of_stream_or_hint(
        &mut server,
        "the client",
        "after its line the client must shut down its write half \
         (stream.shutdown(Shutdown::Write)), so the server's read returns 0 bytes; it \
         cannot simply close, because it still waits for the server to close",
    );
    assert_wire(
        "the client",
        &received,
        format!("{DEFAULT_MESSAGE}\n").as_bytes(),
    );

    // Now we close, and the client, which was waiting for that, exits 0.
    drop(server);
    let finished = client.finish();
    let expected = [format!("server says: {DEFAULT_GREETING}")];
    assert!(
        finished.status.success() && finished.stderr.is_empty() && finished.stdout == expected,
        "expected exit status 0 and stdout {expected:?}\n{}",
        finished.describe()
    );
}

#[test]
fn waits_for_the_greeting_before_it_answers() {
    // Nothing is sent until the greeting's "\n" arrives: the client reads
    // a line, not whatever the first read returns.
    let (client, mut server) = client_with_fake_server(&["--message", "after you"]);
    server
        .write_all(b"Hello, ")
        .expect("sending half the greeting");
    server.flush().expect("flushing");
    server.write_all(b"client!\n").expect("sending the rest");

    let received = read_to_end_of_stream_or_hint(
        &mut server,
        "the client",
        "the client must send its line and shut down its write half",
    );
    assert_wire("the client", &received, b"after you\n");
    drop(server);
    let finished = client.finish();
    assert_eq!(
        finished.stdout,
        ["server says: Hello, client!"],
        "a greeting that arrives in two pieces is still one line\n{}",
        finished.describe()
    );
}

#[test]
fn a_server_that_never_greets_is_timed_out() {
    let (client, server) = client_with_fake_server(&["--timeout", "1"]);

    // Keep the connection open and say nothing until the client gives up.
    let finished = client.finish();
    drop(server);

    assert_failed(
        &finished,
        "error: reading the server's greeting line (time-out 1s): nothing arrived in time\n\
         hint: the server is connected but sent nothing: it may be waiting for us, or its \
         line may sit in a buffer it never flushed\n",
    );
}

#[test]
fn a_greeting_without_newline_is_timed_out_and_shown() {
    let (client, mut server) = client_with_fake_server(&["--timeout", "2"]);
    server.write_all(b"Hello").expect("sending half a line");

    let finished = client.finish();
    drop(server);

    assert_failed(
        &finished,
        "error: reading the server's greeting line (time-out 2s): received \"Hello\" (5 \
         bytes), but no \"\\n\" to end the line in time\n\
         hint: a line ends with \"\\n\": the server left it out, kept the rest of the line \
         in a buffer it never flushed, or sends it too slowly\n",
    );
}

#[test]
fn a_greeting_that_is_not_utf8_is_refused() {
    let (client, mut server) = client_with_fake_server(&[]);
    server
        .write_all(b"\xc3\x28\n")
        .expect("sending a broken greeting");

    let finished = client.finish();

    assert_failed(
        &finished,
        "error: reading the server's greeting line (time-out 10s): the line is not UTF-8 text \
         (the bytes go wrong at byte 0): b\"\\xc3(\" (2 bytes)\n\
         hint: lines are UTF-8 text; the server sent bytes in another encoding, or binary \
         data\n",
    );
}

#[test]
fn a_server_that_closes_without_greeting_is_an_error() {
    let (client, server) = client_with_fake_server(&[]);
    drop(server);

    let finished = client.finish();

    assert_failed(
        &finished,
        "error: reading the server's greeting line (time-out 10s): the connection was closed \
         before a line arrived\n\
         hint: the server hung up without sending its line: it closed the connection too \
         early, or it failed (see its own output)\n",
    );
}

#[test]
fn a_server_that_sends_two_lines_is_an_error() {
    let (client, mut server) = client_with_fake_server(&[]);
    server.write_all(b"one\ntwo\n").expect("sending two lines");

    let finished = client.finish();

    assert_failed(
        &finished,
        "error: the server sent more than one line: \"two\\n\" (4 bytes) came after the \
         greeting\n",
    );
}

#[test]
fn a_server_that_never_closes_is_timed_out() {
    let (client, mut server) = client_with_fake_server(&["--timeout", "2"]);
    server.write_all(b"hi\n").expect("sending the greeting");

    // Read the client's line and end of stream, but never close our end.
    read_to_end_of_stream_or_hint(
        &mut server,
        "the client",
        "it must shut down its write half",
    );
    let finished = client.finish();
    drop(server);

    assert_failed(
        &finished,
        "error: waiting for the server to close the connection: it neither closed nor sent \
         anything within 2s of our message\n",
    );
}

#[test]
fn a_server_that_trickles_its_greeting_is_cut_off_when_the_time_is_up() {
    // One byte every 0.4 s never trips a 2 s time-out per read; the whole
    // greeting line has 2 s.
    let (client, mut server) = client_with_fake_server(&["--timeout", "2"]);
    let finished = thread::scope(|scope| {
        let trickler = scope.spawn(|| {
            for byte in b"Hello, client! I am the server." {
                if server.write_all(&[*byte]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(400));
            }
        });
        let finished = client.finish_within(Duration::from_secs(6));
        // The trickler stops at its first failed write, once the client
        // has gone, and the scope waits for it.
        let _ = trickler;
        finished
    });

    let start = "error: reading the server's greeting line (time-out 2s): received \"He";
    let end = " bytes), but no \"\\n\" to end the line in time\n\
               hint: a line ends with \"\\n\": the server left it out, kept the rest of the \
               line in a buffer it never flushed, or sends it too slowly\n";
    assert!(
        finished.status.code() == Some(1)
            && finished.stderr.starts_with(start)
            && finished.stderr.ends_with(end),
        "a server that sends a byte every 0.4 s must be cut off after --timeout 2 for the \
         whole greeting: expected exit status 1 and stderr starting {start:?} and ending \
         {end:?}\n{}",
        finished.describe()
    );
}

#[test]
fn a_server_that_resets_after_our_message_did_not_read_it() {
    // The server greets, leaves our message unread and resets the
    // connection, as a server that only greets does (lesson 01's). The
    // client says so, and exits 0: it is not the client's failure.
    let (client, mut server) = client_with_fake_server(&[]);
    server
        .write_all(format!("{DEFAULT_GREETING}\n").as_bytes())
        .expect("sending the greeting");
    // Wait until the message is in our receive buffer, unread: closing a
    // socket with unread bytes sends a reset (and SO_LINGER 0 makes sure).
    let mut first_byte = [0u8; 1];
    server
        .peek(&mut first_byte)
        .expect("waiting for the client's message");
    reset_on_close(&server);
    drop(server);

    let finished = client.finish();
    let expected = [
        format!("server says: {DEFAULT_GREETING}"),
        "the server had closed the connection; it did not read our message".to_string(),
    ];
    assert!(
        finished.status.success() && finished.stderr.is_empty() && finished.stdout == expected,
        "expected exit status 0 and stdout {expected:#?}\n{}\nhint: the reset shows in whichever \
         call comes next, the send, the shutdown or a read, as \"broken pipe\", \"connection \
         reset\" or \"not connected\"; each of them means the server is gone",
        finished.describe()
    );
}

#[test]
fn connects_over_ipv6_written_bare_or_in_brackets() {
    if !ipv6_loopback_available() {
        return;
    }
    for host in ["::1", "[::1]"] {
        let listener = std::net::TcpListener::bind("[::1]:0").expect("binding [::1]");
        let port = listener
            .local_addr()
            .expect("reading the bound address")
            .port()
            .to_string();
        let mut client = common::spawn(&["client", "--host", host, "--port", &port]);
        let mut server = accept_client(&listener, &mut client);
        server
            .write_all(b"hi over IPv6\n")
            .expect("sending the greeting");
        let reply = read_line(&mut server, "the client");
        assert_wire(
            "the client",
            &reply,
            format!("{DEFAULT_MESSAGE}\n").as_bytes(),
        );
        drop(server);
        let finished = client.finish();
        assert!(
            finished.status.success() && finished.stdout == ["server says: hi over IPv6"],
            "with --host {host} the client should talk to the server on [::1]:{port}\n{}",
            finished.describe()
        );
    }
}

#[test]
fn the_wait_for_the_close_has_a_time_out_of_its_own() {
    // --timeout 4 bounds each step: the greeting, then the server's close.
    // This server takes 2.5 s for each, 5 s in all: each step is in time,
    // so the client must not give up after 4 s counted from the greeting.
    let (client, mut server) = client_with_fake_server(&["--timeout", "4"]);
    thread::sleep(Duration::from_millis(2500));
    server
        .write_all(format!("{DEFAULT_GREETING}\n").as_bytes())
        .expect("sending the greeting");
    let received = read_to_end_of_stream_or_hint(
        &mut server,
        "the client",
        "after its line the client must shut down its write half",
    );
    assert_wire(
        "the client",
        &received,
        format!("{DEFAULT_MESSAGE}\n").as_bytes(),
    );
    thread::sleep(Duration::from_millis(2500));
    drop(server);

    let finished = client.finish();
    let expected = [format!("server says: {DEFAULT_GREETING}")];
    assert!(
        finished.status.success() && finished.stderr.is_empty() && finished.stdout == expected,
        "the greeting and the close each came 2.5 s after the step before, within \
         --timeout 4: expected exit status 0 and stdout {expected:?}\nhint: does the wait \
         for the close start its own time-out, or is it left with what the greeting did not \
         use?\n{}",
        finished.describe()
    );
}

#[test]
fn a_client_stopped_and_continued_keeps_waiting_for_the_close() {
    // Ctrl-Z and `fg` while the client waits for the server to close: its
    // read, which has a time-out, fails with "Interrupted", and it must
    // read again.
    let (client, mut server) = client_with_fake_server(&[]);
    server
        .write_all(format!("{DEFAULT_GREETING}\n").as_bytes())
        .expect("sending the greeting");
    read_to_end_of_stream_or_hint(
        &mut server,
        "the client",
        "after its line the client must shut down its write half",
    );
    stop_and_continue(&client);
    drop(server);
    let finished = client.finish();
    let expected = [format!("server says: {DEFAULT_GREETING}")];
    assert!(
        finished.status.success() && finished.stdout == expected,
        "after Ctrl-Z and fg the client should still see the close and exit 0\n\
         hint: does it read again after an Interrupted error?\n{}",
        finished.describe()
    );
}
