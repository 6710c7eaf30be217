//! The chapter's exercises, each checked by a test that drives the real
//! programs. They are ignored by default: the lesson as it stands does not
//! do what they ask, so each fails until its exercise is done. Run one with
//!
//! ```sh
//! cargo test -p lesson-02-client --test exercises -- --ignored exercise_1
//! ```
//!
//! A failure message starts with what the exercise asks and goes on with
//! what is still missing. The solutions are in `solutions/`, one patch per
//! exercise; each is one way to do it among several. The questions some
//! exercises end with are answered in `solutions/answers.md`.

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::lesson::{DEFAULT_GREETING, DEFAULT_MESSAGE, accept_client};
use common::{
    Finished, Running, connect, escaped, fake_server, read_line, start_client,
    try_read_to_end_of_stream, try_start_server,
};

/// Starts the server with `args`, or fails with what exercise `n` asks
/// (`asks`) and how the server refused to start.
#[track_caller]
fn start_for_exercise(n: u32, asks: &str, args: &[&str]) -> (Running, SocketAddr) {
    match try_start_server(args) {
        Ok(started) => started,
        Err(finished) => panic!(
            "exercise {n} asks {asks}; started with {args:?}, the server did not start: {}\n\
             hint: a flag the server does not take yet, or takes only once, is a usage error \
             (exit status 2)",
            outcome(&finished)
        ),
    }
}

/// Starts the real client against a listener of the test's own, and
/// returns the client and the test's end of the connection.
#[track_caller]
fn client_with_fake_server(args: &[&str]) -> (Running, TcpStream) {
    let (listener, addr) = fake_server();
    let mut client = start_client(addr, args, b"");
    let stream = accept_client(&listener, &mut client);
    (client, stream)
}

/// A program's exit and output, for a failure message.
fn outcome(finished: &Finished) -> String {
    format!(
        "it exited with {}; stdout: {:?}; stderr: {:?}",
        finished.status, finished.stdout, finished.stderr
    )
}

/// Reads one line from `who`, and fails with exercise `n`'s words if it is
/// not `expected` (a line, `"\n"` included).
#[track_caller]
fn expect_line(stream: &mut TcpStream, who: &str, expected: &str, n: u32, what: &str) {
    let line = read_line(stream, who);
    assert!(
        line == expected.as_bytes(),
        "exercise {n}: {what}: expected {} from {who}, it sent {}",
        escaped(expected.as_bytes()),
        escaped(&line)
    );
}

/// Reads until `who` ends its stream, and returns what arrived; fails with
/// exercise `n`'s words if the stream does not end.
#[track_caller]
fn until_end_of_stream(stream: &mut TcpStream, who: &str, n: u32, what: &str) -> Vec<u8> {
    match try_read_to_end_of_stream(stream) {
        Ok(received) => received,
        Err((received, why)) => panic!(
            "exercise {n}: {what}: waiting for {who} to end its stream, it sent {}, then {why}",
            escaped(&received)
        ),
    }
}

// ---------------------------------------------------------------------------
// Exercise 1: a conversation
// ---------------------------------------------------------------------------

#[test]
#[ignore = "exercise 1: a conversation"]
fn exercise_1_two_questions_and_two_answers() {
    let asks = "the server to take --greeting more than once and ask each in turn, reading a \
                reply line after each";
    let (server, addr) = start_for_exercise(
        1,
        asks,
        &[
            "--greeting",
            "What is your name?",
            "--greeting",
            "Where are you from?",
        ],
    );
    let mut client = connect(addr);
    let client_addr = client.local_addr().expect("reading our address");
    expect_line(
        &mut client,
        "the server",
        "What is your name?\n",
        1,
        "the first question",
    );
    // Both answers in one write: they may arrive in one read, and the
    // second one must wait in the server's buffer for its question.
    client
        .write_all(b"Ada\nParis\n")
        .expect("sending both answers");
    expect_line(
        &mut client,
        "the server",
        "Where are you from?\n",
        1,
        "after the first answer, the second question",
    );
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down our write half");
    let after = until_end_of_stream(&mut client, "the server", 1, "after the last answer");
    let finished = server.finish();
    let expected = [
        format!("listening on {addr}"),
        format!("client {client_addr} connected"),
        "client says: Ada".to_string(),
        "client says: Paris".to_string(),
    ];
    assert!(
        after.is_empty()
            && finished.status.success()
            && finished.stderr.is_empty()
            && finished.stdout == expected,
        "exercise 1 asks {asks}; this client sent \"Ada\\nParis\\n\" in one write, then shut \
         down: the server should print {expected:#?}, exit 0, and close with nothing more \
         sent (it sent {})\n{}\nhint: keep one BufReader for the whole connection: a new one \
         would not see the bytes the first one already took from the socket",
        escaped(&after),
        finished.describe()
    );

    // The client, against a server that asks both questions in one write.
    let asks = "the client to take --message more than once and answer each line the server \
                sends with the next message";
    let (client, mut server) = client_with_fake_server(&["--message", "Ada", "--message", "Paris"]);
    server
        .write_all(b"What is your name?\nWhere are you from?\n")
        .expect("sending both questions");
    let answers = until_end_of_stream(&mut server, "the client", 1, asks);
    drop(server);
    let finished = client.finish();
    let expected = [
        "server says: What is your name?",
        "server says: Where are you from?",
    ];
    assert!(
        answers == b"Ada\nParis\n"
            && finished.status.success()
            && finished.stderr.is_empty()
            && finished.stdout == expected,
        "exercise 1 asks {asks}; against a server that sent both questions at once, the \
         client should send \"Ada\\nParis\\n\" (it sent {}), print {expected:?} and exit 0\n{}",
        escaped(&answers),
        finished.describe()
    );
}

