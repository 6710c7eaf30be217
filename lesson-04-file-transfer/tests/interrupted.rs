//! Uploads that stop halfway leave the folder exactly as it was (no partial
//! file, no temporary file), the server says why, and the next client is
//! served; through both copy paths. `--overwrite` replaces a file in one
//! step.

mod common;

use std::fs;
use std::net::{Shutdown, SocketAddr, TcpStream};

use common::lesson::{
    COPY_PATHS, Scratch, Snapshot, finish_upload, line_starting_with, names, random_bytes,
    snapshot, start_in, start_upload, stop_and_continue, upload, wait_for_part_file,
};
use common::{Running, connect, escaped, read_line, reset_on_close, send};

/// Starts an upload of `announced` bytes and sends only the first half.
fn half_upload(addr: SocketAddr, name: &str, announced: usize) -> TcpStream {
    let mut stream = start_upload(addr, name, announced);
    send(&mut stream, &random_bytes(2, announced / 2), "the server");
    stream
}

/// The folder must be as it was, and the server must serve a new client.
fn assert_unchanged_and_still_serving(
    scratch: &Scratch,
    server: &mut Running,
    addr: SocketAddr,
    before: &Snapshot,
) {
    let after = snapshot(&scratch.dir);
    assert!(
        &after == before,
        "an interrupted upload must leave --dir as it was: before {:?}, after {:?} \
         (a .upload-*.part file is a temporary file that was not removed)",
        names(before),
        names(&after)
    );
    assert_eq!(upload(addr, "next.txt", b"next client"), "OK 11\n");
    line_starting_with(server, "received next.txt: 11 bytes in ");
}

#[test]
fn a_short_body_leaves_nothing_and_is_reported() {
    for copy in COPY_PATHS {
        let scratch = Scratch::new();
        let (mut server, addr) = start_in(&scratch.dir, &["--copy", copy]);
        let before = snapshot(&scratch.dir);

        let mut stream = half_upload(addr, "cut.bin", 100_000);
        // End of stream after half the body: the server must not save it.
        stream
            .shutdown(Shutdown::Write)
            .expect("shutting down the write half");
        assert_eq!(
            String::from_utf8_lossy(&read_line(&mut stream, "the server")),
            "ERR short expected 100000 bytes, got 50000\n",
            "--copy {copy}: sent \"SEND 100000 cut.bin\\n\", 50000 body bytes, then shut down \
             the write half (hint: a server that takes end of stream for the end of the file \
             saves half a file)"
        );
        assert_eq!(
            line_starting_with(&mut server, "aborted "),
            "aborted cut.bin: expected 100000 bytes, got 50000 (short)",
            "--copy {copy}"
        );
        assert_unchanged_and_still_serving(&scratch, &mut server, addr, &before);
    }
}

#[test]
fn a_client_that_vanishes_mid_body_leaves_nothing() {
    for copy in COPY_PATHS {
        let scratch = Scratch::new();
        fs::write(scratch.dir.join("keep.txt"), b"already here\n").expect("writing keep.txt");
        let (mut server, addr) = start_in(&scratch.dir, &["--copy", copy]);
        let before = snapshot(&scratch.dir);

        // Close the whole socket halfway, the way a killed client does.
        drop(half_upload(addr, "gone.bin", 3 * 1024 * 1024));
        assert_eq!(
            line_starting_with(&mut server, "aborted "),
            "aborted gone.bin: expected 3145728 bytes, got 1572864 (short)",
            "--copy {copy}"
        );
        assert_unchanged_and_still_serving(&scratch, &mut server, addr, &before);
    }
}

#[test]
fn a_reset_mid_body_is_short_not_timeout() {
    // A client that crashes sends a reset (RST), not an orderly end. The
    // server's read fails at once; that is a cut-off body, `short`, and
    // must not be mistaken for a client that went quiet (`timeout`).
    for copy in COPY_PATHS {
        let scratch = Scratch::new();
        let (mut server, addr) = start_in(&scratch.dir, &["--copy", copy, "--timeout", "30"]);
        let before = snapshot(&scratch.dir);
        let stream = half_upload(addr, "reset.bin", 1000);
        reset_on_close(&stream);
        drop(stream);
        assert_eq!(
            line_starting_with(&mut server, "aborted "),
            "aborted reset.bin: expected 1000 bytes, got 500 (short)",
            "--copy {copy}: the client reset the connection after 500 of 1000 body bytes \
             (hint: a reset is a failed read, not a time-out: only WouldBlock and TimedOut are)"
        );
        assert_unchanged_and_still_serving(&scratch, &mut server, addr, &before);
    }
}

