//! The chapter's exercises, checked. Each test is ignored by default: on the
//! lesson as it stands it fails, with a message that says what its exercise
//! asks for and what is still missing; once the exercise is done it passes.
//! Run one with, for example,
//!
//! ```sh
//! cargo test -p lesson-05-threaded --test exercises -- --ignored exercise_1
//! ```
//!
//! The tests drive the real binary, like the lesson's own tests, so a flag
//! or a subcommand that does not exist yet is a clear failure at run time,
//! not a compile error. Exercise 4 is a question, and exercise 5 ends with
//! two: the answers are in `solutions/answers.md`, next to a solution patch
//! for each test here.

mod common;

use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::lesson::{
    bytes_within, connect_from, lines_containing_all, start_exercise_server, stdout_so_far,
    summary_line,
};
use common::{
    assert_wire, connect, echo_round_trip, escaped, expect_bytes, leave, read_line,
    read_to_end_of_stream, send, start_server, try_read_to_end_of_stream,
};

/// What exercise 1 asks the server to send before it closes a connection.
const GOODBYE: &[u8] = b"ERR server shutting down\n";

#[test]
#[ignore = "exercise 1: say goodbye"]
fn exercise_1_a_client_still_connected_at_the_end_reads_goodbye() {
    let (mut server, addr) = start_server(&["--grace", "1"]);
    let mut client = connect(addr);
    echo_round_trip(
        &mut client,
        b"still here\n",
        "the server (a client that stays to the end)",
    );
    server.line_containing("connected");

    server.signal("INT");
    // The client says nothing more: after the 1 s grace period the server
    // closes its connection, and whatever came before the end is the goodbye.
    let rest = read_to_end_of_stream(
        &mut client,
        "the server (closing a client that stayed past the grace period)",
    );
    assert!(
        rest == GOODBYE,
        "exercise 1 asks the server to send {} to each client still connected when the grace \
         period is over, just before it closes the connection; this client read {} and then \
         the end of the stream",
        escaped(GOODBYE),
        escaped(&rest)
    );
    let finished = server.finish();
    assert!(
        finished.status.success(),
        "after the goodbyes the server should exit 0 as before: {}",
        finished.describe()
    );
}

#[test]
#[ignore = "exercise 2: a second Ctrl-C means now"]
fn exercise_2_a_second_sigint_closes_the_connections_at_once() {
    let (mut server, addr) = start_server(&["--grace", "30"]);
    let mut first = connect(addr);
    echo_round_trip(&mut first, b"one\n", "the server (first client)");
    let mut second = connect(addr);
    echo_round_trip(&mut second, b"two\n", "the server (second client)");
    server.line_containing("connected");
    server.line_containing("connected");

    server.signal("INT");
    server.line_containing("shutting down");
    server.signal("INT");
    // The grace period is 30 s; 5 s is plenty for closing two connections
    // and joining two threads, even on a loaded machine.
    let limit = Duration::from_secs(5);
    let Some(status) = server.exited_within(limit) else {
        panic!(
            "exercise 2 asks that a second Ctrl-C (SIGINT) during the grace period close the \
             connections at once, instead of waiting for the clients to leave; with --grace 30 \
             and 2 clients connected, the server was still running {limit:?} after the second \
             SIGINT. Its stdout so far:\n{}",
            stdout_so_far(&mut server)
        );
    };
    let finished = server.finish();
    assert!(
        status.success(),
        "exercise 2: after the second SIGINT the server should still finish as usual and \
         exit 0; {}",
        finished.describe()
    );
    assert_eq!(
        finished.stdout.last(),
        Some(&summary_line(2, 0, 8)),
        "exercise 2: the last line should still be the summary, counted after every client \
         thread was joined; {}",
        finished.describe()
    );
    // Closed, not left hanging. (What came before the end does not matter
    // here: with exercise 1 done too, it is the goodbye.)
    read_to_end_of_stream(&mut first, "the server (closing the first client)");
    read_to_end_of_stream(&mut second, "the server (closing the second client)");
}

#[test]
#[ignore = "exercise 3: a limit per address"]
fn exercise_3_one_address_over_its_limit_is_turned_away_others_are_served() {
    let (mut server, addr) = start_exercise_server(
        "exercise 3 asks for `server --max-per-address N`",
        &["server", "--port", "0", "--max-per-address", "2"],
    );
    let mut first = connect(addr);
    echo_round_trip(&mut first, b"one\n", "the server (first client)");
    let mut second = connect(addr);
    echo_round_trip(&mut second, b"two\n", "the server (second client)");

    let mut third = connect(addr);
    let expected = b"ERR too many connections\n";
    // `None`: the stream ended, as it should; `Some(why)`: it did not.
    let (reply, not_ended) = match try_read_to_end_of_stream(&mut third) {
        Ok(reply) => (reply, None),
        Err((reply, why)) => (reply, Some(why)),
    };
    assert!(
        reply == expected && not_ended.is_none(),
        "exercise 3: with --max-per-address 2 and two clients from {} connected, a third one \
         from the same address should read {} and then the end of the stream; it read {}, \
         then {}. Server output so far:\n{}",
        addr.ip(),
        escaped(expected),
        escaped(&reply),
        not_ended.as_deref().unwrap_or("the end of the stream"),
        stdout_so_far(&mut server)
    );

    // 127.0.0.2 is loopback too, but to the server another address.
    let other_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut other = connect_from(other_ip, addr);
    echo_round_trip(
        &mut other,
        b"from elsewhere\n",
        "the server (a client from 127.0.0.2, while 127.0.0.1 is at its limit)",
    );

    // A place left by a client from 127.0.0.1 is free for the next one.
    leave(&mut first, "the server (first client leaving)");
    let mut fourth = connect(addr);
    echo_round_trip(
        &mut fourth,
        b"my turn\n",
        "the server (a new client from 127.0.0.1 after one of its two left)",
    );
    for (client, who) in [
        (&mut second, "second client"),
        (&mut other, "client from 127.0.0.2"),
        (&mut fourth, "fourth client"),
    ] {
        leave(client, &format!("the server ({who} leaving)"));
    }
}

