//! The real server binary, with the test playing the client through
//! `std::net::TcpStream` (the way the tutorials use telnet): well-behaved
//! clients, one after another, and the bad ones a server meets.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::lesson::{
    ipv6_loopback_available, line_if_any, lowest_free_descriptor, set_descriptor_limit,
    stop_and_continue,
};
use common::{
    SOCKET_WAIT, connect, describe_io_error, echo_round_trip, escaped, expect_bytes,
    first_difference, read_to_end_of_stream, reset_on_close, send, start_server,
    start_server_with_unread_stdout, with_timeouts,
};

#[test]
fn the_echo_arrives_while_the_client_is_still_connected() {
    // A server that buffered its replies, or read to the end before
    // answering, would pass a test that only checks the total. Here each
    // echo must come back before the client sends the next line.
    let (_server, addr) = start_server(&[]);
    let mut client = connect(addr);
    echo_round_trip(&mut client, b"ping\n", "the server");
    echo_round_trip(&mut client, b"pong\n", "the server");
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    let after = read_to_end_of_stream(&mut client, "the server");
    assert!(
        after.is_empty(),
        "nothing more after the echoes, but the server sent {}",
        escaped(&after)
    );
}

#[test]
fn one_mebibyte_comes_back_byte_for_byte_in_many_reads() {
    let (mut server, addr) = start_server(&["--max-clients", "1"]);
    let mut client = connect(addr);
    let local = client.local_addr().expect("reading our address");
    assert_eq!(server.next_line(), format!("client {local} connected"));

    // Every byte value, so nothing depends on text or line ends.
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut writer = client.try_clone().expect("cloning the socket for writing");
    let to_send = payload.clone();
    // Write on another thread while this one reads: writing 1 MiB before
    // reading anything would deadlock (see the chapter).
    let sender = thread::spawn(move || {
        writer.write_all(&to_send).expect("sending 1 MiB");
        writer
            .shutdown(Shutdown::Write)
            .expect("shutting down the write half");
    });

    // Why this proves that reads return partial data: the megabyte was
    // handed to the kernel with ONE write_all, and each read below offers
    // room for all of it, yet a read returns only what has arrived so far,
    // so the echo comes back in many pieces of sizes nobody chose (the
    // test prints them; run it with `-- --nocapture`). The server reads into
    // a 16 KiB buffer, so on its side one read is never more than a
    // sixtieth of the message either. Only a receiver that loops until it
    // has every byte, as this one does, gets the whole megabyte back.
    // (Under heavy load the whole echo may already be waiting when we first
    // read; that is also TCP's choice, so the test does not assert a count.
    // `a_read_returns_what_has_arrived_not_a_whole_line` shows a split for sure.)
    let mut received = Vec::new();
    let mut read_sizes = Vec::new();
    let mut buffer = vec![0u8; payload.len()];
    loop {
        let n = match client.read(&mut buffer) {
            Ok(n) => n,
            Err(err) => panic!(
                "reading the 1 MiB echo: {} of {} bytes came back, then {}",
                received.len(),
                payload.len(),
                describe_io_error(&err)
            ),
        };
        if n == 0 {
            break;
        }
        read_sizes.push(n);
        received.extend_from_slice(&buffer[..n]);
    }
    sender.join().expect("the sending thread panicked");

    assert!(
        received == payload,
        "the 1 MiB echo differs: {} bytes came back, and they differ from what was sent from \
         byte {} on\n\
         hint: does every reader loop until it has all the bytes, and the server use write_all?",
        received.len(),
        first_difference(&received, &payload)
    );
    println!(
        "1 MiB sent with one write_all came back in {} reads; the first ones returned {:?} bytes",
        read_sizes.len(),
        &read_sizes[..read_sizes.len().min(8)]
    );
    assert_eq!(
        server.next_line(),
        format!("client {local} disconnected (1048576 bytes echoed)")
    );
}

#[test]
fn a_read_returns_what_has_arrived_not_a_whole_line() {
    // Framing is the reader's job. We send a line in three pieces and wait
    // for each echo before sending the next piece. Every read below has room
    // for 64 KiB, yet it returns after the piece that was sent: part of a
    // line, then the end of one line and the start of the next. Neither TCP
    // nor the server waits for a "\n"; nothing on the wire marks where a
    // message ends except what the programs put there.
    let (_server, addr) = start_server(&[]);
    let mut client = connect(addr);
    let mut buffer = vec![0u8; 64 * 1024];
    for piece in [&b"hel"[..], b"lo\nwor", b"ld\n"] {
        client.write_all(piece).expect("sending a piece");
        let mut echo = Vec::new();
        while echo.len() < piece.len() {
            let n = match client.read(&mut buffer) {
                Ok(n) => n,
                Err(err) => panic!(
                    "sent {}, and {} of its echo came back, then {}\n\
                     hint: an echo server must not wait for a whole line (or flush late)",
                    escaped(piece),
                    escaped(&echo),
                    describe_io_error(&err)
                ),
            };
            assert!(
                n > 0,
                "sent {}, and the server closed the connection after {} of its echo",
                escaped(piece),
                escaped(&echo)
            );
            echo.extend_from_slice(&buffer[..n]);
        }
        assert_eq!(
            echo,
            piece,
            "sent {}, received {}",
            escaped(piece),
            escaped(&echo)
        );
    }
}

