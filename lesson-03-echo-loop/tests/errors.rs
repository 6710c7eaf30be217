//! What goes wrong, and what the student reads: the client against servers
//! that misbehave (played by the test), nothing listening, a port in use,
//! and bad usage.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use common::{BIN, Server, WAIT, free_port, run_client, stderr_of, stdout_of};

/// A one-connection server played by the test: accepts one client, reads
/// until the client shuts down its write half, and hands the connection and
/// what it read to `reply`.
fn fake_server(
    reply: impl FnOnce(TcpStream, Vec<u8>) + Send + 'static,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fake server");
    let addr = listener.local_addr().expect("reading its address");
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accepting the client");
        stream
            .set_read_timeout(Some(WAIT))
            .expect("setting a read time-out");
        stream
            .set_write_timeout(Some(WAIT))
            .expect("setting a write time-out");
        let mut received = Vec::new();
        if let Err(err) = stream.read_to_end(&mut received) {
            panic!(
                "the test's server never saw end of stream: {err} (received {} so far)\n\
                 hint: does the client shut down its write half after the last line?",
                common::escaped(&received)
            );
        }
        reply(stream, received);
    });
    (addr, handle)
}

#[test]
fn the_client_sends_each_line_with_its_newline_then_shuts_down() {
    // The test plays the server and looks at the exact bytes on the wire.
    // Reaching read_to_end's 0 at all proves the client shut down its
    // write half; the bytes prove every line ended in "\n" (a client that
    // left the "\n" out would still see matching echoes from a real echo
    // server, so only the wire can tell).
    let (sent, wire) = mpsc::channel();
    let (addr, fake) = fake_server(move |mut stream, received| {
        stream.write_all(&received).expect("echoing");
        sent.send(received).expect("handing over what was received");
    });
    let output = run_client(addr, b"one\n\ntwo\nthree", &[]);
    fake.join().expect("the fake server panicked");
    let received = wire.recv_timeout(WAIT).expect("the fake server's bytes");
    assert!(
        received == b"one\n\ntwo\nthree\n",
        "on the wire: {}, expected \"one\\n\\ntwo\\nthree\\n\"\n\
         hint: does each line go out with its \"\\n\"? (the last one too)",
        common::escaped(&received)
    );
    assert!(output.status.success(), "stderr: {}", stderr_of(&output));
    assert_eq!(
        stdout_of(&output),
        "echo: one\necho: \necho: two\necho: three\n"
    );
}

#[test]
fn a_server_that_closes_early() {
    // It reads the whole line but sends back only 3 of its 6 bytes, then
    // closes: the client must notice the missing bytes, not wait or succeed.
    let (addr, fake) = fake_server(|mut stream, received| {
        assert!(
            received == b"hello\n",
            "the test's server received {}, expected \"hello\\n\"",
            common::escaped(&received)
        );
        stream.write_all(b"hel").expect("sending half an echo");
    });
    let output = run_client(addr, b"", &["--message", "hello"]);
    fake.join().expect("the fake server panicked");
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr: {}",
        stderr_of(&output)
    );
    assert_eq!(
        stderr_of(&output),
        "error: the server closed the connection early: 3 of 6 bytes of the echo of line 1 \
         arrived (sent \"hello\\n\" (6 bytes), received \"hel\" (3 bytes))\n"
    );
    assert_eq!(
        stdout_of(&output),
        "",
        "no complete echo, so nothing printed"
    );
}

#[test]
fn an_echo_that_differs() {
    let (addr, fake) = fake_server(|mut stream, received| {
        stream
            .write_all(&received.to_ascii_uppercase())
            .expect("sending a wrong echo");
    });
    let output = run_client(addr, b"same\nDIFFERENT\n", &[]);
    fake.join().expect("the fake server panicked");
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr: {}",
        stderr_of(&output)
    );
    assert_eq!(
        stderr_of(&output),
        "error: the echo of line 1 differs from what was sent, from byte 0 on: \
         sent \"same\\n\" (5 bytes), received \"SAME\\n\" (5 bytes)\n"
    );
}

