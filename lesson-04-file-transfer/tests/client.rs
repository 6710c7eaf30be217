//! The client's errors: checked before connecting when they can be, the
//! server's refusal reported word for word, and a lost confirmation is a
//! failure, never a success.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread;

use assert_cmd::Command;
use common::{BIN, Scratch, Server, WAIT, snapshot};

/// Runs `client ARGS... --port PORT` and returns (exit code, stdout, stderr).
fn client(port: u16, args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let output = Command::new(BIN)
        .arg("client")
        .args(args)
        .args(["--port", &port.to_string()])
        .timeout(WAIT)
        .output()
        .expect("running the client");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn os(path: &Path) -> &std::ffi::OsStr {
    path.as_os_str()
}

/// Holds a listener and asserts, at the end, that nobody connected to it.
fn assert_error_before_connecting(file: &Path, expected_stderr: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a listener");
    let port = listener.local_addr().expect("reading the port").port();
    let (code, stdout, stderr) = client(port, &[os(file)]);
    assert_eq!(code, Some(1), "exit status; stderr: {stderr}");
    assert_eq!(stderr, expected_stderr);
    assert!(stdout.is_empty(), "nothing on stdout, got {stdout:?}");
    listener
        .set_nonblocking(true)
        .expect("making the listener non-blocking");
    // The client has exited, so any connection it made is already queued.
    match listener.accept() {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, addr)) => panic!("the client connected (from {addr}) although the file was bad"),
        Err(err) => panic!("checking for a connection: {err}"),
    }
}

#[test]
fn a_missing_file_is_an_error_before_connecting() {
    let scratch = Scratch::new();
    let missing = scratch.root.path().join("missing.txt");
    assert_error_before_connecting(
        &missing,
        &format!(
            "error: cannot open {}: No such file or directory (os error 2)\n",
            missing.display()
        ),
    );
}

#[test]
fn a_folder_is_an_error_before_connecting() {
    let scratch = Scratch::new();
    assert_error_before_connecting(
        &scratch.dir,
        &format!("error: {} is not a regular file\n", scratch.dir.display()),
    );
}

#[test]
fn a_bad_name_is_an_error_before_connecting() {
    let scratch = Scratch::new();
    let file = scratch.root.path().join("ok.txt");
    fs::write(&file, b"x").expect("writing ok.txt");
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a listener");
    let port = listener.local_addr().expect("reading the port").port();
    let (code, _, stderr) = client(port, &[os(&file), "--name".as_ref(), "../up.txt".as_ref()]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: cannot send as \"../up.txt\": the name must not contain '/'; choose another with --name\n"
    );
}

#[test]
fn no_server_running_is_reported_with_the_command_to_start_one() {
    let scratch = Scratch::new();
    let file = scratch.root.path().join("a.txt");
    fs::write(&file, b"a").expect("writing a.txt");
    // A port that nothing listens on: bind, note it, release it.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("finding a free port")
        .port();
    let (code, _, stderr) = client(port, &[os(&file)]);
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: cannot connect to 127.0.0.1:{port}: Connection refused (os error 111)\n\
             hint: start the server first: cargo run -p lesson-04-file-transfer -- server --port {port}\n"
        )
    );
}

#[test]
fn a_refusal_is_reported_word_for_word() {
    let scratch = Scratch::new();
    fs::write(scratch.dir.join("a.txt"), b"original\n").expect("writing a.txt");
    let file = scratch.root.path().join("a.txt");
    fs::write(&file, b"replacement\n").expect("writing the file to send");
    let mut server = Server::start(&scratch.dir, &["--max-size", "100"]);
    let before = snapshot(&scratch.dir);

    let (code, stdout, stderr) = client(server.addr.port(), &[os(&file)]);
    assert_eq!(code, Some(1), "stdout: {stdout}");
    assert_eq!(
        stderr,
        "error: server refused a.txt: exists a.txt already exists\n\
         hint: choose another name with --name, or start the server with --overwrite\n"
    );
    assert!(
        stdout.is_empty(),
        "no `sent` line on a refusal, got {stdout:?}"
    );
    server.line_starting_with("refused a.txt: exists ");

    let big = scratch.root.path().join("big.bin");
    fs::write(&big, [0u8; 101]).expect("writing big.bin");
    let (code, _, stderr) = client(server.addr.port(), &[os(&big)]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: server refused big.bin: too-large 101 bytes is more than the limit of 100 bytes\n\
         hint: the server's --max-size is lower than this file\n"
    );
    server.line_starting_with("refused big.bin: too-large ");
    assert!(snapshot(&scratch.dir) == before, "a refusal changed --dir");
}

/// A fake server: reads the header, says READY, reads the body to its end,
/// then answers `final_reply` (or nothing) and closes.
fn fake_server(final_reply: &'static [u8]) -> (u16, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fake server");
    let port = listener.local_addr().expect("reading the port").port();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accepting the client");
        stream.set_read_timeout(Some(WAIT)).expect("read time-out");
        let mut reader = BufReader::new(&stream);
        let mut header = Vec::new();
        reader
            .read_until(b'\n', &mut header)
            .expect("reading the header");
        (&stream).write_all(b"READY\n").expect("sending READY");
        let mut body = Vec::new();
        reader.read_to_end(&mut body).expect("reading the body");
        (&stream)
            .write_all(final_reply)
            .expect("sending the final reply");
        header
    });
    (port, handle)
}

#[test]
fn a_connection_lost_before_ok_is_a_failure() {
    let scratch = Scratch::new();
    let file = scratch.root.path().join("a.txt");
    fs::write(&file, b"abc").expect("writing a.txt");
    let (port, fake) = fake_server(b"");
    let (code, stdout, stderr) = client(port, &[os(&file)]);
    let header = fake.join().expect("the fake server panicked");
    assert_eq!(header, b"SEND 3 a.txt\n", "the client's header");
    assert_eq!(code, Some(1), "stdout: {stdout}");
    assert_eq!(
        stderr,
        "error: waiting for the server to confirm a.txt: the server closed the connection without an answer\n"
    );
    assert!(
        stdout.is_empty(),
        "no `sent` line without OK, got {stdout:?}"
    );
}

#[test]
fn an_ok_with_the_wrong_size_is_a_failure() {
    let scratch = Scratch::new();
    let file = scratch.root.path().join("a.txt");
    fs::write(&file, b"abc").expect("writing a.txt");
    let (port, fake) = fake_server(b"OK 2\n");
    let (code, _, stderr) = client(port, &[os(&file)]);
    fake.join().expect("the fake server panicked");
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: the server saved 2 bytes of a.txt, but 3 were sent\n"
    );
}