#[test]
fn a_client_that_stalls_mid_body_times_out_and_leaves_nothing() {
    for copy in COPY_PATHS {
        let scratch = Scratch::new();
        let (mut server, addr) = start_in(&scratch.dir, &["--timeout", "1", "--copy", copy]);
        let before = snapshot(&scratch.dir);

        // Keep the connection open and send nothing more.
        let mut stream = half_upload(addr, "stalled.bin", 1000);
        assert_eq!(
            String::from_utf8_lossy(&read_line(&mut stream, "the server")),
            "ERR timeout no data for 1 s\n",
            "--copy {copy}: sent \"SEND 1000 stalled.bin\\n\" and 500 body bytes, then nothing, \
             with the connection open (hint: a server without a read time-out waits forever here)"
        );
        assert_eq!(
            line_starting_with(&mut server, "aborted "),
            "aborted stalled.bin: expected 1000 bytes, got 500 (timeout)",
            "--copy {copy}"
        );
        drop(stream);
        assert_unchanged_and_still_serving(&scratch, &mut server, addr, &before);
    }
}

#[test]
fn a_server_stopped_and_continued_mid_body_keeps_the_upload() {
    // Ctrl-Z and `fg` on the server while it waits for the rest of a body:
    // its read (or splice), which has a time-out, fails with "Interrupted"
    // on the way, and it must read again, not give up on the upload.
    for copy in COPY_PATHS {
        let scratch = Scratch::new();
        let (mut server, addr) = start_in(&scratch.dir, &["--copy", copy]);
        let body = random_bytes(3, 1000);
        let mut stream = start_upload(addr, "paused.bin", body.len());
        send(&mut stream, &body[..500], "the server");
        // The first half is in the temporary file: the server waits for more.
        wait_for_part_file(&scratch.dir, 500);
        stop_and_continue(&server);
        assert_eq!(
            finish_upload(&mut stream, &body[500..]),
            "OK 1000\n",
            "--copy {copy}: sent \"SEND 1000 paused.bin\\n\" and 500 body bytes; the server was \
             stopped (Ctrl-Z) and continued (fg) while it waited for the rest, then the other 500 \
             came (hint: a read with a time-out fails with Interrupted when the program is stopped \
             and continued; read again instead of aborting the upload)"
        );
        line_starting_with(&mut server, "received paused.bin: 1000 bytes in ");
        let saved = fs::read(scratch.dir.join("paused.bin")).expect("reading paused.bin");
        assert!(
            saved == body,
            "--copy {copy}: paused.bin holds {} bytes that differ from the 1000 sent",
            saved.len()
        );
    }
}

#[test]
fn overwrite_keeps_the_old_file_until_the_new_one_is_complete() {
    let scratch = Scratch::new();
    let target = scratch.dir.join("report.txt");
    fs::write(&target, b"version 1\n").expect("writing version 1");
    let (mut server, addr) = start_in(&scratch.dir, &["--overwrite"]);

    // An interrupted replacement: a server that wrote into report.txt
    // directly would already have truncated it.
    let before = snapshot(&scratch.dir);
    drop(half_upload(addr, "report.txt", 1000));
    line_starting_with(&mut server, "aborted report.txt: ");
    assert!(
        snapshot(&scratch.dir) == before,
        "an interrupted overwrite must leave the old file and nothing else, found {:?} with \
         report.txt = {:?}",
        names(&snapshot(&scratch.dir)),
        fs::read(&target).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    );

    // A complete replacement.
    assert_eq!(upload(addr, "report.txt", b"version 2\n"), "OK 10\n");
    line_starting_with(&mut server, "received report.txt: 10 bytes in ");
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
    let (_server, addr) = start_in(&scratch.dir, &[]);
    let mut stream = connect(addr);
    send(&mut stream, b"SEND 3 abc.txt\n", "the server");
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream, "the server")),
        "READY\n"
    );
    send(&mut stream, b"abc", "the server");
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream, "the server")),
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
fn a_server_stopped_mid_upload_leaves_nothing_and_exits_143() {
    // Ctrl-C and `kill` end the process without running destructors; the
    // server's signal handler must remove the temporary file itself, and
    // exit with 128 + the signal's number.
    let scratch = Scratch::new();
    let (server, addr) = start_in(&scratch.dir, &[]);
    // READY is sent after the temporary file is created.
    let _stream = half_upload(addr, "interrupted.bin", 1_000_000);
    server.signal("TERM");
    let finished = server.finish();
    assert_eq!(
        finished.status.code(),
        Some(143),
        "a server stopped by SIGTERM (15) should exit with 128 + 15\n{}",
        finished.describe()
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
    // together with the header and must not be lost (the zero-copy path
    // reads the socket directly, so it must first take these bytes from the
    // BufReader that read the header).
    for copy in COPY_PATHS {
        let scratch = Scratch::new();
        let (_server, addr) = start_in(&scratch.dir, &["--copy", copy]);
        let mut stream = connect(addr);
        send(&mut stream, b"SEND 11 early.txt\nhello world", "the server");
        assert_eq!(
            String::from_utf8_lossy(&read_line(&mut stream, "the server")),
            "READY\n"
        );
        stream
            .shutdown(Shutdown::Write)
            .expect("shutting down the write half");
        assert_eq!(
            String::from_utf8_lossy(&read_line(&mut stream, "the server")),
            "OK 11\n",
            "--copy {copy}"
        );
        let saved = fs::read(scratch.dir.join("early.txt")).expect("reading early.txt");
        assert!(
            saved == b"hello world",
            "--copy {copy}: the bytes that came with the header must start the file; saved {}",
            escaped(&saved)
        );
    }
}
