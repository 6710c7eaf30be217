//! The `load` subcommand: against the real server it reports every round
//! trip done and no errors; against a server that echoes the wrong bytes,
//! stops early, never answers, or is not there, it reports errors and
//! exits 1; values out of bounds are usage errors.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use common::lesson::run_load;
use common::{
    Finished, accept, fake_server, free_port, read_exactly, read_to_end_of_stream, reset_on_close,
    run, send, start_server,
};

/// The fields of load's one line, checked for shape: `name=value` pairs in
/// this order, and the first five equal to what we expect.
fn check_line(
    finished: &Finished,
    clients: &str,
    rounds: &str,
    size: &str,
    round_trips: &str,
    errors: &str,
) {
    assert_eq!(
        finished.stdout.len(),
        1,
        "load should print one line: {}",
        finished.describe()
    );
    let line = &finished.stdout[0];
    let fields: Vec<(&str, &str)> = line
        .split(' ')
        .map(|field| {
            field
                .split_once('=')
                .unwrap_or_else(|| panic!("load printed {line:?}: {field:?} is not name=value"))
        })
        .collect();
    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "clients",
            "rounds",
            "size",
            "round_trips",
            "errors",
            "secs",
            "rtt_per_s",
            "p50_us",
            "p99_us",
            "max_us"
        ],
        "load printed {line:?}"
    );
    let values: Vec<&str> = fields.iter().map(|(_, value)| *value).collect();
    assert_eq!(
        values[..5],
        [clients, rounds, size, round_trips, errors],
        "load printed {line:?} (clients, rounds, size asked for; round trips done; errors)"
    );
    for (name, value) in &fields[5..] {
        assert!(
            value.parse::<f64>().is_ok(),
            "load printed {line:?}: {name} is not a number"
        );
    }
}

#[test]
fn load_against_the_server_reports_every_round_trip_and_no_errors() {
    let (_server, addr) = start_server(&[]);
    let finished = run_load(
        addr,
        &["--clients", "20", "--rounds", "50", "--size", "100"],
    );
    assert!(finished.status.success(), "{}", finished.describe());
    check_line(&finished, "20", "50", "100", "1000", "0");
}

#[test]
fn load_with_split_writes_against_a_nagle_server_still_checks_every_echo() {
    let (_server, addr) = start_server(&["--nagle"]);
    let finished = run_load(
        addr,
        &["--clients", "3", "--rounds", "5", "--size", "33", "--split"],
    );
    assert!(finished.status.success(), "{}", finished.describe());
    check_line(&finished, "3", "5", "33", "15", "0");
}

