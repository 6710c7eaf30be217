//! The chapter's exercises, each checked by a test that drives the real
//! programs. They are ignored by default: the lesson as it stands does not
//! do what they ask, so each fails until its exercise is done. Run one with
//!
//! ```sh
//! cargo test -p lesson-03-echo-loop --test exercises -- --ignored exercise_1
//! ```
//!
//! A failure message starts with what the exercise asks and goes on with
//! what is still missing. The solutions are in `solutions/`, one patch per
//! exercise; each is one way to do it among several.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::lesson::line_if_any;
use common::{
    Finished, Running, accept, connect, describe_io_error, echo_round_trip, escaped, expect_bytes,
    fake_server, read_exactly, read_to_end_of_stream, run_client, send, start_client, start_server,
    try_read_to_end_of_stream, try_start_server,
};

/// A program's exit and output, for a failure message.
fn outcome(finished: &Finished) -> String {
    format!(
        "it exited with {}; stdout: {:?}; stderr: {:?}",
        finished.status, finished.stdout, finished.stderr
    )
}

/// Starts the server with `args`, or fails with what the exercise asks
/// and how the server refused (a flag it does not know yet, say).
#[track_caller]
fn start_server_for(exercise: &str, args: &[&str]) -> (Running, SocketAddr) {
    match try_start_server(args) {
        Ok(started) => started,
        Err(finished) => panic!(
            "{exercise}; `server {}` did not start: {}",
            args.join(" "),
            outcome(&finished)
        ),
    }
}

/// Sends `bytes` from a thread of its own, then shuts down the write half,
/// while the caller reads: writing a large input before reading would
/// deadlock against an echo server (exercise 3 is about exactly that).
fn send_then_leave(stream: &TcpStream, bytes: Vec<u8>) -> thread::JoinHandle<()> {
    let mut writer = stream.try_clone().expect("cloning the socket for writing");
    thread::spawn(move || {
        // A server that hangs up early makes this fail; the reader reports it.
        let _ = writer.write_all(&bytes);
        let _ = writer.shutdown(Shutdown::Write);
    })
}

// ---------------------------------------------------------------------------
// Exercise 1: count the pieces
// ---------------------------------------------------------------------------

/// `(bytes, reads)` from `client ADDR disconnected (<bytes> bytes echoed in
/// <reads> reads)`, with or without `: <reason>` after it.
fn parse_counts(line: &str, addr: SocketAddr) -> Option<(u64, u64)> {
    let rest = line.strip_prefix(&format!("client {addr} disconnected ("))?;
    let (counts, _reason) = rest.split_once(')')?;
    let (bytes, reads) = counts.split_once(" bytes echoed in ")?;
    let reads = reads.strip_suffix(" reads")?;
    Some((bytes.parse().ok()?, reads.parse().ok()?))
}