#[test]
fn a_server_that_sends_more_than_it_was_sent() {
    let (addr, fake) = fake_server(|mut stream, mut received| {
        received.extend_from_slice(b"surprise\n");
        stream
            .write_all(&received)
            .expect("sending the echo and more");
    });
    let output = run_client(addr, b"", &["--message", "hi"]);
    fake.join().expect("the fake server panicked");
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr: {}",
        stderr_of(&output)
    );
    assert_eq!(stdout_of(&output), "echo: hi\n");
    assert_eq!(
        stderr_of(&output),
        "error: the server sent more than it was sent: \"surprise\\n\" (9 bytes) after the last echo\n"
    );
}

#[test]
fn a_server_that_never_closes_makes_the_client_time_out() {
    // It echoes, but then keeps the connection open although our write half
    // is shut down. The client waits at most --timeout for the close.
    let (release, hold) = mpsc::channel::<()>();
    let (addr, fake) = fake_server(move |mut stream, received| {
        stream.write_all(&received).expect("sending the echo");
        // Hold the connection open until the test is done with the client.
        let _ = hold.recv_timeout(WAIT * 3);
    });
    // 3 s: long enough for the echo even on a busy machine, then the close
    // that never comes.
    let output = run_client(addr, b"", &["--message", "hi", "--timeout", "3"]);
    release.send(()).expect("releasing the fake server");
    fake.join().expect("the fake server panicked");
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr: {}",
        stderr_of(&output)
    );
    assert_eq!(stdout_of(&output), "echo: hi\n");
    assert_eq!(
        stderr_of(&output),
        "error: waiting for the server to close after the last echo: nothing arrived for 3s \
         (an echo server closes when it reads end of stream: was our write half shut down?)\n"
    );
}

#[test]
fn unreadable_input_is_reported_as_such() {
    // Standard input is a directory: reading it fails. The client must say
    // so, not wait for the server and blame it.
    let server = Server::start(&[]);
    let folder = tempfile::tempdir().expect("making a scratch folder");
    let stdin = std::fs::File::open(folder.path()).expect("opening the folder");
    let port = server.addr.port().to_string();
    // Bounded by the client's own --timeout.
    let output = std::process::Command::new(BIN)
        .args(["client", "--timeout", "5", "--port", &port])
        .stdin(stdin)
        .output()
        .expect("running the client");
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.starts_with("error: cannot read the input: "),
        "unexpected stderr: {stderr}"
    );
}

#[test]
fn nothing_listening_gives_a_hint_with_the_command() {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let output = run_client(addr, b"hello\n", &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot connect to 127.0.0.1:{port}: Connection refused"
        )),
        "unexpected stderr: {stderr}"
    );
    assert!(
        stderr.ends_with(&format!(
            "\nhint: start the server first: cargo run -p lesson-03-echo-loop -- server --port {port}\n"
        )),
        "unexpected stderr: {stderr}"
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
    let output = assert_cmd::Command::new(BIN)
        .args(["server", "--port", &port])
        .timeout(WAIT)
        .output()
        .expect("running the server");
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "unexpected stderr: {stderr}"
    );
    assert!(
        stderr.ends_with(
            "\nhint: another server is still running on that port; stop it, or choose another with --port\n"
        ),
        "unexpected stderr: {stderr}"
    );
    assert_eq!(
        stdout_of(&output),
        "",
        "no `listening on` line when binding failed"
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
        let output = assert_cmd::Command::new(BIN)
            .args([subcommand, "--help"])
            .timeout(WAIT)
            .output()
            .expect("running --help");
        assert!(output.status.success());
        let help = stdout_of(&output);
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
        let output = assert_cmd::Command::new(BIN)
            .args(args)
            .timeout(WAIT)
            .output()
            .expect("running with bad arguments");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?} should be a usage error"
        );
    }
}

#[test]
fn the_server_keeps_serving_after_a_client_fails_its_check() {
    // A client that gives up half way (here: its own 1 s time-out while the
    // server is busy) leaves the server fine for the next one.
    let server = Server::start(&[]);
    let mut first = common::connect(server.addr);
    common::exchange(&mut first, b"I hold the server\n");
    let output = run_client(server.addr, b"", &["--message", "hi", "--timeout", "1"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        "error: waiting for the echo of line 1 (0 of 3 bytes received): nothing arrived for 1s \
         (is the server busy with another client? it serves one at a time)\n"
    );
    drop(first);
    let mut next = common::connect(server.addr);
    common::exchange(&mut next, b"served\n");
}
