//! Uploads that stop halfway leave the folder exactly as it was (no partial
//! file, no temporary file), the server says why, and the next client is
//! served. `--overwrite` replaces a file in one step.

mod common;

use std::fs;
use std::io::Write;
use std::net::Shutdown;

use common::{
    Scratch, Server, connect, names, random_bytes, read_line, send_header, snapshot, upload,
};

/// Starts an upload of `announced` bytes and sends only the first half.
fn half_upload(server: &Server, name: &str, announced: usize) -> std::net::TcpStream {
    let header = format!("SEND {announced} {name}\n");
    let (mut stream, reply) = send_header(server.addr, header.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "READY\n",
        "sent {header:?}"
    );
    stream
        .write_all(&random_bytes(2, announced / 2))
        .expect("sending half the body");
    stream
}

/// The folder must be as it was, and the server must serve a new client.
fn assert_unchanged_and_still_serving(
    scratch: &Scratch,
    server: &mut Server,
    before: &std::collections::BTreeMap<std::path::PathBuf, Option<Vec<u8>>>,
) {
    let after = snapshot(&scratch.dir);
    assert!(
        &after == before,
        "an interrupted upload must leave --dir as it was: before {:?}, after {:?} \
         (a .upload-*.part file is a temporary file that was not removed)",
        names(before),
        names(&after)
    );
    assert_eq!(upload(server.addr, "next.txt", b"next client"), "OK 11\n");
    server.line_starting_with("received next.txt: 11 bytes in ");
}

#[test]
fn a_short_body_leaves_nothing_and_is_reported() {
    let scratch = Scratch::new();
    let mut server = Server::start(&scratch.dir, &[]);
    let before = snapshot(&scratch.dir);

    let mut stream = half_upload(&server, "cut.bin", 100_000);
    // End of stream after half the body: the server must not save it.
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream)),
        "ERR short expected 100000 bytes, got 50000\n",
        "sent \"SEND 100000 cut.bin\\n\", 50000 body bytes, then shut down the write half \
         (hint: a server that takes end of stream for the end of the file saves half a file)"
    );
    assert_eq!(
        server.line_starting_with("aborted "),
        "aborted cut.bin: expected 100000 bytes, got 50000"
    );
    assert_unchanged_and_still_serving(&scratch, &mut server, &before);
}

#[test]
fn a_client_that_vanishes_mid_body_leaves_nothing() {
    let scratch = Scratch::new();
    fs::write(scratch.dir.join("keep.txt"), b"already here\n").expect("writing keep.txt");
    let mut server = Server::start(&scratch.dir, &[]);
    let before = snapshot(&scratch.dir);

    // Close the whole socket halfway, the way a killed client does.
    drop(half_upload(&server, "gone.bin", 3 * 1024 * 1024));
    assert_eq!(
        server.line_starting_with("aborted "),
        "aborted gone.bin: expected 3145728 bytes, got 1572864"
    );
    assert_unchanged_and_still_serving(&scratch, &mut server, &before);
}

#[test]
fn a_client_that_stalls_mid_body_times_out_and_leaves_nothing() {
    let scratch = Scratch::new();
    let mut server = Server::start(&scratch.dir, &["--timeout", "1"]);
    let before = snapshot(&scratch.dir);

    // Keep the connection open and send nothing more.
    let mut stream = half_upload(&server, "stalled.bin", 1000);
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream)),
        "ERR timeout no data for 1 s\n",
        "sent \"SEND 1000 stalled.bin\\n\" and 500 body bytes, then nothing, with the connection open \
         (hint: a server without a read time-out waits forever here)"
    );
    assert_eq!(
        server.line_starting_with("aborted "),
        "aborted stalled.bin: expected 1000 bytes, got 500"
    );
    drop(stream);
    assert_unchanged_and_still_serving(&scratch, &mut server, &before);
}

#[test]
fn overwrite_keeps_the_old_file_until_the_new_one_is_complete() {
    let scratch = Scratch::new();
    let target = scratch.dir.join("report.txt");
    fs::write(&target, b"version 1\n").expect("writing version 1");
    let mut server = Server::start(&scratch.dir, &["--overwrite"]);

    // An interrupted replacement: a server that wrote into report.txt
    // directly would already have truncated it.
    let before = snapshot(&scratch.dir);
    drop(half_upload(&server, "report.txt", 1000));
    server.line_starting_with("aborted report.txt: ");
    assert!(
        snapshot(&scratch.dir) == before,
        "an interrupted overwrite must leave the old file and nothing else, found {:?} with report.txt = {:?}",
        names(&snapshot(&scratch.dir)),
        fs::read(&target).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    );

    // A complete replacement.
    assert_eq!(upload(server.addr, "report.txt", b"version 2\n"), "OK 10\n");
    server.line_starting_with("received report.txt: 10 bytes in ");
    assert_eq!(
        fs::read(&target).expect("reading report.txt"),
        b"version 2\n"
    );
    assert_eq!(
        names(&snapshot(&scratch.dir)),
        ["report.txt"],
        "no temporary file may remain"
    );
}

#[test]
fn ready_comes_before_any_body_byte_is_needed() {
    // The server must answer READY to the header alone: a server that
    // waited for body bytes before answering would make this time out.
    let scratch = Scratch::new();
    let server = Server::start(&scratch.dir, &[]);
    let mut stream = connect(server.addr);
    stream
        .write_all(b"SEND 3 abc.txt\n")
        .expect("sending the header");
    assert_eq!(String::from_utf8_lossy(&read_line(&mut stream)), "READY\n");
    stream.write_all(b"abc").expect("sending the body");
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream)),
        "OK 3\n",
        "hint: OK must come only after the whole body, once the write half is shut down"
    );
    assert_eq!(
        fs::read(scratch.dir.join("abc.txt")).expect("reading abc.txt"),
        b"abc"
    );
}

#[cfg(unix)]
#[test]
fn a_server_stopped_mid_upload_leaves_nothing() {
    // Ctrl-C and `kill` end the process without running destructors; the
    // server's signal handler must remove the temporary file itself.
    let scratch = Scratch::new();
    let mut server = Server::start(&scratch.dir, &[]);
    // READY is sent after the temporary file is created.
    let _stream = half_upload(&server, "interrupted.bin", 1_000_000);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -TERM failed");
    assert!(
        !server.wait_exit(),
        "a server stopped by SIGTERM should not report success"
    );
    assert!(
        snapshot(&scratch.dir).is_empty(),
        "a server stopped mid-upload must remove its temporary file, found {:?}",
        names(&snapshot(&scratch.dir))
    );
}

#[test]
fn body_bytes_sent_with_the_header_are_kept() {
    // A client that does not wait for READY: the start of the body arrives
    // together with the header and must not be lost.
    let scratch = Scratch::new();
    let server = Server::start(&scratch.dir, &[]);
    let mut stream = connect(server.addr);
    stream
        .write_all(b"SEND 11 early.txt\nhello world")
        .expect("sending the header and the body at once");
    assert_eq!(String::from_utf8_lossy(&read_line(&mut stream)), "READY\n");
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(String::from_utf8_lossy(&read_line(&mut stream)), "OK 11\n");
    assert_eq!(
        String::from_utf8_lossy(
            &fs::read(scratch.dir.join("early.txt")).expect("reading early.txt")
        ),
        "hello world",
        "the bytes that came with the header must start the file"
    );
}