#[test]
#[ignore = "exercise 1: count the pieces"]
fn exercise_1_the_log_counts_the_reads_of_each_client() {
    const ASKS: &str = "exercise 1 asks the server to log how many reads each client took, as \
                        \"client ADDR disconnected (<bytes> bytes echoed in <reads> reads)\"";
    let (mut server, addr) = start_server(&["--timeout", "1"]);

    // 1 MiB, sent with one write_all: the server's 16 KiB buffer alone
    // makes that at least 64 reads, and TCP usually makes it more.
    let mut client = connect(addr);
    let local = client.local_addr().expect("reading our address");
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let sender = send_then_leave(&client, payload.clone());
    let echo = read_to_end_of_stream(&mut client, "the server");
    sender.join().expect("the sending thread panicked");
    assert!(
        echo == payload,
        "exercise 1 changes the log, not the echo: 1 MiB went out and {} bytes came back",
        echo.len()
    );
    let line = server.line_containing(&format!("client {local} disconnected"));
    let Some((bytes, reads)) = parse_counts(&line, local) else {
        panic!("{ASKS}; for a client that sent 1 MiB it logged {line:?}");
    };
    assert!(
        bytes == 1024 * 1024 && (64..=bytes).contains(&reads),
        "{ASKS}: a client that sent 1 MiB (1048576 bytes) needs at least 1 MiB / 16 KiB = 64 \
         reads, and at most one per byte; the server logged {line:?}\n\
         hint: count only the reads that returned data, not the last one that returned 0"
    );

    // Nothing sent: nothing read (the read that returns 0 is the end, not
    // a piece).
    let mut silent = connect(addr);
    let local = silent.local_addr().expect("reading our address");
    silent
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(read_to_end_of_stream(&mut silent, "the server"), b"");
    let line = server.line_containing(&format!("client {local} disconnected"));
    assert!(
        parse_counts(&line, local) == Some((0, 0)),
        "{ASKS}; a client that sent nothing took 0 reads with data, so the line should end in \
         \"(0 bytes echoed in 0 reads)\"; it logged {line:?}"
    );

    // A client that ends badly keeps its counts, and its reason after them.
    let mut idle = connect(addr);
    let local = idle.local_addr().expect("reading our address");
    echo_round_trip(&mut idle, b"then silence\n", "the server");
    assert_eq!(read_to_end_of_stream(&mut idle, "the server"), b"");
    let line = server.line_containing(&format!("client {local} disconnected"));
    let reason = "time-out, no progress for 1s (the client sent nothing, or stopped reading its \
                  echo)";
    assert!(
        parse_counts(&line, local).is_some_and(|(bytes, reads)| bytes == 13 && reads >= 1)
            && line.ends_with(&format!(" reads): {reason}")),
        "{ASKS}, also when the client ends badly, with the reason after the counts: for a client \
         that sent 13 bytes and then nothing for the 1 s idle time-out, \"client {local} \
         disconnected (13 bytes echoed in <reads> reads): {reason}\"; it logged {line:?}"
    );
}

// ---------------------------------------------------------------------------
// Exercise 2: upper-case echo
// ---------------------------------------------------------------------------

#[test]
#[ignore = "exercise 2: upper-case echo"]
fn exercise_2_an_upper_case_echo_that_the_client_accepts_with_upper() {
    let (_server, addr) = start_server_for(
        "exercise 2 asks for `server --upper`, a server that echoes ASCII letters in upper case",
        &["--upper"],
    );

    // ASCII letters change; digits, punctuation and the bytes of "é" (not
    // ASCII) come back as they were.
    let mut stream = connect(addr);
    send(&mut stream, "hello, World 42 é\n".as_bytes(), "the server");
    let echo = read_exactly(&mut stream, "HELLO, WORLD 42 é\n".len(), "the server");
    assert!(
        echo == "HELLO, WORLD 42 é\n".as_bytes(),
        "exercise 2: `server --upper` should send back {} for {}; it sent {}\n\
         hint: upper-case the bytes with to_ascii_uppercase, which leaves every byte that is \
         not an ASCII letter alone",
        escaped("HELLO, WORLD 42 é\n".as_bytes()),
        escaped("hello, World 42 é\n".as_bytes()),
        escaped(&echo)
    );
    drop(stream);

    // The client, told to expect it, accepts the upper-case echo.
    let finished = run_client(
        addr,
        &["--upper", "--message", "hello", "--message", "ça va"],
        b"",
    );
    assert!(
        finished.status.success() && finished.stdout == ["echo: HELLO", "echo: çA VA"],
        "exercise 2 asks for `client --upper`, which expects each line back in upper case \
         (ASCII letters only) and prints the echo it read: against `server --upper`, \
         `--message hello --message \"ça va\"` should print \"echo: HELLO\" and \"echo: çA VA\" \
         and exit 0; {}",
        outcome(&finished)
    );

    // And it still checks: a plain echo is not what it expects.
    let (_plain, plain_addr) = start_server(&[]);
    let finished = run_client(plain_addr, &["--upper", "--message", "hello"], b"");
    assert!(
        finished.status.code() == Some(1) && finished.stderr.contains("differs"),
        "exercise 2: `client --upper` still checks every byte, so against a server that echoes \
         \"hello\" unchanged it should fail (exit 1) and say the echo differs; {}",
        outcome(&finished)
    );
}

