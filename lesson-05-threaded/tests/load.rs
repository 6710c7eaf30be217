//! The `load` subcommand: against the real server it reports no errors;
//! against a server that echoes the wrong bytes, or no server, it reports
//! errors and exits 1.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;

use common::{Running, WAIT, free_port, run};

/// The fields of load's one line, checked for shape: `name=value` pairs in
/// this order, and the first four equal to what we asked for.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .map(|field| match field.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => panic!("load printed {line:?}: {field:?} is not name=value"),
        })
        .collect()
}

fn check_line(line: &str, clients: &str, rounds: &str, size: &str, errors: &str) {
    let fields = fields(line);
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "clients",
            "rounds",
            "size",
            "errors",
            "secs",
            "rtt_per_s",
            "p50_us",
            "p99_us",
            "max_us"
        ],
        "load printed {line:?}"
    );
    let values: Vec<&str> = fields.iter().map(|(_, value)| value.as_str()).collect();
    assert_eq!(
        values[..4],
        [clients, rounds, size, errors],
        "load printed {line:?}"
    );
    for (name, value) in &fields[4..] {
        assert!(
            value.parse::<f64>().is_ok(),
            "load printed {line:?}: {name} is not a number"
        );
    }
}

#[test]
fn load_against_the_server_reports_no_errors() {
    let (_server, addr) = Running::server(&[]);
    let port = addr.port().to_string();
    let (status, stdout, stderr) = run(&[
        "load",
        "--port",
        &port,
        "--clients",
        "20",
        "--rounds",
        "50",
        "--size",
        "100",
    ]);
    assert!(
        status.success(),
        "status {status}; stdout {stdout:?}; stderr: {stderr}"
    );
    assert_eq!(
        stdout.len(),
        1,
        "load should print one line, printed {stdout:?}"
    );
    check_line(&stdout[0], "20", "50", "100", "0");
}

#[test]
fn load_with_split_writes_and_nagle_still_checks_every_echo() {
    let (_server, addr) = Running::server(&["--nagle"]);
    let port = addr.port().to_string();
    let (status, stdout, stderr) = run(&[
        "load",
        "--port",
        &port,
        "--clients",
        "3",
        "--rounds",
        "5",
        "--size",
        "33",
        "--split",
        "--nagle",
    ]);
    assert!(
        status.success(),
        "status {status}; stdout {stdout:?}; stderr: {stderr}"
    );
    check_line(&stdout[0], "3", "5", "33", "0");
}