// ---------------------------------------------------------------------------
// Exercise 2: prove that reads are not messages
// ---------------------------------------------------------------------------

/// Takes the `read ...` lines off the front of `lines` and checks that,
/// together, they show exactly `text`, cut anywhere; returns how many reads
/// there were, or what did not fit.
fn count_reads_of(lines: &[String], text: &str) -> Result<usize, String> {
    let mut rest = text;
    let mut reads = 0;
    for line in lines {
        if rest.is_empty() {
            break;
        }
        // `read "Hi" (2 bytes)`: the bytes of one read, shown as the
        // lesson's `show_bytes` shows them.
        let piece = (1..=rest.len())
            .filter(|&end| rest.is_char_boundary(end))
            .map(|end| &rest[..end])
            .find(|piece| *line == format!("read {piece:?} ({} bytes)", piece.len()));
        let Some(piece) = piece else {
            return Err(format!(
                "{line:?} is not `read \"...\" (N bytes)` for the next bytes of {rest:?}"
            ));
        };
        rest = &rest[piece.len()..];
        reads += 1;
    }
    if rest.is_empty() {
        Ok(reads)
    } else {
        Err(format!("no `read` line showed {rest:?}"))
    }
}

#[test]
#[ignore = "exercise 2: prove that reads are not messages"]
fn exercise_2_one_reply_sent_byte_by_byte_takes_many_reads_and_is_one_line() {
    let asks = "for --show-reads: the server prints `read \"...\" (N bytes)` for every read \
                from the socket, so that you can see how a line arrives";
    let (server, addr) = start_for_exercise(2, asks, &["--show-reads"]);
    let mut client = connect(addr);
    let client_addr = client.local_addr().expect("reading our address");
    expect_line(
        &mut client,
        "the server",
        &format!("{DEFAULT_GREETING}\n"),
        2,
        "the greeting",
    );

    // One byte per write, each in a segment of its own (no Nagle), 50 ms
    // apart: the server's reads find one byte, or a few, not the line.
    client.set_nodelay(true).expect("setting TCP_NODELAY");
    let reply = "Hi there\n";
    for byte in reply.bytes() {
        client.write_all(&[byte]).expect("sending one byte");
        thread::sleep(Duration::from_millis(50));
    }
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down our write half");
    let finished = server.finish();

    let out = &finished.stdout;
    let heard = "client says: Hi there".to_string();
    let start = [
        format!("listening on {addr}"),
        format!("client {client_addr} connected"),
    ];
    assert!(
        finished.status.success()
            && finished.stderr.is_empty()
            && out.len() >= 4
            && out[..2] == start
            && out.last() == Some(&heard),
        "exercise 2 asks {asks}; a client that sent \"Hi there\\n\" one byte at a time should \
         see the server print {start:?}, then a `read` line per read, then {heard:?}, and exit \
         0\n{}",
        finished.describe()
    );
    let reads = &out[2..out.len() - 1];
    match count_reads_of(reads, reply) {
        Ok(count) => assert!(
            count >= 2,
            "exercise 2: nine bytes sent 50 ms apart cannot all arrive in one read, but the \
             server printed one read for the whole line: {reads:?} (hint: print in the reader \
             the BufReader reads from, not after read_line)"
        ),
        Err(why) => panic!(
            "exercise 2 asks {asks}; the `read` lines should show, in order, exactly the bytes \
             \"Hi there\\n\", however they were cut; {why}; they were {reads:?}"
        ),
    }
}

// ---------------------------------------------------------------------------
// Exercise 3: one deadline for the whole conversation
// ---------------------------------------------------------------------------

