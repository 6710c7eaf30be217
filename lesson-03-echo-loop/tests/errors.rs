//! What goes wrong, and what the student reads: the client against servers
//! that misbehave (played by the test), nothing listening, a port in use,
//! and bad usage.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::lesson::{accept_client, read_to_end_of_stream_or_hint, stop_and_continue};
use common::{
    BIN, Finished, Running, connect, echo_round_trip, escaped, fake_server, free_port,
    reset_on_close, run, run_client, spawn_command, start_client, start_server,
};

/// Starts the real client with `args` and `input` against a server played
/// by the test, accepts its connection and reads everything it sends, up to
/// the end of stream its shut-down write half sends. Returns the client
/// (still running: it waits for the echoes), the test's end of the
/// connection, and the bytes the client sent.
fn client_against_fake_server(args: &[&str], input: &[u8]) -> (Running, TcpStream, Vec<u8>) {
    let (listener, addr) = fake_server();
    let mut client = start_client(addr, args, input);
    let mut stream = accept_client(&listener, &mut client);
    let received = read_to_end_of_stream_or_hint(
        &mut stream,
        "the client",
        "does the client shut down its write half after the last line?",
    );
    (client, stream, received)
}

/// Checks that the client exited 1, printed `stdout` (one entry per line)
/// and exactly `stderr`.
#[track_caller]
fn assert_failed(client: &Finished, stdout: &[&str], stderr: &str) {
    assert!(
        client.status.code() == Some(1) && client.stdout == stdout && client.stderr == stderr,
        "expected exit status 1, stdout {stdout:?} and stderr:\n{stderr}\n{}",
        client.describe()
    );
}

#[test]
fn the_client_sends_each_line_with_its_newline_then_shuts_down() {
    // The test plays the server and looks at the exact bytes on the wire.
    // Reaching end of stream at all proves the client shut down its write
    // half; the bytes prove every line ended in "\n" (a client that left
    // the "\n" out would still see matching echoes from a real echo server,
    // so only the wire can tell).
    let (client, mut server, received) = client_against_fake_server(&[], b"one\n\ntwo\nthree");
    assert!(
        received == b"one\n\ntwo\nthree\n",
        "on the wire: {}, expected \"one\\n\\ntwo\\nthree\\n\"\n\
         hint: does each line go out with its \"\\n\"? (the last one too)",
        escaped(&received)
    );
    server.write_all(&received).expect("echoing");
    drop(server);
    let finished = client.finish();
    assert!(
        finished.status.success()
            && finished.stdout == ["echo: one", "echo: ", "echo: two", "echo: three"],
        "expected exit status 0 and the four echoes\n{}",
        finished.describe()
    );
}

#[test]
fn a_server_that_closes_early() {
    // It reads the whole line but sends back only 3 of its 6 bytes, then
    // closes: the client must notice the missing bytes, not wait or succeed.
    let (client, mut server, received) = client_against_fake_server(&["--message", "hello"], b"");
    assert!(
        received == b"hello\n",
        "the test's server received {}, expected \"hello\\n\"",
        escaped(&received)
    );
    server.write_all(b"hel").expect("sending half an echo");
    drop(server);
    // No complete echo, so nothing printed.
    assert_failed(
        &client.finish(),
        &[],
        "error: the server closed the connection early: 3 of 6 bytes of the echo of line 1 \
         arrived (sent \"hello\\n\" (6 bytes), received \"hel\" (3 bytes))\n\
         hint: the server closed before echoing everything we sent; its log says how many \
         bytes it echoed, and why it stopped\n",
    );
}

#[test]
fn an_echo_that_differs() {
    let (client, mut server, received) = client_against_fake_server(&[], b"same\nDIFFERENT\n");
    server
        .write_all(&received.to_ascii_uppercase())
        .expect("sending a wrong echo");
    drop(server);
    assert_failed(
        &client.finish(),
        &[],
        "error: the echo of line 1 differs from what was sent, from byte 0 on: \
         sent \"same\\n\" (5 bytes), received \"SAME\\n\" (5 bytes)\n",
    );
}