#[test]
#[ignore = "exercise 5: a thread pool instead"]
fn exercise_5_with_a_pool_of_two_a_third_client_waits_for_a_free_thread() {
    let (_server, addr) = start_exercise_server(
        "exercise 5 asks for `server --pool N`",
        &["server", "--port", "0", "--pool", "2"],
    );
    // Each echo proves that client has one of the two threads.
    let mut first = connect(addr);
    echo_round_trip(&mut first, b"one\n", "the server (first client)");
    let mut second = connect(addr);
    echo_round_trip(&mut second, b"two\n", "the server (second client)");

    let mut third = connect(addr);
    send(&mut third, b"three\n", "the server (third client)");
    // Both threads are busy with clients that have not left: nothing may
    // come back yet. (A server with a thread per client echoes at once.)
    let early = bytes_within(&mut third, Duration::from_secs(1));
    assert!(
        early.is_empty(),
        "exercise 5 asks for a fixed pool of N threads: with --pool 2 and two clients \
         connected, a third client should wait for a free thread, but its echo came back at \
         once: {}; does every client still get a thread of its own?",
        escaped(&early)
    );

    // The first client leaves: its thread takes the third client.
    leave(&mut first, "the server (first client leaving)");
    let started = Instant::now();
    expect_bytes(
        &mut third,
        b"three\n",
        "the server (echo to the third client, once the first client left its thread free)",
    );
    let waited = started.elapsed();
    echo_round_trip(
        &mut second,
        b"still served\n",
        "the server (second client, still being served)",
    );
    leave(&mut second, "the server (second client leaving)");
    leave(&mut third, "the server (third client leaving)");
    assert!(
        waited < Duration::from_secs(5),
        "exercise 5: the third client's echo came {waited:?} after the first client left"
    );
}

/// One client of the chat, and what it has said so far.
struct Member {
    name: &'static str,
    stream: TcpStream,
    addr: SocketAddr,
    said: Vec<&'static str>,
}

impl Member {
    #[track_caller]
    fn join(name: &'static str, chat: SocketAddr) -> Member {
        let stream = connect(chat);
        let addr = stream.local_addr().expect("reading a client's address");
        Member {
            name,
            stream,
            addr,
            said: Vec::new(),
        }
    }

    /// Sends `text` (whole lines) in one write.
    #[track_caller]
    fn say(&mut self, text: &'static str) {
        let who = format!("the chat (client {})", self.name);
        send(&mut self.stream, text.as_bytes(), &who);
        self.said.extend(text.split_inclusive('\n'));
    }

    /// Reads one line and checks that it is `line` from `from`, relayed as
    /// `ADDR: line`; names the classic mistakes in the message.
    #[track_caller]
    fn hears(&mut self, from: &Member, line: &str) {
        let expected = format!("{}: {line}", from.addr).into_bytes();
        let who = format!(
            "the chat (to client {}, relaying {}'s line)",
            self.name, from.name
        );
        let received = read_line(&mut self.stream, &who);
        let own = self.said.iter().any(|said| {
            received == said.as_bytes() || received == format!("{}: {said}", self.addr).as_bytes()
        });
        assert!(
            !own,
            "exercise 6: client {} received its own line back, {}; the chat sends each line to \
             every *other* client, not to the one that sent it (expected {})",
            self.name,
            escaped(&received),
            escaped(&expected)
        );
        assert_wire(&who, &received, &expected);
    }
}

#[test]
#[ignore = "exercise 6: a broadcast chat"]
fn exercise_6_each_line_reaches_every_other_client_and_not_its_sender() {
    let (mut chat, addr) = start_exercise_server(
        "exercise 6 asks for a `chat` subcommand (a chat server)",
        &["chat", "--port", "0"],
    );
    let mut a = Member::join("a", addr);
    let mut b = Member::join("b", addr);
    let mut c = Member::join("c", addr);
    // Nobody speaks before all three have joined.
    lines_containing_all(
        &mut chat,
        &[&a, &b, &c].map(|member| format!("client {} connected", member.addr)),
    );

    a.say("hello from a\n");
    b.hears(&a, "hello from a\n");
    c.hears(&a, "hello from a\n");

    b.say("b here\n");
    a.hears(&b, "b here\n");
    c.hears(&b, "b here\n");

    // Two lines in one write: TCP keeps no boundaries, so the chat must
    // cut what it reads into lines and relay each with its own prefix.
    c.say("two lines\nin one write\n");
    for listener in [&mut a, &mut b] {
        listener.hears(&c, "two lines\n");
        listener.hears(&c, "in one write\n");
    }

    // a leaves: it must have been sent nothing more (none of its own lines
    // back), and the others go on without it.
    a.stream
        .shutdown(Shutdown::Write)
        .expect("shutting down client a's write half");
    let rest = read_to_end_of_stream(&mut a.stream, "the chat (to client a, leaving)");
    assert!(
        rest.is_empty(),
        "exercise 6: after client a shut down its write half, the chat should close its \
         connection with nothing more sent, but it sent {} first",
        escaped(&rest)
    );
    b.say("a has gone\n");
    c.hears(&b, "a has gone\n");

    leave(&mut b.stream, "the chat (client b leaving)");
    leave(&mut c.stream, "the chat (client c leaving)");
}
