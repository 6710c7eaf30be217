//! Every client is a file descriptor. The server raises its open-file
//! limit at start, serves no more clients than fit in it (and says so), and
//! when `accept` still runs out of descriptors, a new client is told the
//! server is busy instead of waiting in silence.
//!
//! Linux only: the limits are set on the child with `sh -c 'ulimit ...'` or
//! with `prlimit`, and read back from /proc. The test process keeps its own.
#![cfg(target_os = "linux")]

mod common;

use std::io::Read;

use common::lesson::{
    lowest_free_descriptor, open_file_limits, serving_line, set_open_file_limit, summary_line,
};
use common::{
    assert_wire, connect, echo_round_trip, leave, read_to_end_of_stream, spawn_with_ulimit,
    start_server, start_server_with_ulimit,
};

#[test]
fn a_low_soft_limit_is_raised_to_the_hard_limit() {
    // Soft limit 64, hard limit untouched (the test process's own).
    let (mut server, addr) = start_server_with_ulimit("-S -n 64", &["--max-connections", "100"]);
    let (soft, hard) = open_file_limits(server.pid());
    assert_eq!(
        soft, hard,
        "the server should have raised its soft open-file limit (started at 64) to the hard one"
    );
    assert_eq!(server.next_line(), serving_line(100, "on"));
    // 70 clients at once: more than 64 descriptors in the server.
    let mut clients: Vec<_> = (0..70).map(|_| connect(addr)).collect();
    for (n, client) in clients.iter_mut().enumerate() {
        echo_round_trip(
            client,
            format!("client {n}\n").as_bytes(),
            &format!("the server (client {n} of 70, past a soft limit of 64)"),
        );
    }
    assert_eq!(
        server.stderr_so_far(),
        "",
        "nothing to warn about once the limit is raised"
    );
}

#[test]
fn when_max_connections_cannot_fit_the_server_says_so_and_serves_what_fits() {
    // 24 descriptors, soft and hard: 16 for the server itself leave 8.
    let (mut server, addr) = start_server_with_ulimit("-n 24", &["--max-connections", "100"]);
    assert_eq!(server.next_line(), serving_line(8, "on"));
    assert_eq!(
        server.next_stderr_line(),
        "warning: serving at most 8 clients at once, not 100: each client is an open file, \
         and this process may have only 24 open (ulimit -n), 16 of them for the server itself"
    );
    let mut clients: Vec<_> = (0..8).map(|_| connect(addr)).collect();
    for (n, client) in clients.iter_mut().enumerate() {
        echo_round_trip(
            client,
            b"fits\n",
            &format!("the server (client {n} of the 8 that fit)"),
        );
    }
    let mut ninth = connect(addr);
    let reply = read_to_end_of_stream(&mut ninth, "the server (a ninth client)");
    assert_wire(
        "the server (to a ninth client, when 8 fit)",
        &reply,
        b"ERR server busy\n",
    );
}

#[test]
fn asking_for_exactly_what_fits_is_no_reason_to_warn() {
    let (mut server, _addr) = start_server_with_ulimit("-n 24", &["--max-connections", "8"]);
    assert_eq!(server.next_line(), serving_line(8, "on"));
    server.signal("INT");
    let finished = server.finish();
    assert!(
        finished.status.success() && finished.stderr.is_empty(),
        "8 clients fit in 24 descriptors: no warning expected\n{}",
        finished.describe()
    );
}

#[test]
fn a_limit_that_leaves_no_room_for_clients_is_an_error() {
    let finished = spawn_with_ulimit("-n 16", &["server", "--port", "0"]).finish();
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert!(finished.stdout.is_empty(), "{}", finished.describe());
    assert_eq!(
        finished.stderr,
        "error: the open-file limit (16, see ulimit -n) leaves no room for clients: the server \
         keeps 16 descriptors for itself; raise it with ulimit -n before starting the server\n",
        "{}",
        finished.describe()
    );
}