#[test]
fn an_echo_that_differs_on_a_later_line_names_that_line_and_byte() {
    // Line 1 comes back right; line 2 differs at its third byte. The error
    // counts lines and bytes, so it must say line 2, byte 2.
    let (client, mut server, received) = client_against_fake_server(&[], b"one\ntwo\n");
    assert_eq!(received, b"one\ntwo\n", "the client's bytes on the wire");
    server
        .write_all(b"one\ntwX\n")
        .expect("sending a wrong echo");
    drop(server);
    assert_failed(
        &client.finish(),
        &["echo: one"],
        "error: the echo of line 2 differs from what was sent, from byte 2 on: \
         sent ...\"o\\n\" (4 bytes), received ...\"X\\n\" (4 bytes)\n",
    );
}

#[test]
fn a_server_that_closes_early_on_a_later_line() {
    let (client, mut server, _) = client_against_fake_server(&[], b"a\nbb\nccc\n");
    server
        .write_all(b"a\nbb\ncc")
        .expect("sending 2 echoes and a half");
    drop(server);
    assert_failed(
        &client.finish(),
        &["echo: a", "echo: bb"],
        "error: the server closed the connection early: 2 of 4 bytes of the echo of line 3 \
         arrived (sent \"ccc\\n\" (4 bytes), received \"cc\" (2 bytes))\n\
         hint: the server closed before echoing everything we sent; its log says how many \
         bytes it echoed, and why it stopped\n",
    );
}

#[test]
fn a_server_that_stops_echoing_mid_line_makes_the_client_time_out() {
    let (client, mut server, _) =
        client_against_fake_server(&["--timeout", "2"], b"first\nsecond\n");
    server
        .write_all(b"first\nse")
        .expect("sending an echo and a half");
    // `server` stays open, silent, until the client has given up.
    let finished = client.finish();
    drop(server);
    assert_failed(
        &finished,
        &["echo: first"],
        "error: waiting for the echo of line 2 (2 of 7 bytes received): nothing arrived for 2s\n\
         hint: the server serves one client at a time: is it busy with another?\n",
    );
}

#[test]
fn an_answer_instead_of_the_echo_is_shown_whole() {
    // A server that answers with a line of its own, as lesson 05's does when
    // it is full (`ERR server busy`), longer than the line we sent. The
    // client reads on to the end of that line, so the student sees all of
    // it, not its first 6 bytes; it does not wait for the server to close.
    let (client, mut server, _) = client_against_fake_server(&["--message", "hello"], b"");
    server
        .write_all(b"ERR server busy\n")
        .expect("sending an answer");
    // The connection stays open: the "\n" ends the answer.
    let finished = client.finish_within(Duration::from_secs(5));
    drop(server);
    assert_failed(
        &finished,
        &[],
        "error: the echo of line 1 differs from what was sent, from byte 0 on: \
         sent \"hello\\n\" (6 bytes), received \"ERR server busy\\n\" (16 bytes)\n",
    );
}

#[test]
fn a_long_line_that_goes_wrong_in_a_later_piece_names_the_byte_in_the_line() {
    // 100 000 bytes: the client sends and checks it in pieces of 64 KiB.
    // The echo is wrong at byte 70 000 of the line, in the second piece.
    let line = vec![b'a'; 100_000];
    let mut input = line.clone();
    input.push(b'\n');
    let (client, mut server, received) = client_against_fake_server(&[], &input);
    assert!(
        received == input,
        "the client sent {}, expected 100 000 bytes and a \"\\n\"",
        escaped(&received)
    );
    let mut echo = input.clone();
    echo[70_000] = b'b';
    server.write_all(&echo).expect("sending a wrong echo");
    drop(server);
    let finished = client.finish();
    // The first piece came back right and was printed; the line is ended
    // where it stopped.
    let first_piece = format!("echo: {}", "a".repeat(64 * 1024));
    assert_failed(
        &finished,
        &[first_piece.as_str()],
        "error: the echo of line 1 differs from what was sent, from byte 70000 on: \
         sent ...\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"... (34465 bytes), \
         received ...\"baaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"... (34465 bytes)\n",
    );
}

