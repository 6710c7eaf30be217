//! The threaded server, driven over real sockets: many clients at once,
//! silent clients, the connection limit, the idle time-out, bad clients.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Running, connect, echo, escaped, expect_bytes, free_port, leave, read_until_closed, run,
};

#[test]
fn ten_clients_at_once_each_receive_only_their_own_bytes() {
    let (_server, addr) = Running::server(&[]);
    let mut clients: Vec<_> = (0..10).map(|_| connect(addr)).collect();
    // Every client is connected before anyone finishes: a server that
    // serves one client at a time never answers client 1 here.
    for round in 0..5 {
        for (i, client) in clients.iter_mut().enumerate() {
            let line = format!("client {i} round {round}\n");
            client.write_all(line.as_bytes()).expect("sending a line");
        }
        // Read the echoes in the reverse order, to make sure nobody waits
        // for anybody.
        for (i, client) in clients.iter_mut().enumerate().rev() {
            let line = format!("client {i} round {round}\n");
            expect_bytes(client, line.as_bytes(), &format!("client {i} of 10"));
        }
    }
    for (i, client) in clients.iter_mut().enumerate() {
        leave(client, &format!("client {i} leaving"));
    }
}

#[test]
fn a_silent_client_does_not_delay_another_clients_echo() {
    let (_server, addr) = Running::server(&[]);
    let _silent = connect(addr);
    let mut talker = connect(addr);
    let started = Instant::now();
    echo(
        &mut talker,
        b"anyone there?\n",
        "the client after a silent one",
    );
    // Generous for a loaded machine; a server that waits on the silent
    // client would take the whole idle time-out (30 s).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the echo took {:?}: did the server wait for the silent client?",
        started.elapsed()
    );
    leave(&mut talker, "the second client leaving");
}

#[test]
fn over_the_limit_a_client_reads_busy_and_after_two_leave_a_new_one_is_served() {
    let (mut server, addr) = Running::server(&["--max-connections", "2"]);
    let mut first = connect(addr);
    let mut second = connect(addr);
    // Each echo proves that client has its thread (and its place).
    echo(&mut first, b"one\n", "first client");
    echo(&mut second, b"two\n", "second client");

    let mut third = connect(addr);
    let reply = read_until_closed(&mut third, "third client (over the limit)");
    assert_eq!(
        reply,
        b"ERR server busy\n",
        "the third client should read \"ERR server busy\\n\" then end of stream, got \"{}\"",
        escaped(&reply)
    );
    server.expect_line("turned away: server busy");

    // The first two still work, then leave.
    echo(
        &mut first,
        b"still here\n",
        "first client after the busy reply",
    );
    leave(&mut first, "first client leaving");
    leave(&mut second, "second client leaving");

    // Their places are free again (the server frees a place before it
    // closes the connection, so this is not a race).
    let mut fourth = connect(addr);
    echo(
        &mut fourth,
        b"my turn\n",
        "a new client after the first two left",
    );
    leave(&mut fourth, "the new client leaving");
}

#[test]
fn idle_timeout_disconnects_a_silent_client() {
    let (mut server, addr) = Running::server(&["--idle-timeout", "1"]);
    let mut silent = connect(addr);
    let started = Instant::now();
    // The read waits at most WAIT (10 s); the server should close after 1 s.
    let received = read_until_closed(&mut silent, "a client that never speaks");
    let waited = started.elapsed();
    assert!(
        received.is_empty(),
        "the server sent \"{}\" to a silent client",
        escaped(&received)
    );
    assert!(
        waited >= Duration::from_millis(900),
        "the server closed a silent client after {waited:?}, before its 1 s idle time-out"
    );
    server.expect_line("sent nothing for 1s");
}

#[test]
fn a_client_that_keeps_talking_is_not_idle() {
    let (_server, addr) = Running::server(&["--idle-timeout", "2"]);
    let mut talker = connect(addr);
    // Echoes every 200 ms for longer than the 2 s idle time-out: each one
    // restarts the server's clock, so the connection must survive. The
    // pause is the client's own pace (the thing under test), not a wait
    // for the server; the margin (2 s against 0.2 s) absorbs a slow machine.
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        echo(
            &mut talker,
            format!("tick {round}\n").as_bytes(),
            "a client that keeps talking",
        );
        round += 1;
        thread::sleep(Duration::from_millis(200));
    }
    leave(&mut talker, "the talking client leaving");
}

