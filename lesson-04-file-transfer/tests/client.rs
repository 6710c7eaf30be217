//! The client's errors: checked before connecting when they can be, the
//! server's refusal reported word for word, a lost confirmation is a
//! failure, never a success, and a file that changes while it is sent is
//! caught before the server can save it. Most tests play the server with a
//! plain listener (`fake_server` and `accept` from the toolkit, both bounded).

mod common;

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::TcpListener;

use common::lesson::{
    COPY_PATHS, Scratch, line_starting_with, random_bytes, snapshot, start_in, start_upload,
};
use common::{
    accept, escaped, fake_server, free_port, read_line, read_to_end_of_stream, reset_on_close, run,
    run_client, send, start_client,
};

/// Runs `client --port PORT ARGS...` to its end: (exit code, stdout, stderr).
fn client(port: u16, args: &[&str]) -> (Option<i32>, Vec<String>, String) {
    let port = port.to_string();
    let mut all = vec!["client", "--port", &port];
    all.extend_from_slice(args);
    let finished = run(&all);
    (finished.status.code(), finished.stdout, finished.stderr)
}

/// Asserts that nobody connected to `listener` (the client has exited, so
/// any connection it made is already queued).
fn assert_nobody_connected(listener: &TcpListener) {
    listener
        .set_nonblocking(true)
        .expect("making the listener non-blocking");
    match listener.accept() {
        Err(err) if err.kind() == ErrorKind::WouldBlock => {}
        Ok((_, addr)) => panic!("the client connected (from {addr}) although the file was bad"),
        Err(err) => panic!("checking for a connection: {err}"),
    }
}

/// Runs the client on `file` against a listener that must stay untouched,
/// and checks its exit status and its exact stderr.
fn assert_error_before_connecting(file: &str, expected_stderr: &str) {
    let (listener, addr) = fake_server();
    let (code, stdout, stderr) = client(addr.port(), &[file]);
    assert_eq!(code, Some(1), "exit status; stderr: {stderr}");
    assert_eq!(stderr, expected_stderr);
    assert!(stdout.is_empty(), "nothing on stdout, got {stdout:?}");
    assert_nobody_connected(&listener);
}

#[test]
fn a_missing_file_is_an_error_before_connecting() {
    let scratch = Scratch::new();
    let missing = scratch.root.path().join("missing.txt");
    let missing = missing.to_str().expect("UTF-8 path");
    assert_error_before_connecting(
        missing,
        &format!("error: cannot open {missing}: No such file or directory (os error 2)\n"),
    );
}

#[test]
fn a_folder_is_an_error_before_connecting() {
    let scratch = Scratch::new();
    let dir = scratch.dir.to_str().expect("UTF-8 path");
    assert_error_before_connecting(dir, &format!("error: {dir} is not a regular file\n"));
}

#[cfg(unix)]
#[test]
fn a_fifo_is_an_error_before_connecting() {
    // Opening a FIFO waits until something writes to it: a client that
    // opened first and checked afterwards would hang here, deaf to --timeout.
    let scratch = Scratch::new();
    let fifo = scratch.root.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("running mkfifo");
    assert!(status.success(), "mkfifo failed");
    let fifo = fifo.to_str().expect("UTF-8 path");
    assert_error_before_connecting(fifo, &format!("error: {fifo} is not a regular file\n"));
}

#[cfg(target_os = "linux")]
#[test]
fn a_proc_file_that_says_it_is_empty_is_an_error_before_connecting() {
    // /proc files say their size is 0 and still have content: sending "0
    // bytes" would be a false success.
    assert_error_before_connecting(
        "/proc/self/status",
        "error: /proc/self/status has content although its size is 0 bytes \
         (files in /proc and /sys say so); copy it to a regular file and send that\n",
    );
}