#[test]
fn an_answer_to_an_empty_line_is_shown_whole() {
    // An empty line is one byte, "\n"; the answer is still shown whole.
    let (client, mut server, _) = client_against_fake_server(&["--message", ""], b"");
    server
        .write_all(b"ERR server busy\n")
        .expect("sending an answer");
    drop(server);
    assert_failed(
        &client.finish(),
        &[],
        "error: the echo of line 1 differs from what was sent, from byte 0 on: \
         sent \"\\n\" (1 bytes), received \"ERR server busy\\n\" (16 bytes)\n",
    );
}

#[test]
fn a_server_that_resets_instead_of_echoing() {
    let (client, server, _) = client_against_fake_server(&["--message", "hi"], b"");
    reset_on_close(&server);
    drop(server);
    assert_failed(
        &client.finish(),
        &[],
        "error: waiting for the echo of line 1 (0 of 3 bytes received): Connection reset by \
         peer (os error 104)\n",
    );
}

#[test]
fn a_server_that_resets_after_the_last_echo() {
    let (client, mut server, received) = client_against_fake_server(&["--message", "hi"], b"");
    server.write_all(&received).expect("sending the echo");
    reset_on_close(&server);
    drop(server);
    assert_failed(
        &client.finish(),
        &["echo: hi"],
        "error: waiting for the server to close after the last echo: Connection reset by peer \
         (os error 104)\n",
    );
}

#[test]
fn a_client_stopped_and_continued_keeps_waiting_for_its_echo() {
    // Ctrl-Z and `fg` while the client waits for an echo: its read, which
    // has a time-out, fails with "Interrupted", and it must read again.
    let (client, mut server, received) = client_against_fake_server(&["--message", "hi"], b"");
    stop_and_continue(&client);
    server.write_all(&received).expect("sending the echo");
    drop(server);
    let finished = client.finish();
    assert!(
        finished.status.success() && finished.stdout == ["echo: hi"],
        "after Ctrl-Z and fg the client should still get its echo and exit 0\n\
         hint: does it read again after an Interrupted error?\n{}",
        finished.describe()
    );
}

#[test]
fn a_client_stopped_and_continued_keeps_waiting_for_the_close() {
    // The same, while the client waits for the server to close after the
    // last echo.
    let (mut client, mut server, received) = client_against_fake_server(&["--message", "hi"], b"");
    server.write_all(&received).expect("sending the echo");
    assert_eq!(client.next_line(), "echo: hi");
    stop_and_continue(&client);
    drop(server);
    let finished = client.finish();
    assert!(
        finished.status.success() && finished.stdout == ["echo: hi"],
        "after Ctrl-Z and fg the client should still see the close and exit 0\n\
         hint: does it read again after an Interrupted error?\n{}",
        finished.describe()
    );
}

#[test]
fn a_server_that_sends_more_than_it_was_sent() {
    let (client, mut server, mut received) = client_against_fake_server(&["--message", "hi"], b"");
    received.extend_from_slice(b"surprise\n");
    server
        .write_all(&received)
        .expect("sending the echo and more");
    drop(server);
    assert_failed(
        &client.finish(),
        &["echo: hi"],
        "error: the server sent more than it was sent: \"surprise\\n\" (9 bytes) after the last \
         echo\n",
    );
}

#[test]
fn a_server_that_never_closes_makes_the_client_time_out() {
    // It echoes, but then keeps the connection open although our write half
    // is shut down. The client waits at most --timeout for the close; 3 s is
    // long enough for the echo even on a busy machine.
    let (client, mut server, received) =
        client_against_fake_server(&["--message", "hi", "--timeout", "3"], b"");
    server.write_all(&received).expect("sending the echo");
    // `server` stays open until the client has given up.
    let finished = client.finish();
    drop(server);
    assert_failed(
        &finished,
        &["echo: hi"],
        "error: waiting for the server to close after the last echo: nothing arrived for 3s\n\
         hint: an echo server closes when it reads end of stream: was our write half shut \
         down?\n",
    );
}