#[test]
fn invalid_utf8_and_an_over_long_line_are_echoed_byte_for_byte() {
    let (_server, addr) = Running::server(&[]);
    let mut client = connect(addr);
    echo(
        &mut client,
        b"\xff\xfe not utf-8 \xc3\x28\n",
        "invalid UTF-8",
    );

    // 200 KiB without a newline: more than any buffer on either side, so
    // it is written on another thread while this one reads the echo (a
    // client that writes it all before reading would deadlock).
    let big: Vec<u8> = (0..200 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut writer = client.try_clone().expect("cloning the client socket");
    let to_send = big.clone();
    let sending = thread::spawn(move || writer.write_all(&to_send));
    expect_bytes(&mut client, &big, "a 200 KiB line");
    sending
        .join()
        .expect("the writer thread panicked")
        .expect("sending 200 KiB");
    leave(&mut client, "after the long line");
}

#[test]
fn a_client_that_leaves_mid_message_gets_its_partial_echo_then_end_of_stream() {
    let (_server, addr) = Running::server(&[]);
    let mut client = connect(addr);
    client.write_all(b"half a li").expect("sending half a line");
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    let received = read_until_closed(&mut client, "half a line, then shutdown(Write)");
    assert_eq!(
        received,
        b"half a li",
        "expected the partial line back, got \"{}\"",
        escaped(&received)
    );
}

#[test]
fn a_reset_a_hit_and_run_and_garbage_affect_no_one_else() {
    let (mut server, addr) = Running::server(&[]);
    let mut steady = connect(addr);
    echo(&mut steady, b"before\n", "the steady client");

    // A client that resets its connection: SO_LINGER with a zero time-out
    // makes close() send RST instead of FIN.
    let resetter = socket2::Socket::from(connect(addr));
    resetter
        .set_linger(Some(Duration::ZERO))
        .expect("setting SO_LINGER to 0");
    let mut resetter = std::net::TcpStream::from(resetter);
    echo(&mut resetter, b"about to reset\n", "the client that resets");
    drop(resetter);

    // A client that connects and leaves at once.
    drop(connect(addr));

    // A client that sends binary garbage and leaves without reading.
    let mut garbage = connect(addr);
    garbage
        .write_all(&[0, 159, 146, 150, 255, 13, 10, 0])
        .expect("sending garbage");
    drop(garbage);

    // The steady client is still served, and so is a new one.
    echo(
        &mut steady,
        b"after\n",
        "the steady client after the others misbehaved",
    );
    let mut newcomer = connect(addr);
    echo(
        &mut newcomer,
        b"hello\n",
        "a new client after the others misbehaved",
    );
    leave(&mut newcomer, "the new client leaving");
    leave(&mut steady, "the steady client leaving");
    // The reset was noticed, and logged as that one client's event.
    server.expect_line("disconnected: Connection reset");
}

#[test]
fn address_in_use_exits_1_with_a_hint() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding a port to occupy");
    let port = taken
        .local_addr()
        .expect("reading the occupied port")
        .port()
        .to_string();
    let (status, stdout, stderr) = run(&["server", "--port", &port]);
    assert_eq!(
        status.code(),
        Some(1),
        "stdout: {stdout:?}, stderr: {stderr}"
    );
    assert!(
        stderr.starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains(
            "hint: another server is still running on that port; stop it, or choose another with --port"
        ),
        "stderr: {stderr}"
    );
}

#[test]
fn bad_usage_exits_2() {
    let (status, _stdout, stderr) = run(&["server", "--max-connections", "0"]);
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    let (status, _stdout, stderr) = run(&["load", "--size", "0"]);
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
}

#[test]
fn lesson_03s_client_works_against_this_server() {
    let (_server, addr) = Running::server(&[]);
    let port = addr.port().to_string();
    let (status, stdout, stderr) = run(&[
        "client",
        "--port",
        &port,
        "--message",
        "hello",
        "--message",
        "wörld",
    ]);
    assert!(status.success(), "stdout: {stdout:?}, stderr: {stderr}");
    assert_eq!(stdout, ["echo: hello", "echo: wörld"], "stderr: {stderr}");
}

#[test]
fn the_client_without_a_server_exits_1_with_the_command_to_start_one() {
    let port = free_port();
    let (status, _stdout, stderr) = run(&["client", "--port", &port, "--message", "hi"]);
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "hint: start the server first: cargo run -p lesson-05-threaded -- server --port {port}"
        )),
        "stderr: {stderr}"
    );
}