#[test]
fn writing_everything_before_reading_deadlocks() {
    // Why the lesson's client writes and reads on two threads: this client
    // writes 64 MiB without reading. The echoes fill our receive buffer, the
    // server blocks writing them and stops reading, our send buffer fills,
    // and our write blocks too. Neither side moves: our write time-out fires
    // (instead of hanging forever), and the server's idle time-out lets it go.
    let (mut server, addr) = start_server(&["--timeout", "1"]);
    let mut client = connect(addr);
    client
        .set_write_timeout(Some(Duration::from_secs(2)))
        .expect("setting a short write time-out");
    let local = client.local_addr().expect("reading our address");
    assert_eq!(server.next_line(), format!("client {local} connected"));

    let chunk = vec![b'x'; 1024 * 1024];
    let mut sent_mib = 0;
    let error = loop {
        match client.write_all(&chunk) {
            Ok(()) => sent_mib += 1,
            Err(err) => break err,
        }
        assert!(
            sent_mib < 64,
            "wrote 64 MiB without reading and never blocked"
        );
    };
    assert!(
        matches!(
            error.kind(),
            ErrorKind::WouldBlock
                | ErrorKind::TimedOut
                | ErrorKind::ConnectionReset
                | ErrorKind::BrokenPipe
        ),
        "expected the write to block (then time out), got {error}"
    );
    // The server hangs up on us after its own time-out, and says why.
    let line = server.next_line();
    assert!(
        line.starts_with(&format!("client {local} disconnected (")) && line.contains("time-out"),
        "expected a time-out in the server log, got {line:?}"
    );
}

#[test]
fn two_clients_one_after_another() {
    let (mut server, addr) = start_server(&["--max-clients", "2"]);
    let mut expected = vec![format!("listening on {addr}")];
    for message in [&b"from the first client\n"[..], b"from the second client\n"] {
        let mut client = connect(addr);
        let local = client.local_addr().expect("reading our address");
        echo_round_trip(&mut client, message, "the server");
        client
            .shutdown(Shutdown::Write)
            .expect("shutting down the write half");
        assert_eq!(read_to_end_of_stream(&mut client, "the server"), b"");
        assert_eq!(server.next_line(), format!("client {local} connected"));
        assert_eq!(
            server.next_line(),
            format!(
                "client {local} disconnected ({} bytes echoed)",
                message.len()
            )
        );
        expected.push(format!("client {local} connected"));
        expected.push(format!(
            "client {local} disconnected ({} bytes echoed)",
            message.len()
        ));
    }
    let finished = server.finish();
    assert!(
        finished.status.success() && finished.stdout == expected,
        "--max-clients 2 should end the server with 0, after exactly these lines: \
         {expected:#?}\n{}",
        finished.describe()
    );
}

#[test]
fn the_second_client_waits_until_the_first_leaves() {
    let (mut server, addr) = start_server(&[]);
    let mut first = connect(addr);
    let first_addr = first.local_addr().expect("reading our address");
    echo_round_trip(&mut first, b"first\n", "the server");
    assert_eq!(server.next_line(), format!("client {first_addr} connected"));

    // The second client's connect succeeds: the kernel completes the
    // handshake and queues the connection (the listen backlog) although the
    // server has not called accept. Its line goes into the server's
    // receive buffer and waits there.
    let mut second = connect(addr);
    let second_addr = second.local_addr().expect("reading our address");
    second
        .write_all(b"second\n")
        .expect("sending from the second client");

    // The server is still busy with the first client: it answers it...
    echo_round_trip(&mut first, b"still the first\n", "the server");
    // ...has not even accepted the second (no log line)...
    assert_eq!(
        line_if_any(&mut server),
        None,
        "the server logged something for the second client"
    );
    // ...and has sent the second nothing. (A non-blocking read checks what
    // has arrived right now, without waiting.)
    second
        .set_nonblocking(true)
        .expect("making the socket non-blocking");
    let mut buffer = [0u8; 64];
    match second.read(&mut buffer) {
        Err(err) if err.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the second client got an answer while the first was served: {other:?}"),
    }
    second
        .set_nonblocking(false)
        .expect("making the socket blocking again");

    // The first client leaves; only now does the server take the second.
    first
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(read_to_end_of_stream(&mut first, "the server"), b"");
    assert_eq!(
        server.next_line(),
        format!("client {first_addr} disconnected (22 bytes echoed)")
    );
    assert_eq!(
        server.next_line(),
        format!("client {second_addr} connected")
    );
    expect_bytes(&mut second, b"second\n", "the server");
}

