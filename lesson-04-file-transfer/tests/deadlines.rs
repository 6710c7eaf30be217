//! Phase deadlines: a client that trickles its bytes, never silent for long
//! enough to trip `--timeout`, still cannot hold the one-client-at-a-time
//! server for longer than the phase allows. The header must be complete
//! within `--timeout`; the body within `--timeout` + size / `--min-rate`.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::lesson::{
    COPY_PATHS, Scratch, line_starting_with, names, snapshot, start_in, trickle, upload,
};
use common::{connect, describe_io_error, escaped, read_line, send};

/// Reads the server's answer to a trickling client: one line, which must
/// come before the trickle ends (within the toolkit's SOCKET_WAIT).
fn reply_to_a_trickle(stream: &mut TcpStream, phase: &str) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        match stream.read(&mut byte) {
            Ok(0) => panic!(
                "the server closed the connection after {} while {phase} trickled in",
                escaped(&line)
            ),
            Ok(_) => line.push(byte[0]),
            Err(err) => panic!(
                "while {phase} trickled in, the server sent {}, then {} (hint: a read \
                 time-out restarts with every byte that arrives; the phase needs a deadline \
                 of its own)",
                escaped(&line),
                describe_io_error(&err)
            ),
        }
    }
    line
}

#[test]
fn a_header_trickled_byte_by_byte_times_out_as_a_whole() {
    // 15 bytes, one every 500 ms: 7.5 s for the header, yet never silent
    // for the 2 s of --timeout. A per-read time-out alone would answer
    // READY after 7.5 s; the header's deadline answers at 2 s.
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &["--timeout", "2"]);
    let mut stream = connect(addr);
    let started = Instant::now();
    let sender = trickle(
        &stream,
        b"SEND 5 slow.txt\n".to_vec(),
        1,
        Duration::from_millis(500),
    );
    let reply = reply_to_a_trickle(&mut stream, "the header");
    let took = started.elapsed();
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "ERR timeout no header within 2 s\n",
        "sent \"SEND 5 slow.txt\\n\" one byte every 500 ms with --timeout 2 \
         (hint: a read time-out bounds one read; the header needs a deadline of its own)"
    );
    assert!(
        took < Duration::from_secs(5),
        "the refusal should come about 2 s after connecting, it took {took:?}"
    );
    line_starting_with(&mut server, "refused header: timeout ");
    drop(stream);
    sender.join().expect("the trickling thread panicked");
    // The server is free again.
    assert_eq!(upload(addr, "next.txt", b"next"), "OK 4\n");
}

/// A body of 3000 bytes at 100 bytes every 300 ms (about 333 bytes/s) with
/// --timeout 1 --min-rate 1000: never silent for 1 s, but the body's
/// deadline is 1 + 3000 / 1000 = 4 s.
fn a_slow_body_hits_its_deadline(copy: &str) {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(
        &scratch.dir,
        &["--timeout", "1", "--min-rate", "1000", "--copy", copy],
    );
    let mut stream = connect(addr);
    send(&mut stream, b"SEND 3000 slow.bin\n", "the server");
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream, "the server")),
        "READY\n"
    );
    let started = Instant::now();
    let sender = trickle(&stream, vec![b'x'; 3000], 100, Duration::from_millis(300));
    let reply = reply_to_a_trickle(&mut stream, "the body");
    let took = started.elapsed();
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "ERR timeout the body was not complete within 4 s (the time allowed for 3000 bytes)\n",
        "--copy {copy}: sent 100 body bytes every 300 ms with --timeout 1 --min-rate 1000"
    );
    assert!(
        took < Duration::from_secs(7),
        "--copy {copy}: the refusal should come about 4 s after READY, it took {took:?}"
    );
    let aborted = line_starting_with(&mut server, "aborted slow.bin: expected 3000 bytes, got ");
    assert!(
        aborted.ends_with(" (timeout)"),
        "--copy {copy}: logged {aborted:?}"
    );
    drop(stream);
    sender.join().expect("the trickling thread panicked");
    assert!(
        snapshot(&scratch.dir).is_empty(),
        "--copy {copy}: a body that missed its deadline must leave nothing, found {:?}",
        names(&snapshot(&scratch.dir))
    );
}

#[test]
fn a_slow_body_hits_its_deadline_through_the_loop() {
    a_slow_body_hits_its_deadline(COPY_PATHS[0]);
}

#[test]
fn a_slow_body_hits_its_deadline_through_zero_copy() {
    a_slow_body_hits_its_deadline(COPY_PATHS[1]);
}