/// A broken echo server on threads of this test: each of its
/// `connections` clients is handled by `serve` on a thread of its own.
fn broken_server(connections: usize, serve: fn(TcpStream)) -> SocketAddr {
    let (listener, addr) = fake_server();
    thread::spawn(move || {
        for _ in 0..connections {
            let stream = accept(&listener);
            thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// Answers every read with the same bytes in upper case.
fn shout(mut stream: TcpStream) {
    let mut buffer = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            return;
        }
        buffer[..n].make_ascii_uppercase();
        send(&mut stream, &buffer[..n], "load (a shouted echo)");
    }
}

/// Echoes two 64-byte requests, reads a third, then closes politely
/// (shuts down its write half and waits for the client to close), so that
/// the client sees end of stream where the third echo should be.
fn echo_two_then_stop(mut stream: TcpStream) {
    for _ in 0..2 {
        let request = read_exactly(&mut stream, 64, "load (a request)");
        send(&mut stream, &request, "load (an echo)");
    }
    read_exactly(&mut stream, 64, "load (the third request)");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutting down the write half");
    read_to_end_of_stream(&mut stream, "load (after its third request)");
}

#[test]
fn load_against_a_server_that_echoes_wrong_bytes_reports_errors_and_exits_1() {
    let addr = broken_server(3, shout);
    let finished = run_load(addr, &["--clients", "3", "--rounds", "4", "--size", "16"]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    // Every client fails on its first round, and its other rounds count too.
    check_line(&finished, "3", "4", "16", "0", "12");
    // The first failure reported is client 0's, with the bytes on the wire.
    assert_eq!(
        finished.stderr,
        "error: 12 of 12 round trips failed: client 0 round 0: wrong echo: \
         sent \"0:0:abcdefghijk\\n\", received \"0:0:ABCDEFGHIJK\\n\"\n",
        "stderr should show the bytes sent and received"
    );
}

#[test]
fn a_client_that_fails_after_two_rounds_counts_two_round_trips_and_the_rest_as_errors() {
    let addr = broken_server(3, echo_two_then_stop);
    let finished = run_load(addr, &["--clients", "3", "--rounds", "5", "--size", "64"]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    // Each client: rounds 0 and 1 done, round 2 failed, 3 and 4 never sent.
    check_line(&finished, "3", "5", "64", "6", "9");
    assert_eq!(
        finished.stderr,
        "error: 9 of 15 round trips failed: client 0 round 2: the server closed the \
         connection after sending 0 of 64 bytes: \"\"\n",
        "{}",
        finished.describe()
    );
}

/// Echoes each 64-byte request in two pieces, 20 bytes then the rest, with
/// a pause between them long enough for `load` to read the first piece on
/// its own (the pause paces this fake server; nothing waits on it).
fn echo_in_two_pieces(mut stream: TcpStream) {
    for _ in 0..3 {
        let request = read_exactly(&mut stream, 64, "load (a request)");
        send(
            &mut stream,
            &request[..20],
            "load (the first piece of an echo)",
        );
        thread::sleep(Duration::from_millis(200));
        send(&mut stream, &request[20..], "load (the rest of the echo)");
    }
    read_to_end_of_stream(&mut stream, "load (after its last request)");
}

#[test]
fn an_echo_that_arrives_in_two_pieces_is_put_together() {
    let addr = broken_server(1, echo_in_two_pieces);
    let finished = run_load(addr, &["--clients", "1", "--rounds", "3"]);
    assert!(
        finished.status.success(),
        "a whole echo, in two reads, is a good echo: {}",
        finished.describe()
    );
    check_line(&finished, "1", "3", "64", "3", "0");
}

/// Reads one 64-byte request, then resets the connection (RST, not FIN).
fn reset_after_one_request(mut stream: TcpStream) {
    read_exactly(&mut stream, 64, "load (a request)");
    reset_on_close(&stream);
}

#[test]
fn a_reset_during_a_round_trip_is_reported_as_a_reset() {
    let addr = broken_server(1, reset_after_one_request);
    let finished = run_load(addr, &["--clients", "1", "--rounds", "3", "--timeout", "5"]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    check_line(&finished, "1", "3", "64", "0", "3");
    assert_eq!(
        finished.stderr,
        "error: 3 of 3 round trips failed: client 0 round 0: Connection reset by peer \
         (os error 104)\n",
        "{}",
        finished.describe()
    );
}

#[test]
fn a_connect_that_fails_at_once_is_reported_for_that_client() {
    // A TCP connection to the broadcast address cannot even start: the
    // system refuses it at once, before any packet leaves.
    let finished = run(&[
        "load",
        "--host",
        "255.255.255.255",
        "--port",
        "9",
        "--clients",
        "2",
        "--rounds",
        "2",
    ]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    check_line(&finished, "2", "2", "64", "0", "4");
    assert!(
        finished.stderr.starts_with(
            "error: 4 of 4 round trips failed: client 0: cannot connect to 255.255.255.255:9: "
        ),
        "{}",
        finished.describe()
    );
}

#[test]
fn load_without_a_server_reports_errors_and_the_command_to_start_one() {
    let port = free_port().to_string();
    let finished = run(&["load", "--port", &port, "--clients", "2", "--rounds", "3"]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    check_line(&finished, "2", "3", "64", "0", "6");
    assert!(
        finished.stderr.contains("Connection refused"),
        "{}",
        finished.describe()
    );
    assert!(
        finished.stderr.contains(&format!(
            "hint: start the server first: cargo run -p lesson-05-threaded -- server --port {port}"
        )),
        "{}",
        finished.describe()
    );
}

#[test]
fn load_against_a_full_server_reports_the_busy_reply() {
    let (_server, addr) = start_server(&["--max-connections", "1"]);
    // Five clients, one place: at least one client is turned away, and its
    // error shows what it read instead of its echo.
    let finished = run_load(addr, &["--clients", "5", "--rounds", "200"]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert!(
        finished.stderr.contains("ERR server busy"),
        "the error should show the busy reply: {}",
        finished.describe()
    );
}

#[test]
fn one_thread_drives_several_clients_and_every_echo_is_checked() {
    let (_server, addr) = start_server(&[]);
    // One worker for seven clients, then three workers for seven clients
    // (shares of 3, 2 and 2): every round trip of every client must come
    // back whole and right.
    for threads in ["1", "3"] {
        let finished = run_load(
            addr,
            &[
                "--clients",
                "7",
                "--rounds",
                "30",
                "--size",
                "100",
                "--threads",
                threads,
            ],
        );
        assert!(
            finished.status.success(),
            "--threads {threads}: {}",
            finished.describe()
        );
        check_line(&finished, "7", "30", "100", "210", "0");
    }
}

#[test]
fn the_largest_request_comes_back_whole_and_a_larger_one_is_refused() {
    let (_server, addr) = start_server(&[]);
    // 64 KiB arrives in several reads: the echo has to be put together.
    let finished = run_load(
        addr,
        &[
            "--clients",
            "3",
            "--rounds",
            "5",
            "--size",
            "65536",
            "--threads",
            "1",
        ],
    );
    assert!(finished.status.success(), "{}", finished.describe());
    check_line(&finished, "3", "5", "65536", "15", "0");

    // One byte more is a usage error (exit 2) that names the limit.
    let finished = run_load(addr, &["--size", "65537"]);
    assert_eq!(finished.status.code(), Some(2), "{}", finished.describe());
    assert!(
        finished.stdout.is_empty(),
        "nothing should run: {}",
        finished.describe()
    );
    assert!(
        finished.stderr.contains("65537 is not in 1..=65536"),
        "stderr should name the limit: {}",
        finished.describe()
    );
}

#[test]
fn huge_counts_are_usage_errors_that_say_why_not_crashes() {
    let huge = u64::MAX.to_string();
    for (args, reason) in [
        (
            vec!["--clients", huge.as_str()],
            format!(
                "error: the number of clients must be 1 to 10000, not {huge}: each client is a \
                 connection, a file descriptor here and in the server, and a thread in the \
                 server"
            ),
        ),
        (
            vec!["--rounds", huge.as_str()],
            format!(
                "error: 10 clients x {huge} rounds: a run must have 1 to 10000000 round trips, \
                 because the time of every round trip is kept to compute the percentiles"
            ),
        ),
        (
            vec!["--clients", "2000", "--size", "65536"],
            "error: 2000 clients x 65536 bytes: at most 64 MiB may be in flight at once, \
             because every connection keeps its request and its echo in memory"
                .to_string(),
        ),
    ] {
        // Nothing listens on port 9 here, and nothing connects: the values
        // are refused first.
        let mut all = vec!["load", "--port", "9"];
        all.extend(&args);
        let finished = run(&all);
        assert_eq!(
            finished.status.code(),
            Some(2),
            "load {args:?}: {}",
            finished.describe()
        );
        assert!(
            finished.stdout.is_empty() && finished.stderr.starts_with(&reason),
            "load {args:?} should say {reason:?}: {}",
            finished.describe()
        );
    }
}

#[test]
fn load_against_a_server_that_never_answers_times_out_each_client() {
    // A listener nobody accepts from: connects complete (the kernel queues
    // them), the requests are taken in, and no echo ever comes.
    let (listener, addr) = fake_server();
    let finished = run_load(
        addr,
        &[
            "--clients",
            "3",
            "--rounds",
            "2",
            "--timeout",
            "1",
            "--threads",
            "1",
        ],
    );
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    check_line(&finished, "3", "2", "64", "0", "6");
    assert_eq!(
        finished.stderr,
        "error: 6 of 6 round trips failed: client 0 round 0: \
         no echo within 1 s: received 0 of 64 bytes: \"\"\n",
        "each request should fail at its deadline, nothing having come back"
    );
    drop(listener);
}