#[test]
fn a_client_that_connects_and_leaves_at_once() {
    let (mut server, addr) = start_server(&["--max-clients", "2"]);
    let client = connect(addr);
    let local = client.local_addr().expect("reading our address");
    drop(client);
    assert_eq!(server.next_line(), format!("client {local} connected"));
    assert_eq!(
        server.next_line(),
        format!("client {local} disconnected (0 bytes echoed)")
    );
    // And the next client is served.
    let mut next = connect(addr);
    let next_addr = next.local_addr().expect("reading our address");
    echo_round_trip(&mut next, b"still there?\n", "the server");
    drop(next);
    assert_eq!(server.next_line(), format!("client {next_addr} connected"));
    assert_eq!(
        server.next_line(),
        format!("client {next_addr} disconnected (13 bytes echoed)")
    );
    let finished = server.finish();
    assert!(
        finished.status.code() == Some(0) && finished.stdout.len() == 5,
        "--max-clients 2 should end the server with 0 and nothing more logged\n{}",
        finished.describe()
    );
}

#[test]
fn a_client_that_resets_mid_message_does_not_stop_the_server() {
    let (mut server, addr) = start_server(&[]);
    let mut client = connect(addr);
    let local = client.local_addr().expect("reading our address");
    // Half a line, no "\n": the server echoes bytes, so it comes back anyway.
    echo_round_trip(&mut client, b"half a li", "the server");
    // SO_LINGER with a zero time-out makes close() send a reset (RST)
    // instead of the polite FIN: the server's read fails with
    // "connection reset". std::net cannot set it; socket2 can.
    reset_on_close(&client);
    drop(client);

    assert_eq!(server.next_line(), format!("client {local} connected"));
    assert_eq!(
        server.next_line(),
        format!("client {local} disconnected (9 bytes echoed): connection reset by the client")
    );
    let mut next = connect(addr);
    echo_round_trip(&mut next, b"the next client is served\n", "the server");
}

#[test]
fn a_client_that_never_speaks_is_dropped_after_the_idle_timeout() {
    let (mut server, addr) = start_server(&["--timeout", "1"]);
    let mut silent = connect(addr);
    let local = silent.local_addr().expect("reading our address");
    assert_eq!(server.next_line(), format!("client {local} connected"));
    // We say nothing. After 1 s the server gives up and closes: our read
    // returns end of stream (bounded by our own 5 s read time-out).
    assert_eq!(read_to_end_of_stream(&mut silent, "the server"), b"");
    assert_eq!(
        server.next_line(),
        format!(
            "client {local} disconnected (0 bytes echoed): time-out, no progress for 1s \
             (the client sent nothing, or stopped reading its echo)"
        )
    );
    let mut next = connect(addr);
    echo_round_trip(&mut next, b"my turn\n", "the server");
}

#[test]
fn invalid_utf8_and_any_bytes_come_back_exactly() {
    // The server never decodes text: invalid UTF-8, NUL, a lone "\r", and a
    // last line without "\n" all come back as they were sent.
    let (_server, addr) = start_server(&[]);
    let mut client = connect(addr);
    let bytes = b"\xff\xfe\x00 not utf-8 \xc3\x28\r\nno newline at the end";
    client.write_all(bytes).expect("sending the bytes");
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    let echo = read_to_end_of_stream(&mut client, "the server");
    assert_eq!(
        echo,
        bytes,
        "sent {}, received {}",
        escaped(bytes),
        escaped(&echo)
    );
}

#[test]
fn a_server_whose_log_nobody_reads_serves_3000_clients_in_a_row() {
    // After its first line nobody reads the server's stdout, like a terminal
    // paused with Ctrl-S or a `| less` nobody scrolls. The pipe holds 64 KiB,
    // about 900 clients' worth of log lines; a server that wrote its log
    // from the serving code would block in that write and stop serving.
    const CLIENTS: usize = 3000;
    let (_server, addr) = start_server_with_unread_stdout(&[]);
    // The pipe cannot be full before this many clients have been logged.
    const PIPE_FULL_AFTER: usize = 500;
    for n in 1..=CLIENTS {
        if let Err(problem) = one_echo(addr) {
            let hint = if n <= PIPE_FULL_AFTER {
                "hint: this early the log's pipe still has room, so the unread log is not the \
                 cause: the echo itself goes wrong; the other tests in tests/server.rs say how"
            } else {
                "hint: nobody reads the server's stdout, so once the pipe is full a write to \
                 it blocks; does the serving code write its log itself, instead of handing \
                 the lines to the log writer?"
            };
            panic!("client {n} of {CLIENTS} was not served: {problem}\n{hint}");
        }
    }
}

