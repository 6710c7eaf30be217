//! Files sent by the real client arrive byte for byte, with the exact lines
//! the client and the server print.

mod common;

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use common::{BIN, Scratch, Server, WAIT, first_difference, random_bytes, snapshot, upload};

/// Runs `client FILE` (plus `extra`) against `server` and returns its stdout.
fn send(server: &Server, file: &Path, extra: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(["client", "--port", &server.addr.port().to_string()])
        .arg(file)
        .args(extra)
        .timeout(WAIT)
        .output()
        .expect("running the client");
    assert!(
        output.status.success(),
        "the client failed ({}); stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the client's stdout is UTF-8")
}

/// Sends `content` as `name` and checks both sides' lines and the saved bytes.
fn round_trip(name: &str, content: &[u8]) {
    let scratch = Scratch::new();
    let source = scratch.root.path().join(name);
    fs::write(&source, content).expect("writing the file to send");
    let mut server = Server::start(&scratch.dir, &[]);

    let stdout = send(&server, &source, &[]);
    let expected_start = format!("sent {name}: {} bytes in ", content.len());
    assert!(
        stdout.starts_with(&expected_start) && stdout.ends_with(" MB/s)\n"),
        "the client should print {expected_start:?}...\" MB/s)\\n\", printed {stdout:?}"
    );
    assert_eq!(stdout.lines().count(), 1, "the client printed {stdout:?}");
    let connected = server.next_line();
    assert!(
        connected.starts_with("client 127.0.0.1:") && connected.ends_with(" connected"),
        "the server should log \"client ADDR connected\", logged {connected:?}"
    );
    let received = server.line_starting_with("received");
    let expected_start = format!("received {name}: {} bytes in ", content.len());
    assert!(
        received.starts_with(&expected_start) && received.ends_with(" MB/s)"),
        "the server should log {expected_start:?}...\" MB/s)\", logged {received:?}"
    );

    let saved = fs::read(scratch.dir.join(name)).expect("reading the saved file");
    assert!(
        saved == content,
        "the saved file differs from the one sent: {} bytes sent, {} saved, first difference at byte {:?}",
        content.len(),
        saved.len(),
        first_difference(&saved, content)
    );
    let listing = snapshot(&scratch.dir);
    assert_eq!(
        listing.len(),
        1,
        "only {name} should be in --dir (no temporary file left), found {:?}",
        common::names(&listing)
    );
}

#[test]
fn a_small_file_arrives_intact() {
    round_trip("hello.txt", b"hello, file transfer\n");
}

#[test]
fn an_empty_file_arrives_intact() {
    round_trip("empty.txt", b"");
}

#[test]
fn a_multi_megabyte_random_file_arrives_intact() {
    // 5 MiB and 3 bytes: several body buffers and an odd tail.
    round_trip("random.bin", &random_bytes(4, 5 * 1024 * 1024 + 3));
}

#[test]
fn a_name_with_spaces_and_unicode_is_kept() {
    round_trip("my notes – été.txt", b"the name is the rest of the line\n");
}

#[test]
fn name_chooses_the_saved_name() {
    let scratch = Scratch::new();
    let source = scratch.root.path().join("local.txt");
    fs::write(&source, b"renamed on the way\n").expect("writing the file to send");
    let mut server = Server::start(&scratch.dir, &[]);
    let stdout = send(&server, &source, &["--name", "remote.txt"]);
    assert!(
        stdout.starts_with("sent remote.txt: 19 bytes in "),
        "printed {stdout:?}"
    );
    server.line_starting_with("received remote.txt: 19 bytes in ");
    assert_eq!(
        common::names(&snapshot(&scratch.dir)),
        ["remote.txt"],
        "only the --name should be saved"
    );
}

#[test]
fn a_name_of_255_bytes_is_accepted() {
    let scratch = Scratch::new();
    let mut server = Server::start(&scratch.dir, &[]);
    let name = "n".repeat(255);
    assert_eq!(upload(server.addr, &name, b"long name\n"), "OK 10\n");
    server.line_starting_with("received ");
    assert_eq!(
        fs::read(scratch.dir.join(&name)).expect("reading the saved file"),
        b"long name\n"
    );
}

#[test]
fn the_server_serves_clients_one_after_another_and_stops_after_max_clients() {
    let scratch = Scratch::new();
    let mut server = Server::start(&scratch.dir, &["--max-clients", "2"]);
    assert_eq!(upload(server.addr, "one.txt", b"1"), "OK 1\n");
    assert_eq!(upload(server.addr, "two.txt", b"22"), "OK 2\n");
    assert!(
        server.wait_exit(),
        "the server should exit with success after --max-clients 2"
    );
    assert_eq!(
        common::names(&snapshot(&scratch.dir)),
        ["one.txt", "two.txt"]
    );
}