#[test]
fn out_of_descriptors_a_new_client_is_told_busy_not_left_waiting() {
    let (mut server, addr) = start_server(&["--max-connections", "100", "--grace", "1"]);
    let mut clients: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    for (n, client) in clients.iter_mut().enumerate() {
        echo_round_trip(client, b"before\n", &format!("the server (client {n})"));
    }
    // Lower the running server's limit, from outside, as `prlimit --pid`
    // would, to exactly the descriptors it holds now: its next `accept`
    // fails with EMFILE.
    let held = lowest_free_descriptor(server.pid());
    set_open_file_limit(server.pid(), held);
    // Two more clients. The second is told the server is busy. The first
    // may be served all the same: Linux takes the descriptor for the next
    // connection when `accept` starts to wait, so if the server's `accept`
    // was already waiting when the limit changed, it has one in hand.
    let mut maybe = connect(addr);
    let mut late = connect(addr);
    let reply = read_to_end_of_stream(
        &mut late,
        "the server (a client when it has no descriptor left)",
    );
    assert_wire(
        "the server (to a client when it has no descriptor left)",
        &reply,
        b"ERR server busy\n",
    );
    let late_addr = late.local_addr().expect("reading the client's address");
    server.line_containing(&format!(
        "client {late_addr} turned away: out of file descriptors"
    ));
    // The first was accepted before the second: if it was turned away, its
    // reply is here already.
    maybe
        .set_nonblocking(true)
        .expect("making the socket non-blocking");
    let mut peek = [0u8; 1];
    let maybe_served = matches!(
        maybe.read(&mut peek),
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock
    );
    maybe
        .set_nonblocking(false)
        .expect("making the socket blocking again");
    if maybe_served {
        echo_round_trip(
            &mut maybe,
            b"before\n",
            "the server (a client accepted by the accept that was already waiting)",
        );
        clients.push(maybe);
    } else {
        let mut reply = peek.to_vec();
        reply.extend(read_to_end_of_stream(
            &mut maybe,
            "the server (the first client after the limit changed)",
        ));
        assert_wire(
            "the server (to the first client after the limit changed)",
            &reply,
            b"ERR server busy\n",
        );
    }
    assert_eq!(
        server.next_stderr_line(),
        "error: cannot accept a client: Too many open files (os error 24)"
    );

    // The connected clients go on; when one leaves, its descriptor serves
    // the next client.
    for (n, client) in clients.iter_mut().enumerate() {
        echo_round_trip(
            client,
            b"after\n",
            &format!("the server (client {n}, still served)"),
        );
    }
    let mut first = clients.remove(0);
    leave(&mut first, "the server (client 0 leaving)");
    drop(first);
    server.line_containing("disconnected");
    let mut next = connect(addr);
    echo_round_trip(
        &mut next,
        b"my turn\n",
        "the server (a client after one left)",
    );

    // And it still stops on SIGINT, though it has no descriptor to spare
    // for the wake-up connection.
    server.signal("INT");
    let finished = server.finish_within(std::time::Duration::from_secs(3));
    assert!(finished.status.success(), "{}", finished.describe());
    assert_eq!(
        finished.stdout.last(),
        Some(&if maybe_served {
            summary_line(5, 1, 4 * 7 + 4 * 6 + 8)
        } else {
            summary_line(4, 2, 3 * 7 + 3 * 6 + 8)
        }),
        "{}",
        finished.describe()
    );
}

#[test]
fn with_no_descriptor_even_for_the_spare_the_accept_loop_pauses_and_recovers() {
    let (server, addr) = start_server(&["--grace", "1"]);
    let mut first = connect(addr);
    echo_round_trip(&mut first, b"before\n", "the server (a first client)");
    // A limit below what the server holds: not even the spare can be
    // opened again, so every `accept` fails. The loop must pause after
    // each failure instead of spinning: at most about 10 tries a second.
    set_open_file_limit(server.pid(), 3);
    let mut waiting = connect(addr);
    // The window in which we count the server's error lines.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let errors = server.stderr_so_far();
    let count = errors.lines().count();
    assert!(
        (1..=20).contains(&count),
        "in 1 s out of descriptors the server printed {count} error lines: it should pause \
         (100 ms) after each failed accept, not spin; the first ones:\n{}",
        errors.lines().take(5).collect::<Vec<_>>().join("\n")
    );
    assert!(
        errors.starts_with("error: cannot accept a client: Too many open files (os error 24)\n"),
        "{errors}"
    );
    // Descriptors again: the client that waited is served.
    set_open_file_limit(server.pid(), 1024);
    echo_round_trip(
        &mut waiting,
        b"finally\n",
        "the server (a client that waited while the server had no descriptor)",
    );
    leave(&mut waiting, "the server (the waiting client leaving)");
    leave(&mut first, "the server (the first client leaving)");
    server.signal("INT");
    let finished = server.finish_within(std::time::Duration::from_secs(3));
    assert!(finished.status.success(), "{}", finished.describe());
    assert_eq!(
        finished.stdout.last(),
        Some(&summary_line(2, 0, 7 + 8)),
        "{}",
        finished.describe()
    );
}