#[test]
fn a_bad_name_is_an_error_before_connecting() {
    let scratch = Scratch::new();
    let file = scratch.file("ok.txt", b"x");
    let (listener, addr) = fake_server();
    let (code, _, stderr) = client(addr.port(), &[&file, "--name", "../up.txt"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: cannot send as \"../up.txt\": the name must not contain '/'; choose another with --name\n"
    );
    assert_nobody_connected(&listener);
}

#[test]
fn no_server_running_is_reported_with_the_command_to_start_one() {
    let scratch = Scratch::new();
    let file = scratch.file("a.txt", b"a");
    let port = free_port();
    let (code, _, stderr) = client(port, &[&file]);
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
    let file = scratch.file("a.txt", b"replacement\n");
    let (mut server, addr) = start_in(&scratch.dir, &["--max-size", "100"]);
    let before = snapshot(&scratch.dir);

    let (code, stdout, stderr) = client(addr.port(), &[&file]);
    assert_eq!(code, Some(1), "stdout: {stdout:?}");
    assert_eq!(
        stderr,
        "error: server refused a.txt: exists a.txt already exists\n\
         hint: choose another name with --name, or start the server with --overwrite\n"
    );
    assert!(
        stdout.is_empty(),
        "no `sent` line on a refusal, got {stdout:?}"
    );
    line_starting_with(&mut server, "refused a.txt: exists ");

    let big = scratch.file("big.bin", &[0u8; 101]);
    let (code, _, stderr) = client(addr.port(), &[&big]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: server refused big.bin: too-large 101 bytes is more than the limit of 100 bytes\n\
         hint: the server's --max-size is lower than this file\n"
    );
    line_starting_with(&mut server, "refused big.bin: too-large ");
    assert!(snapshot(&scratch.dir) == before, "a refusal changed --dir");
}

/// Plays the server for one upload of `file`: takes the header, runs
/// `before_ready` (to change the file, say), says READY, reads the body to
/// the end, answers `final_reply` and closes. Returns the header, the body
/// and how the client finished.
fn fake_upload(
    file: &str,
    client_args: &[&str],
    before_ready: impl FnOnce(),
    final_reply: &[u8],
) -> (Vec<u8>, Vec<u8>, common::Finished) {
    let (listener, addr) = fake_server();
    let mut args = vec![file];
    args.extend_from_slice(client_args);
    let client = start_client(addr, &args, b"");
    let mut stream = accept(&listener);
    let header = read_line(&mut stream, "the client");
    before_ready();
    send(&mut stream, b"READY\n", "the client");
    let body = read_to_end_of_stream(&mut stream, "the client");
    // The client may have gone already; then there is no one to answer.
    let _ = stream.write_all(final_reply);
    drop(stream);
    (header, body, client.finish())
}

#[test]
fn a_connection_lost_before_ok_is_a_failure() {
    let scratch = Scratch::new();
    let file = scratch.file("a.txt", b"abc");
    let (header, body, finished) = fake_upload(&file, &[], || {}, b"");
    assert_eq!(header, b"SEND 3 a.txt\n", "the client's header");
    assert_eq!(body, b"abc", "the client's body");
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert_eq!(
        finished.stderr,
        "error: waiting for the server to confirm a.txt: the server closed the connection without an answer\n"
    );
    assert!(
        finished.stdout.is_empty(),
        "no `sent` line without OK, got {:?}",
        finished.stdout
    );
}

#[test]
fn an_ok_with_the_wrong_size_is_a_failure() {
    let scratch = Scratch::new();
    let file = scratch.file("a.txt", b"abc");
    let (_, _, finished) = fake_upload(&file, &[], || {}, b"OK 2\n");
    assert_eq!(finished.status.code(), Some(1));
    assert_eq!(
        finished.stderr,
        "error: the server saved 2 bytes of a.txt, but 3 were sent\n"
    );
}

/// 2.5 MiB: the client sends the first 1.5 MiB the chosen way (loop or
/// zero-copy), and keeps the last 1 MiB piece until it knows where the file
/// ends.
const CHANGING_SIZE: usize = 5 * 1024 * 1024 / 2;

#[test]
fn a_file_that_grows_while_it_is_sent_is_not_saved() {
    // The size in the header is read before the body is sent. If the file
    // grows meanwhile, the client must not send the announced size as if
    // all were well: it holds back the end of the body, so the server sees
    // a short body and saves nothing.
    for copy in COPY_PATHS {
        let scratch = Scratch::new();
        let content = random_bytes(7, CHANGING_SIZE);
        let file = scratch.file("log.bin", &content);
        let grow = || {
            let mut appending = OpenOptions::new()
                .append(true)
                .open(&file)
                .expect("opening the file to append");
            appending.write_all(b"more").expect("growing the file");
        };
        // The fake server answers as the real one does to a short body: the
        // client must report its own, better reason.
        let short = b"ERR short expected 2621440 bytes, got 1572864\n";
        let (header, body, finished) = fake_upload(&file, &["--copy", copy], grow, short);
        assert_eq!(header, format!("SEND {CHANGING_SIZE} log.bin\n").as_bytes());
        let held_back = 1024 * 1024;
        assert!(
            body.len() == CHANGING_SIZE - held_back && content.starts_with(&body),
            "--copy {copy}: the client must send the first {} bytes and hold back the last \
             {held_back}; it sent {}",
            CHANGING_SIZE - held_back,
            escaped(&body)
        );
        assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
        assert_eq!(
            finished.stderr,
            format!(
                "error: sending the body of log.bin: the file grew while it was sent \
                 (it had {CHANGING_SIZE} bytes when the upload started); the end of the body \
                 was held back, so the server saved nothing\n"
            ),
            "--copy {copy}"
        );
    }
}

#[test]
fn a_file_that_shrinks_while_it_is_sent_is_an_error() {
    // To 5 bytes (it ends inside the first part) and to 2 MiB (inside the
    // last piece, which the client reads into memory).
    for (copy, left) in [
        ("loop", 5),
        ("zero-copy", 5),
        ("loop", 2 << 20),
        ("zero-copy", 2 << 20),
    ] {
        let scratch = Scratch::new();
        let content = random_bytes(8, CHANGING_SIZE);
        let file = scratch.file("log.bin", &content);
        let shrink = || fs::write(&file, &content[..left]).expect("shrinking the file");
        let short = b"ERR short expected 2621440 bytes, got 5\n";
        let (_, body, finished) = fake_upload(&file, &["--copy", copy], shrink, short);
        assert!(
            body.len() <= left && content.starts_with(&body),
            "--copy {copy}: the file shrank to {left} bytes, yet the client sent {}",
            escaped(&body)
        );
        assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
        assert_eq!(
            finished.stderr,
            format!(
                "error: sending the body of log.bin: the file shrank from {CHANGING_SIZE} to \
                 {left} bytes while it was sent\n"
            ),
            "--copy {copy}, shrunk to {left} bytes"
        );
    }
}

#[test]
fn the_servers_own_reason_for_stopping_mid_body_is_reported() {
    // The server stops reading (its disk is full, say): it says why and
    // closes. The client's next write fails, and it reports the server's
    // reason rather than its own "connection reset".
    let scratch = Scratch::new();
    let file = scratch.file("big.bin", &vec![7u8; 32 * 1024 * 1024]);
    let (listener, addr) = fake_server();
    let client = start_client(addr, &[&file], b"");
    let mut stream = accept(&listener);
    read_line(&mut stream, "the client");
    send(&mut stream, b"READY\n", "the client");
    common::read_exactly(&mut stream, 1024 * 1024, "the client");
    send(
        &mut stream,
        b"ERR io writing the file: No space left on device (os error 28)\n",
        "the client",
    );
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutting down the write half");
    reset_on_close(&stream);
    drop(stream);
    let finished = client.finish();
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert_eq!(
        finished.stderr,
        "error: server refused big.bin: io writing the file: No space left on device (os error 28)\n"
    );
}

#[test]
fn a_server_that_closes_instead_of_ready_is_not_called_busy() {
    // Only silence means "busy with another upload"; a closed connection is
    // said as it is.
    let scratch = Scratch::new();
    let file = scratch.file("a.txt", b"abc");
    let (listener, addr) = fake_server();
    let client = start_client(addr, &[&file], b"");
    let mut stream = accept(&listener);
    read_line(&mut stream, "the client");
    drop(stream);
    let finished = client.finish();
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert_eq!(
        finished.stderr,
        "error: waiting for READY: the server closed the connection without an answer\n"
    );
}

#[test]
fn a_server_that_resets_mid_body_gets_the_reset_hint() {
    for copy in COPY_PATHS {
        let scratch = Scratch::new();
        // Much more than the socket buffers hold, so the client is still
        // sending when the reset arrives.
        let file = scratch.file("big.bin", &vec![7u8; 32 * 1024 * 1024]);
        let (listener, addr) = fake_server();
        let client = start_client(addr, &[&file, "--copy", copy], b"");
        let mut stream = accept(&listener);
        read_line(&mut stream, "the client");
        send(&mut stream, b"READY\n", "the client");
        reset_on_close(&stream);
        drop(stream);
        let finished = client.finish();
        assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
        let lines: Vec<&str> = finished.stderr.lines().collect();
        assert!(
            lines.len() == 2
                && [
                    "error: sending the body of big.bin: Connection reset by peer (os error 104)",
                    "error: sending the body of big.bin: Broken pipe (os error 32)",
                ]
                .contains(&lines[0]),
            "--copy {copy}: expected a reset (or a broken pipe) while sending, got:\n{}",
            finished.stderr
        );
        assert_eq!(
            lines[1], "hint: the server closed the connection before the end; its log says why",
            "--copy {copy}"
        );
    }
}

#[test]
fn a_server_that_never_confirms_gets_the_time_out_hint() {
    let scratch = Scratch::new();
    let file = scratch.file("a.txt", b"abc");
    let (listener, addr) = fake_server();
    let client = start_client(addr, &[&file, "--timeout", "1"], b"");
    let mut stream = accept(&listener);
    read_line(&mut stream, "the client");
    send(&mut stream, b"READY\n", "the client");
    let body = read_to_end_of_stream(&mut stream, "the client");
    assert_eq!(body, b"abc");
    // Say nothing, and keep the connection open until the client gives up.
    let finished = client.finish();
    drop(stream);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert_eq!(
        finished.stderr,
        "error: waiting for the server to confirm a.txt: no answer within 1 s\n\
         hint: if the server is busy with another upload, or slow to save a large file, \
         try again later or wait longer with --timeout\n"
    );
}

#[test]
fn a_client_behind_another_upload_is_told_the_server_is_busy() {
    // The server serves one client at a time. While one upload is in
    // progress, a second client is connected (the kernel queued it) but
    // hears nothing: it must say why, not "Resource temporarily unavailable".
    let scratch = Scratch::new();
    let (_server, addr) = start_in(&scratch.dir, &["--timeout", "30"]);
    let _first = start_upload(addr, "first.bin", 1000);
    let file = scratch.file("second.txt", b"second");
    let finished = run_client(addr, &[&file, "--timeout", "1"], b"");
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert_eq!(
        finished.stderr,
        "error: waiting for READY: no answer within 1 s; the server serves one client at a time \
         and is probably busy with another upload\n\
         hint: if the server is busy with another upload, or slow to save a large file, \
         try again later or wait longer with --timeout\n"
    );
}

#[test]
fn ipv6_addresses_work_with_and_without_brackets() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback (::1)");
        return;
    }
    let scratch = Scratch::new();
    let file = scratch.file("six.txt", b"over IPv6\n");
    let (mut server, addr) = start_in(&scratch.dir, &["--host", "[::1]"]);
    assert!(
        addr.is_ipv6(),
        "the server should listen on ::1, it said {addr}"
    );
    // The toolkit passes the address bare: `--host ::1`.
    let finished = run_client(addr, &[&file], b"");
    assert!(finished.status.success(), "{}", finished.describe());
    line_starting_with(&mut server, "received six.txt: 10 bytes in ");
    let (_other, bare) = start_in(&scratch.dir, &["--host", "::1"]);
    assert!(
        bare.is_ipv6(),
        "--host ::1 should listen on ::1, it said {bare}"
    );
}
