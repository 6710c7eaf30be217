//! The matrix: every client against every server, one test per pair; then
//! each peer against a misbehaving partner played by the test itself.
//!
//! One test file, so the Java and Go peers are compiled once per test run.
//!
//! Named `<server>_server_with_<client>_client`, so
//! `cargo test -p lesson-06-polyglot-test go_server` runs the Go server's
//! row and `cargo test -p lesson-06-polyglot-test with_java_client` the Java
//! client's column. Each pair exchanges [`sample_lines`], checks the
//! client's output line by line and its exit status.
//!
//! [`sample_lines`]: lesson_06_polyglot_test::sample_lines

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;

use common::lesson::{available, check_pair, peers};
use common::{accept, connect, fake_server, send};
use lesson_06_polyglot_test::Language::{self, Go, Java, Python, Rust};
use lesson_06_polyglot_test::process::{ServerProcess, run_to_end};
use lesson_06_polyglot_test::{CLIENT_LIMIT, SERVER_START_LIMIT};

#[test]
fn rust_server_with_rust_client() {
    check_pair(Rust, Rust);
}

#[test]
fn rust_server_with_python_client() {
    check_pair(Rust, Python);
}

#[test]
fn rust_server_with_java_client() {
    check_pair(Rust, Java);
}

#[test]
fn rust_server_with_go_client() {
    check_pair(Rust, Go);
}

#[test]
fn python_server_with_rust_client() {
    check_pair(Python, Rust);
}

#[test]
fn python_server_with_python_client() {
    check_pair(Python, Python);
}

#[test]
fn python_server_with_java_client() {
    check_pair(Python, Java);
}

#[test]
fn python_server_with_go_client() {
    check_pair(Python, Go);
}

#[test]
fn java_server_with_rust_client() {
    check_pair(Java, Rust);
}

#[test]
fn java_server_with_python_client() {
    check_pair(Java, Python);
}

#[test]
fn java_server_with_java_client() {
    check_pair(Java, Java);
}

#[test]
fn java_server_with_go_client() {
    check_pair(Java, Go);
}

#[test]
fn go_server_with_rust_client() {
    check_pair(Go, Rust);
}

#[test]
fn go_server_with_python_client() {
    check_pair(Go, Python);
}

#[test]
fn go_server_with_java_client() {
    check_pair(Go, Java);
}

#[test]
fn go_server_with_go_client() {
    check_pair(Go, Go);
}

// Each server against clients that misbehave. Named `<language>_peer_...`,
// not `..._server`, so that `cargo test go_server` runs only the matrix row.

/// Starts `language`'s server, connects and leaves at once, then sends bytes
/// without a newline and shuts down the write half: the server must still be
/// serving, echo exactly those bytes, and close.
fn check_server_edges(language: Language) {
    if !available(language) {
        return;
    }
    let mut command = peers()
        .server_command(language)
        .expect("the server command");
    let server =
        ServerProcess::start(&mut command, SERVER_START_LIMIT).expect("starting the server");

    // A client that connects and leaves at once must not upset the server.
    drop(connect(server.address));

    let sent = "no newline at the end: é€🦀".as_bytes();
    let mut stream = connect(server.address);
    send(&mut stream, sent, "the server");
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    let mut received = Vec::new();
    let result = stream.read_to_end(&mut received);
    let output = server.stop();
    assert!(
        result.is_ok() && received == sent,
        "the {language} server should echo bytes without a newline and then close\n  \
         sent     {:?}\n  received {:?} ({result:?})\n  server log: {:?}\n  server stderr: {:?}\n  \
         hint: a server that waits for a newline, or does not close at end of stream, fails here",
        String::from_utf8_lossy(sent),
        String::from_utf8_lossy(&received),
        output.stdout_lines,
        String::from_utf8_lossy(&output.stderr),
    );
}

#[test]
fn rust_peer_serves_after_a_client_left_and_echoes_bytes_without_newline() {
    check_server_edges(Rust);
}

#[test]
fn python_peer_serves_after_a_client_left_and_echoes_bytes_without_newline() {
    check_server_edges(Python);
}

#[test]
fn java_peer_serves_after_a_client_left_and_echoes_bytes_without_newline() {
    check_server_edges(Java);
}

#[test]
fn go_peer_serves_after_a_client_left_and_echoes_bytes_without_newline() {
    check_server_edges(Go);
}

// Each client against a server that misbehaves.

/// How the fake server answers the first line it reads.
#[derive(Clone, Copy)]
enum BadServer {
    /// Closes the connection without echoing anything.
    ClosesEarly,
    /// Echoes the line in upper case.
    ChangesTheEcho,
}

/// Runs `language`'s client with the one line `hello` against a fake server
/// that misbehaves as told: the client must exit with status 1 and say, on
/// stderr, what it expected (`expect_in_error`).
fn check_client_catches(language: Language, bad: BadServer, expect_in_error: &str) {
    if !available(language) {
        return;
    }
    let (listener, addr) = fake_server();
    let port = addr.port();
    // If the client never connects, `accept` gives up after its time-out
    // (a panic on this thread only); the client's own time limit fails the test.
    thread::spawn(move || {
        let mut stream = accept(&listener);
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.last() != Some(&b'\n') && stream.read(&mut byte)? == 1 {
            line.push(byte[0]);
        }
        if let BadServer::ChangesTheEcho = bad {
            stream.write_all(&line.to_ascii_uppercase())?;
            // Wait for the client to hang up, so it surely reads our reply.
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest)?;
        }
        Ok::<(), std::io::Error>(())
    });

    let mut command = peers()
        .client_command(language, port)
        .expect("the client command");
    let finished =
        run_to_end(&mut command, b"hello\n".to_vec(), CLIENT_LIMIT).expect("running the client");
    let stderr = String::from_utf8_lossy(&finished.stderr);
    assert!(
        finished
            .status
            .is_some_and(|status| status.code() == Some(1))
            && stderr.contains(expect_in_error),
        "the {language} client should exit 1 and its error mention {expect_in_error:?}\n  \
         status: {:?}\n  stdout: {:?}\n  stderr: {stderr:?}",
        finished.status,
        String::from_utf8_lossy(&finished.stdout),
    );
}

#[test]
fn rust_client_reports_a_server_that_closes_early() {
    check_client_catches(Rust, BadServer::ClosesEarly, "hello");
}

#[test]
fn python_client_reports_a_server_that_closes_early() {
    check_client_catches(Python, BadServer::ClosesEarly, "hello");
}

#[test]
fn java_client_reports_a_server_that_closes_early() {
    check_client_catches(Java, BadServer::ClosesEarly, "hello");
}

#[test]
fn go_client_reports_a_server_that_closes_early() {
    check_client_catches(Go, BadServer::ClosesEarly, "hello");
}

#[test]
fn rust_client_reports_a_wrong_echo() {
    check_client_catches(Rust, BadServer::ChangesTheEcho, "HELLO");
}

#[test]
fn python_client_reports_a_wrong_echo() {
    check_client_catches(Python, BadServer::ChangesTheEcho, "HELLO");
}

#[test]
fn java_client_reports_a_wrong_echo() {
    check_client_catches(Java, BadServer::ChangesTheEcho, "HELLO");
}

#[test]
fn go_client_reports_a_wrong_echo() {
    check_client_catches(Go, BadServer::ChangesTheEcho, "HELLO");
}