/// One client: connects, sends `x\n`, reads its echo, leaves. Says what
/// went wrong instead of panicking, so the caller can say which client.
fn one_echo(addr: SocketAddr) -> Result<(), String> {
    let stream = TcpStream::connect_timeout(&addr, SOCKET_WAIT)
        .map_err(|err| format!("connecting: {}", describe_io_error(&err)))?;
    let mut stream = with_timeouts(stream);
    stream
        .write_all(b"x\n")
        .map_err(|err| format!("sending \"x\\n\": {}", describe_io_error(&err)))?;
    let mut echo = [0u8; 2];
    let mut filled = 0;
    while filled < echo.len() {
        match stream.read(&mut echo[filled..]) {
            Ok(0) => {
                return Err(format!(
                    "the server closed after {} of the echo",
                    escaped(&echo[..filled])
                ));
            }
            Ok(n) => filled += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => {
                return Err(format!(
                    "sent \"x\\n\", received {}, then {}",
                    escaped(&echo[..filled]),
                    describe_io_error(&err)
                ));
            }
        }
    }
    if echo != *b"x\n" {
        return Err(format!("sent \"x\\n\", received {}", escaped(&echo)));
    }
    Ok(())
}

#[test]
fn out_of_descriptors_the_server_backs_off_and_serves_again_later() {
    // Lower the running server's limit on open descriptors (in that process
    // only) to the number its next accept would get: every accept then
    // fails with "Too many open files" (EMFILE), and keeps failing, while
    // the client waits in the listen queue.
    let (mut server, addr) = start_server(&[]);
    let pid = server.pid();
    let limit = lowest_free_descriptor(pid);
    if let Err(why) = set_descriptor_limit(pid, limit) {
        println!("skipped: {why}");
        return;
    }
    // If the server was already waiting in accept when the limit came
    // down, Linux had given that accept its descriptor: the next client
    // still gets in. This one leaves at once, so that either way the server
    // is soon back in an accept that needs a new descriptor.
    drop(connect(addr));
    let mut client = connect(addr);
    send(&mut client, b"are you there?\n", "the server");

    let first = server.next_stderr_line();
    let expected = "error: cannot accept a client: Too many open files (os error 24)";
    assert_eq!(first, expected, "the server's first error line");
    // A server that retried at once would print thousands of these lines a
    // second and spin a CPU. Ours pauses 0.1 s after such an error: about 20
    // lines in 2 s. (The wait here measures a rate; it waits for nothing.)
    let period = Duration::from_secs(2);
    let started = Instant::now();
    thread::sleep(period);
    let elapsed = started.elapsed();
    let errors = server.stderr_so_far();
    let count = errors.lines().filter(|line| *line == expected).count();
    let others: Vec<_> = errors.lines().filter(|line| *line != expected).collect();
    assert!(
        count <= 40 && others.is_empty(),
        "in {elapsed:?} the server printed {count} more \"{expected}\" lines (at most 40 \
         expected: it should pause after an error that does not go away by itself), and \
         these other lines: {others:?}\nhint: does the accept loop retry at once?"
    );

    // Give the server descriptors again: the waiting client is accepted and
    // served.
    set_descriptor_limit(pid, limit + 64).expect("raising the limit again");
    expect_bytes(&mut client, b"are you there?\n", "the server");
}

#[test]
fn listens_on_ipv6_loopback_written_bare_or_in_brackets() {
    if !ipv6_loopback_available() {
        return;
    }
    for host in ["::1", "[::1]"] {
        let (_server, addr) = start_server(&["--host", host]);
        assert!(
            addr.is_ipv6() && addr.ip().is_loopback(),
            "with --host {host} the server should listen on [::1], it said {addr}"
        );
        let mut client = connect(addr);
        echo_round_trip(&mut client, b"over IPv6\n", "the server");
    }
}

#[test]
fn a_server_stopped_and_continued_keeps_its_client() {
    // Ctrl-Z and `fg` on the server while it waits for its client's next
    // bytes: its read, which has a time-out, fails with "Interrupted", and
    // it must read again, not hang up on the client.
    let (mut server, addr) = start_server(&[]);
    let mut client = connect(addr);
    echo_round_trip(&mut client, b"before\n", "the server");
    let local = client.local_addr().expect("reading our address");
    assert_eq!(server.next_line(), format!("client {local} connected"));
    stop_and_continue(&server);
    echo_round_trip(&mut client, b"after\n", "the server");
    assert_eq!(
        line_if_any(&mut server),
        None,
        "the server logged something about a client it should still be serving"
    );
}