#[test]
fn unreadable_input_is_reported_as_such() {
    // Standard input is a directory: reading it fails. The client must say
    // so, not wait for the server and blame it.
    let (_server, addr) = start_server(&[]);
    let folder = tempfile::tempdir().expect("making a scratch folder");
    let stdin = std::fs::File::open(folder.path()).expect("opening the folder");
    let mut command = Command::new(BIN);
    command.args(["client", "--port", &addr.port().to_string()]);
    let finished = spawn_command(command, Stdio::from(stdin)).finish();
    assert!(
        finished.status.code() == Some(1)
            && finished
                .stderr
                .starts_with("error: cannot read the input: "),
        "expected exit status 1 and an error about the input\n{}",
        finished.describe()
    );
}

#[test]
fn nothing_listening_gives_a_hint_with_the_command() {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let finished = run_client(addr, &[], b"hello\n");
    let error = format!("error: cannot connect to 127.0.0.1:{port}: Connection refused");
    let hint = format!(
        "\nhint: start the server first: cargo run -p lesson-03-echo-loop -- server --port {port}\n"
    );
    assert!(
        finished.status.code() == Some(1)
            && finished.stderr.starts_with(&error)
            && finished.stderr.ends_with(&hint),
        "expected exit status 1, stderr starting {error:?} and ending {hint:?}\n{}",
        finished.describe()
    );
}

#[test]
fn nothing_listening_on_another_host_gives_the_command_with_that_host() {
    let port = free_port().to_string();
    let finished = run(&["client", "--host", "localhost", "--port", &port]);
    let hint = format!(
        "\nhint: start the server first: cargo run -p lesson-03-echo-loop -- server --host \
         localhost --port {port}\n"
    );
    assert!(
        finished.status.code() == Some(1)
            && finished
                .stderr
                .starts_with(&format!("error: cannot connect to localhost:{port}: "))
            && finished.stderr.ends_with(&hint),
        "expected exit status 1 and stderr ending {hint:?}\n{}",
        finished.describe()
    );
}

#[test]
fn a_port_in_use_gives_a_hint() {
    // Keep a listener bound, and start the server on its port.
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding a listener");
    let port = taken
        .local_addr()
        .expect("reading its address")
        .port()
        .to_string();
    let finished = run(&["server", "--port", &port]);
    let error = format!("error: cannot listen on 127.0.0.1:{port}: ");
    let hint = "\nhint: another server is still running on that port; stop it, or choose another \
                with --port\n";
    // No `listening on` line when binding failed.
    assert!(
        finished.status.code() == Some(1)
            && finished.stdout.is_empty()
            && finished.stderr.starts_with(&error)
            && finished.stderr.ends_with(hint),
        "expected exit status 1, nothing on stdout, stderr starting {error:?} and ending \
         {hint:?}\n{}",
        finished.describe()
    );
}

#[test]
fn help_names_every_flag() {
    for (subcommand, flags) in [
        (
            "server",
            &["--host", "--port", "--timeout", "--max-clients"][..],
        ),
        (
            "client",
            &["--host", "--port", "--timeout", "--message"][..],
        ),
    ] {
        let finished = run(&[subcommand, "--help"]);
        assert!(finished.status.success(), "{}", finished.describe());
        let help = finished.stdout.join("\n");
        for flag in flags {
            assert!(
                help.contains(flag),
                "`{subcommand} --help` does not mention {flag}:\n{help}"
            );
        }
    }
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["server", "--timeout", "0"][..],
        &["client", "--port", "70000"],
        &["dance"],
    ] {
        let finished = run(args);
        assert_eq!(
            finished.status.code(),
            Some(2),
            "{args:?} should be a usage error\n{}",
            finished.describe()
        );
    }
}

#[test]
fn the_server_keeps_serving_after_a_client_fails_its_check() {
    // A client that gives up half way (here: its own 1 s time-out while the
    // server is busy) leaves the server fine for the next one.
    let (_server, addr) = start_server(&[]);
    let mut first = connect(addr);
    echo_round_trip(&mut first, b"I hold the server\n", "the server");
    let finished = run_client(addr, &["--message", "hi", "--timeout", "1"], b"");
    assert_failed(
        &finished,
        &[],
        "error: waiting for the echo of line 1 (0 of 3 bytes received): nothing arrived for 1s\n\
         hint: the server serves one client at a time: is it busy with another?\n",
    );
    drop(first);
    let mut next = connect(addr);
    echo_round_trip(&mut next, b"served\n", "the server");
}