/// A broken echo server on a thread of this test: it answers every read
/// with the same bytes in upper case. It serves `connections` clients.
fn shouting_server(connections: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the bad server");
    let addr = listener
        .local_addr()
        .expect("reading the bad server's address");
    thread::spawn(move || {
        for _ in 0..connections {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(WAIT));
                let mut buffer = [0u8; 1024];
                loop {
                    match stream.read(&mut buffer) {
                        Ok(0) => return,
                        Ok(n) => {
                            buffer[..n].make_ascii_uppercase();
                            if stream.write_all(&buffer[..n]).is_err() {
                                return;
                            }
                        }
                        Err(err) if err.kind() == ErrorKind::Interrupted => {}
                        Err(_) => return,
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn load_against_a_server_that_echoes_wrong_bytes_reports_errors_and_exits_1() {
    let addr = shouting_server(3);
    let port = addr.port().to_string();
    let (status, stdout, stderr) = run(&[
        "load",
        "--port",
        &port,
        "--clients",
        "3",
        "--rounds",
        "4",
        "--size",
        "16",
    ]);
    assert_eq!(
        status.code(),
        Some(1),
        "stdout {stdout:?}; stderr: {stderr}"
    );
    assert_eq!(
        stdout.len(),
        1,
        "load should print one line, printed {stdout:?}"
    );
    // Every client fails on its first round, and its other rounds count too.
    check_line(&stdout[0], "3", "4", "16", "12");
    // The first failure reported is client 0's, with the bytes on the wire.
    assert_eq!(
        stderr,
        "error: 12 of 12 round trips failed: client 0 round 0: wrong echo: \
         sent \"0:0:abcdefghijk\\n\", received \"0:0:ABCDEFGHIJK\\n\"\n",
        "stderr should show the bytes sent and received"
    );
}

#[test]
fn load_without_a_server_reports_errors_and_the_command_to_start_one() {
    let port = free_port();
    let (status, stdout, stderr) =
        run(&["load", "--port", &port, "--clients", "2", "--rounds", "3"]);
    assert_eq!(
        status.code(),
        Some(1),
        "stdout {stdout:?}; stderr: {stderr}"
    );
    check_line(&stdout[0], "2", "3", "64", "6");
    assert!(stderr.contains("Connection refused"), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "hint: start the server first: cargo run -p lesson-05-threaded -- server --port {port}"
        )),
        "stderr: {stderr}"
    );
}

#[test]
fn load_against_a_full_server_reports_the_busy_reply() {
    let (_server, addr) = Running::server(&["--max-connections", "1"]);
    let port = addr.port().to_string();
    // Five clients, one place: at least one client is turned away, and its
    // error shows what it read instead of its echo.
    let (status, stdout, stderr) =
        run(&["load", "--port", &port, "--clients", "5", "--rounds", "200"]);
    assert_eq!(
        status.code(),
        Some(1),
        "stdout {stdout:?}; stderr: {stderr}"
    );
    assert!(
        stderr.contains("ERR server busy"),
        "the error should show the busy reply: {stderr}"
    );
}

#[test]
fn one_thread_drives_several_clients_and_every_echo_is_checked() {
    let (_server, addr) = Running::server(&[]);
    let port = addr.port().to_string();
    // One worker for seven clients, then three workers for seven clients
    // (shares of 3, 2 and 2): every round trip of every client must come
    // back whole and right.
    for threads in ["1", "3"] {
        let (status, stdout, stderr) = run(&[
            "load",
            "--port",
            &port,
            "--clients",
            "7",
            "--rounds",
            "30",
            "--size",
            "100",
            "--threads",
            threads,
        ]);
        assert!(
            status.success(),
            "--threads {threads}: status {status}; stdout {stdout:?}; stderr: {stderr}"
        );
        assert_eq!(
            stdout.len(),
            1,
            "load should print one line, printed {stdout:?}"
        );
        check_line(&stdout[0], "7", "30", "100", "0");
    }
}

#[test]
fn the_largest_request_comes_back_whole_and_a_larger_one_is_refused() {
    let (_server, addr) = Running::server(&[]);
    let port = addr.port().to_string();
    // 64 KiB arrives in several reads: the echo has to be put together.
    let (status, stdout, stderr) = run(&[
        "load",
        "--port",
        &port,
        "--clients",
        "3",
        "--rounds",
        "5",
        "--size",
        "65536",
        "--threads",
        "1",
    ]);
    assert!(
        status.success(),
        "status {status}; stdout {stdout:?}; stderr: {stderr}"
    );
    check_line(&stdout[0], "3", "5", "65536", "0");

    // One byte more is a usage error (exit 2) that names the limit.
    let (status, stdout, stderr) = run(&["load", "--port", &port, "--size", "65537"]);
    assert_eq!(
        status.code(),
        Some(2),
        "stdout {stdout:?}; stderr: {stderr}"
    );
    assert!(stdout.is_empty(), "nothing should run: {stdout:?}");
    assert!(
        stderr.contains("65537 is not in 1..=65536"),
        "stderr should name the limit: {stderr}"
    );
}

#[test]
fn load_against_a_server_that_never_answers_times_out_each_client() {
    // A listener nobody accepts from: connects complete (the kernel queues
    // them), the requests are taken in, and no echo ever comes.
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the silent server");
    let port = listener
        .local_addr()
        .expect("reading the silent server's address")
        .port()
        .to_string();
    let (status, stdout, stderr) = run(&[
        "load",
        "--port",
        &port,
        "--clients",
        "3",
        "--rounds",
        "2",
        "--timeout",
        "1",
        "--threads",
        "1",
    ]);
    assert_eq!(
        status.code(),
        Some(1),
        "stdout {stdout:?}; stderr: {stderr}"
    );
    check_line(&stdout[0], "3", "2", "64", "6");
    assert_eq!(
        stderr,
        "error: 6 of 6 round trips failed: client 0 round 0: \
         no echo within 1 s: received 0 of 64 bytes: \"\"\n",
        "each request should fail at its deadline, nothing having come back"
    );
    drop(listener);
}