#[test]
#[ignore = "exercise 3: one deadline for the whole conversation"]
fn exercise_3_the_client_gives_up_timeout_after_it_connected() {
    // A server that greets after 3 s, reads the message, and never closes.
    // With a time-out per step the client waits 3 s + 4 s; with one
    // deadline it gives up 4 s after it connected.
    let (mut client, mut server) = client_with_fake_server(&["--timeout", "4"]);
    let connected = Instant::now();
    thread::sleep(Duration::from_secs(3));
    server
        .write_all(format!("{DEFAULT_GREETING}\n").as_bytes())
        .expect("sending the greeting");
    let message = until_end_of_stream(&mut server, "the client", 3, "the client's message");
    assert!(
        message == format!("{DEFAULT_MESSAGE}\n").as_bytes(),
        "exercise 3: the client should still send {:?} and shut down; it sent {}",
        format!("{DEFAULT_MESSAGE}\n"),
        escaped(&message)
    );
    let limit = Duration::from_millis(5500);
    let exited = client.exited_within(limit.saturating_sub(connected.elapsed()));
    if exited.is_none() {
        panic!(
            "exercise 3 asks the client to make --timeout the limit for the whole \
             conversation, from connect to the server's close; with --timeout 4, against a \
             server that greeted after 3 s and then never closed, the client was still \
             waiting {:.1} s after it connected\nhint: compute the deadline once, and let \
             each wait take what is left of it instead of restarting it",
            connected.elapsed().as_secs_f64()
        );
    }
    drop(server);
    let finished = client.finish();
    let error = "error: waiting for the server to close the connection: the conversation was \
                 not over within 4s (--timeout)\n";
    assert!(
        finished.status.code() == Some(1) && finished.stderr == error,
        "exercise 3: a client whose deadline passed while it waited for the server's close \
         should exit 1 with stderr {error:?}\n{}",
        finished.describe()
    );

    // The deadline is for the whole conversation, not shorter steps: a
    // server that greets at once and closes 2.5 s later is in time.
    let (client, mut server) = client_with_fake_server(&["--timeout", "4"]);
    server
        .write_all(format!("{DEFAULT_GREETING}\n").as_bytes())
        .expect("sending the greeting");
    until_end_of_stream(&mut server, "the client", 3, "the client's message");
    thread::sleep(Duration::from_millis(2500));
    drop(server);
    let finished = client.finish();
    assert!(
        finished.status.success() && finished.stderr.is_empty(),
        "exercise 3: a server that greets at once and closes 2.5 s later is within \
         --timeout 4 for the whole conversation: the client should exit 0\n{}",
        finished.describe()
    );
}

// ---------------------------------------------------------------------------
// Exercise 4: say goodbye
// ---------------------------------------------------------------------------

#[test]
#[ignore = "exercise 4: say goodbye"]
fn exercise_4_the_server_says_goodbye_and_the_client_prints_it() {
    let (server, addr) = start_for_exercise(4, "the server to say goodbye", &[]);
    let mut client = connect(addr);
    read_line(&mut client, "the server");
    client.write_all(b"Hi\n").expect("sending the reply");
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down our write half");
    let after = until_end_of_stream(&mut client, "the server", 4, "after the reply");
    assert!(
        after == b"Goodbye!\n",
        "exercise 4 asks the server to answer the client's reply with \"Goodbye!\\n\" before \
         it closes; after \"Hi\\n\" and our end of stream it sent {}",
        escaped(&after)
    );
    let finished = server.finish();
    assert!(
        finished.status.success()
            && finished.stdout.last().map(String::as_str) == Some("client says: Hi"),
        "exercise 4: the server should still print the reply and exit 0\n{}",
        finished.describe()
    );

    // The client prints the goodbye.
    let asks = "the client to read the server's goodbye line after its message and print it \
                as `server says: ...`";
    let (client, mut server) = client_with_fake_server(&[]);
    server
        .write_all(format!("{DEFAULT_GREETING}\n").as_bytes())
        .expect("sending the greeting");
    until_end_of_stream(&mut server, "the client", 4, "the client's message");
    server
        .write_all(b"Goodbye!\n")
        .expect("sending the goodbye");
    drop(server);
    let finished = client.finish();
    let expected = [
        format!("server says: {DEFAULT_GREETING}"),
        "server says: Goodbye!".to_string(),
    ];
    assert!(
        finished.status.success() && finished.stderr.is_empty() && finished.stdout == expected,
        "exercise 4 asks {asks}; against a server that sent the greeting and, after our \
         message, \"Goodbye!\\n\", the client should print {expected:#?} and exit 0\n{}",
        finished.describe()
    );

    // A server that closes without a goodbye (lesson 01's kind) is fine.
    let (client, mut server) = client_with_fake_server(&[]);
    server
        .write_all(format!("{DEFAULT_GREETING}\n").as_bytes())
        .expect("sending the greeting");
    until_end_of_stream(&mut server, "the client", 4, "the client's message");
    drop(server);
    let finished = client.finish();
    assert!(
        finished.status.success()
            && finished.stderr.is_empty()
            && finished.stdout == [format!("server says: {DEFAULT_GREETING}")],
        "exercise 4: the goodbye is a courtesy: a server that closes without one is still a \
         normal end, so the client should print only the greeting and exit 0\n{}\nhint: \
         `read_line` says `LineError::Closed` when the stream ends before a line begins: here \
         that is not an error",
        finished.describe()
    );
}