// ---------------------------------------------------------------------------
// Exercise 3: write the deadlock yourself
// ---------------------------------------------------------------------------

/// How an echo that the test serves itself went.
enum Watched {
    /// The client exited; the echo server had echoed this many bytes.
    Exited(Finished, u64),
    /// The echo stopped moving for [`STALL`] with the client still running,
    /// some of the input echoed and not all: this many bytes echoed, this many lines
    /// printed. The test killed the client.
    Stalled(u64, usize),
}

/// How long the echo must not move, with the client still running, before
/// the test calls it a deadlock. A client that reads while it writes keeps
/// the bytes moving all the time.
const STALL: Duration = Duration::from_secs(3);

/// The longest the test watches one client.
const WATCH_LIMIT: Duration = Duration::from_secs(120);

/// Runs the client with `args` and `input` against an echo server of the
/// test's own, which counts the bytes it echoes, and watches that count.
fn watch_echo(args: &[&str], input: &[u8]) -> Watched {
    let (listener, addr) = fake_server();
    let echoed = Arc::new(AtomicU64::new(0));
    let mut client = start_client(addr, args, input);
    let stream = accept(&listener);
    // Longer than STALL: the test, not this echo server, decides.
    let patience = Some(Duration::from_secs(20));
    stream.set_read_timeout(patience).expect("read time-out");
    stream.set_write_timeout(patience).expect("write time-out");
    let count = Arc::clone(&echoed);
    thread::spawn(move || {
        let mut stream = stream;
        let mut buffer = [0u8; 16 * 1024];
        // Echo until the client ends its stream, or the connection fails
        // (the test kills a client that deadlocked).
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 || stream.write_all(&buffer[..n]).is_err() {
                break;
            }
            count.fetch_add(n as u64, Ordering::Relaxed);
        }
        // Dropping the stream closes it: the client sees the end.
    });

    let started = Instant::now();
    let mut last = (0, Instant::now());
    let mut printed = 0;
    loop {
        // Without waiting: did it exit, what has it printed?
        if client.exited_within(Duration::ZERO).is_some() {
            let bytes = echoed.load(Ordering::Relaxed);
            return Watched::Exited(client.finish(), bytes);
        }
        while line_if_any(&mut client).is_some() {
            printed += 1;
        }
        let now = echoed.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= STALL && now > 0 && now < input.len() as u64 {
            // Stuck after some bytes went round (nothing at all yet is a
            // slow start). Dropping `client` kills and reaps it.
            return Watched::Stalled(now, printed);
        }
        assert!(
            started.elapsed() < WATCH_LIMIT,
            "the client with {args:?} neither finished nor stopped within {WATCH_LIMIT:?}: \
             {now} of {} bytes echoed",
            input.len()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "exercise 3: write the deadlock yourself"]
fn exercise_3_a_client_that_writes_everything_before_reading_deadlocks() {
    const ASKS: &str = "exercise 3 asks for `client --write-then-read`, with which run_client \
                        calls send_lines and then check_echoes, on one thread";
    // A short input fits in the buffers: that client works.
    let (_server, addr) = start_server(&[]);
    let finished = run_client(addr, &["--write-then-read", "--message", "short"], b"");
    assert!(
        finished.status.success() && finished.stdout == ["echo: short"],
        "{ASKS}; with one short line it still works: expected exit 0 and \"echo: short\"; {}",
        outcome(&finished)
    );

    // 48 MiB cannot fit in the socket buffers of both ends together.
    let line = "x".repeat(1024 * 1024 - 1);
    let input = format!("{line}\n").repeat(48).into_bytes();
    let total = input.len();
    // A time-out longer than the watch, so only a deadlock stops it.
    match watch_echo(&["--write-then-read", "--timeout", "60"], &input) {
        Watched::Stalled(echoed, printed) => {
            println!("the client stopped after {echoed} of {total} bytes were echoed");
            assert!(
                printed == 0,
                "{ASKS}: such a client reads nothing before it has sent everything, so it should \
             print no echo before it is stuck; it printed {printed} lines ({echoed} of {total} \
             bytes echoed)"
            );
        }
        Watched::Exited(finished, echoed) => panic!(
            "{ASKS}: with 48 MiB of input the echoes should pile up until neither side can \
             move, and the test would see the echo stop; instead the client exited after \
             {echoed} of {total} bytes were echoed: {}\n\
             hint: a client that reads while it writes never deadlocks; if yours still runs the \
             writer on a thread of its own, call send_lines on this thread",
            outcome(&finished)
        ),
    }

    // The lesson's client, given the same input, reads while it writes.
    match watch_echo(&["--timeout", "60"], &input) {
        Watched::Exited(finished, echoed) => assert!(
            finished.status.success() && echoed == total as u64 && finished.stdout.len() == 48,
            "exercise 3: without --write-then-read the client is the lesson's, and echoes the \
             48 MiB: expected exit 0, {total} bytes echoed and 48 echo lines; {echoed} bytes \
             echoed, {} lines, status {}, stderr {:?}",
            finished.stdout.len(),
            finished.status,
            finished.stderr
        ),
        Watched::Stalled(echoed, _) => panic!(
            "exercise 3: without --write-then-read the client should be the lesson's, which \
             reads while it writes; it stopped after {echoed} of {total} bytes"
        ),
    }
}

// ---------------------------------------------------------------------------
// Exercise 4: a deadline for the whole conversation
// ---------------------------------------------------------------------------

#[test]
#[ignore = "exercise 4: a deadline for the whole conversation"]
fn exercise_4_max_session_ends_a_client_that_is_never_idle() {
    const ASKS: &str = "exercise 4 asks for `server --max-session SECS`: a client may stay \
                        connected that long in all, however often it sends";
    let zero = try_start_server(&["--max-session", "0"]);
    assert!(
        matches!(&zero, Err(finished) if finished.status.code() == Some(2)),
        "{ASKS}; `--max-session 0` is a usage error (exit 2), as `--timeout 0` is; {}",
        match &zero {
            Ok(_) => "the server started".to_string(),
            Err(finished) => outcome(finished),
        }
    );
    drop(zero);
    let (mut server, addr) = start_server_for(ASKS, &["--max-session", "1"]);

    // One byte every 200 ms, each echoed: never idle for the 30 s idle
    // time-out, so only the session's deadline can end it.
    let mut client = connect(addr);
    let local = client.local_addr().expect("reading our address");
    let connected = Instant::now();
    let mut echoed = 0u64;
    let ended = loop {
        let elapsed = connected.elapsed();
        if elapsed > Duration::from_secs(8) {
            panic!(
                "{ASKS}; with --max-session 1 this client, which sends a byte every 200 ms, is \
                 still served after {elapsed:?} ({echoed} bytes echoed)\n\
                 hint: the read time-out restarts with every read; before each read, set it to \
                 what is left of the session if that is shorter"
            );
        }
        if client.write_all(b"x").is_err() {
            break elapsed;
        }
        let mut byte = [0u8; 1];
        match client.read(&mut byte) {
            Ok(1) => echoed += 1,
            // End of stream or a reset: the server has hung up.
            Ok(_) => break elapsed,
            Err(err) if err.kind() != ErrorKind::WouldBlock => break elapsed,
            Err(err) => panic!(
                "exercise 4: the echo of one byte did not come back: {}",
                describe_io_error(&err)
            ),
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(
        ended >= Duration::from_millis(900),
        "{ASKS}; with --max-session 1 the server hung up after {ended:?}, before the second was \
         over"
    );
    let line = server.line_containing(&format!("client {local} disconnected"));
    let expected = format!(
        "client {local} disconnected ({echoed} bytes echoed): time-out, the whole session may \
         last at most 1s"
    );
    assert!(
        line == expected,
        "{ASKS}, and to log why it hung up; expected {expected:?}, the server logged {line:?}"
    );

    // The deadline is per client: the next one is served.
    let mut next = connect(addr);
    echo_round_trip(&mut next, b"my turn\n", "the server");
}

// ---------------------------------------------------------------------------
// Exercise 5: two at a time, by hand
// ---------------------------------------------------------------------------

#[test]
#[ignore = "exercise 5: two at a time, by hand"]
fn exercise_5_a_second_client_is_served_while_the_first_is_idle() {
    let (mut server, addr) = start_server(&[]);
    let mut first = connect(addr);
    let first_addr = first.local_addr().expect("reading our address");
    echo_round_trip(&mut first, b"first\n", "the server");
    // The first client now says nothing, and the idle time-out is 30 s.

    let mut second = connect(addr);
    let second_addr = second.local_addr().expect("reading our address");
    send(&mut second, b"second\n", "the server");
    let mut echo = Vec::new();
    let mut buffer = [0u8; 64];
    while echo.len() < 7 {
        match second.read(&mut buffer) {
            Ok(0) => panic!(
                "exercise 5: the server closed the second client's connection after {}",
                escaped(&echo)
            ),
            Ok(n) => echo.extend_from_slice(&buffer[..n]),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "exercise 5 asks the server to serve a second client while the first one is \
                 connected and idle; the second sent \"second\\n\" and received {}, then {}: \
                 the server is still with the first client\n\
                 hint: serve each accepted client on a thread of its own (thread::spawn), \
                 moving the stream into it",
                escaped(&echo),
                describe_io_error(&err)
            ),
        }
    }
    assert!(
        echo == b"second\n",
        "exercise 5: the second client sent \"second\\n\" and received {}",
        escaped(&echo)
    );

    // Both are still served, each with its own echo.
    echo_round_trip(&mut first, b"still here\n", "the server");
    echo_round_trip(&mut second, b"me too\n", "the server");
    second
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(read_to_end_of_stream(&mut second, "the server"), b"");
    let line = server.line_containing(&format!("client {second_addr} disconnected"));
    assert_eq!(
        line,
        format!("client {second_addr} disconnected (14 bytes echoed)"),
        "exercise 5: the second client left first, and its log line says so"
    );
    first
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(read_to_end_of_stream(&mut first, "the server"), b"");
    let line = server.line_containing(&format!("client {first_addr} disconnected"));
    assert_eq!(
        line,
        format!("client {first_addr} disconnected (17 bytes echoed)")
    );
}

// ---------------------------------------------------------------------------
// Exercise 6: length-prefixed messages instead of lines
// ---------------------------------------------------------------------------

/// A message as `--framing length` puts it on the wire: its length in 4
/// bytes, big-endian, then its bytes.
fn framed(message: &[u8]) -> Vec<u8> {
    let mut bytes = (message.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(message);
    bytes
}

#[test]
#[ignore = "exercise 6: length-prefixed messages"]
fn exercise_6_length_prefixed_messages_come_back_whole() {
    const ASKS: &str = "exercise 6 asks for `--framing length`: each message is its length in \
                        4 bytes, big-endian, then its bytes, and the server echoes whole \
                        messages";
    let (mut server, addr) = start_server_for(ASKS, &["--framing", "length"]);

    // Three messages in one write: the lengths say where each ends, so an
    // empty message and one with a "\n" inside are messages like any other.
    let mut stream = connect(addr);
    let local = stream.local_addr().expect("reading our address");
    let three = [framed(b"hello"), framed(b""), framed(b"two\nlines")].concat();
    send(&mut stream, &three, "the server");
    expect_bytes(&mut stream, &three, "the server");

    // A message in pieces: nothing comes back until the whole message is
    // in, then all of it.
    let message = framed(b"in pieces");
    send(&mut stream, &message[..2], "the server");
    send(&mut stream, &message[2..7], "the server");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("setting a short read time-out");
    let mut early = [0u8; 64];
    match stream.read(&mut early) {
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!(
            "{ASKS}; 7 of the 13 bytes of a message were sent, so nothing should come back \
             yet; the read gave {other:?}\n\
             hint: read the 4 length bytes, then exactly that many bytes, then write the \
             message back with one write_all"
        ),
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("setting the read time-out back");
    send(&mut stream, &message[7..], "the server");
    expect_bytes(&mut stream, &message, "the server");

    // The largest message allowed, 64 KiB.
    let largest = framed(&vec![b'L'; 64 * 1024]);
    let sender = {
        let mut writer = stream.try_clone().expect("cloning the socket");
        let bytes = largest.clone();
        thread::spawn(move || writer.write_all(&bytes))
    };
    let echo = read_exactly(&mut stream, largest.len(), "the server");
    sender
        .join()
        .expect("the sending thread panicked")
        .expect("sending 64 KiB");
    assert!(
        echo == largest,
        "{ASKS}; a message of 65536 bytes (the limit) should come back whole"
    );
    let echoed_so_far = (three.len() + message.len() + largest.len()) as u64;

    // A length over the limit: the server hangs up without reading on.
    send(&mut stream, &[0xff, 0xff, 0xff, 0xff], "the server");
    match try_read_to_end_of_stream(&mut stream) {
        Ok(rest) if rest.is_empty() => {}
        Err((rest, why)) if rest.is_empty() && why.contains("reset") => {}
        Ok(rest) | Err((rest, _)) => panic!(
            "{ASKS}; a header that announces 4294967295 bytes is over the 64 KiB limit: the \
             server should close the connection without sending anything; it sent {}",
            escaped(&rest)
        ),
    }
    let line = server.line_containing(&format!("client {local} disconnected"));
    let expected = format!(
        "client {local} disconnected ({echoed_so_far} bytes echoed): a message of 4294967295 \
         bytes announced, more than the limit of 65536 bytes"
    );
    assert!(
        line == expected,
        "{ASKS}; the log should count every byte echoed, length fields included, and say why \
         the server hung up; expected {expected:?}, got {line:?}"
    );

    // The client frames its lines: what it puts on the wire, and that it
    // checks the echo.
    let (listener, fake_addr) = fake_server();
    let client = start_client(
        fake_addr,
        &["--framing", "length", "--message", "hi", "--message", ""],
        b"",
    );
    let mut peer = accept(&listener);
    // Each message is echoed as soon as it is in: a client may wait for
    // the echo of one message before it sends the next.
    for message in [framed(b"hi"), framed(b"")] {
        let got = read_exactly(&mut peer, message.len(), "the client");
        assert!(
            got == message,
            "{ASKS}; the client should send each line without its \"\\n\" as one message: \
             expected {}, it sent {}",
            escaped(&message),
            escaped(&got)
        );
        send(&mut peer, &got, "the client");
    }
    let rest = read_to_end_of_stream(&mut peer, "the client");
    assert!(
        rest.is_empty(),
        "{ASKS}; after its two messages the client should shut down its write half; it sent {} \
         more",
        escaped(&rest)
    );
    drop(peer);
    let finished = client.finish();
    assert!(
        finished.status.success() && finished.stdout == ["echo: hi", "echo: "],
        "{ASKS}; after the echo of both messages and the server's close, the client should \
         print \"echo: hi\" and \"echo: \" and exit 0; {}",
        outcome(&finished)
    );

    // Against the real server; a line over the limit is refused with an error.
    let finished = run_client(addr, &["--framing", "length"], b"first line\nsecond line\n");
    assert!(
        finished.status.success() && finished.stdout == ["echo: first line", "echo: second line"],
        "{ASKS}; against `server --framing length`, two lines should come back as two echo \
         lines; {}",
        outcome(&finished)
    );
    let mut too_long = vec![b'y'; 70_000];
    too_long.push(b'\n');
    let finished = run_client(addr, &["--framing", "length"], &too_long);
    assert!(
        finished.status.code() == Some(1)
            && finished
                .stderr
                .starts_with("error: line 1 is longer than 65536 bytes"),
        "{ASKS}; a line of 70000 bytes does not fit in a message of at most 65536 bytes: the \
         client should exit 1 with \"error: line 1 is longer than 65536 bytes\" and why; {}",
        outcome(&finished)
    );
}
