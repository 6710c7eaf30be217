//! The threaded server, driven over real sockets: many clients at once,
//! silent clients, the connection limit, the idle time-out, bad clients.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

use common::lesson::serving_line;
use common::{
    accept, assert_wire, connect, echo_round_trip, expect_bytes, fake_server, free_port, leave,
    read_exactly, read_to_end_of_stream, reset_on_close, run, run_client, send, start_server,
};

#[test]
fn ten_clients_at_once_each_receive_only_their_own_bytes() {
    let (_server, addr) = start_server(&[]);
    let mut clients: Vec<_> = (0..10).map(|_| connect(addr)).collect();
    // Every client is connected before anyone finishes: a server that
    // serves one client at a time never answers client 1 here.
    for round in 0..5 {
        for (i, client) in clients.iter_mut().enumerate() {
            let line = format!("client {i} round {round}\n");
            send(client, line.as_bytes(), &format!("the server (client {i})"));
        }
        // Read the echoes in the reverse order, to make sure nobody waits
        // for anybody.
        for (i, client) in clients.iter_mut().enumerate().rev() {
            let line = format!("client {i} round {round}\n");
            expect_bytes(
                client,
                line.as_bytes(),
                &format!("the server (echo to client {i} of 10)"),
            );
        }
    }
    for (i, client) in clients.iter_mut().enumerate() {
        leave(client, &format!("the server (client {i} leaving)"));
    }
}

#[test]
fn a_silent_client_does_not_delay_another_clients_echo() {
    let (_server, addr) = start_server(&[]);
    let _silent = connect(addr);
    let mut talker = connect(addr);
    let started = Instant::now();
    echo_round_trip(
        &mut talker,
        b"anyone there?\n",
        "the server (the client after a silent one)",
    );
    // Generous for a loaded machine; a server that waits on the silent
    // client would take the whole idle time-out (30 s).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the echo took {:?}: did the server wait for the silent client?",
        started.elapsed()
    );
    leave(&mut talker, "the server (the second client leaving)");
}

#[test]
fn over_the_limit_a_client_reads_busy_and_after_two_leave_a_new_one_is_served() {
    let (mut server, addr) = start_server(&["--max-connections", "2"]);
    let mut first = connect(addr);
    let mut second = connect(addr);
    // Each echo proves that client has its thread (and its place).
    echo_round_trip(&mut first, b"one\n", "the server (first client)");
    echo_round_trip(&mut second, b"two\n", "the server (second client)");

    let mut third = connect(addr);
    let reply = read_to_end_of_stream(&mut third, "the server (third client, over the limit)");
    assert_wire(
        "the server (to a third client, over the limit, before closing)",
        &reply,
        b"ERR server busy\n",
    );
    let third_addr = third
        .local_addr()
        .expect("reading the third client's address");
    server.line_containing(&format!("client {third_addr} turned away: server busy"));

    // The first two still work, then leave.
    echo_round_trip(
        &mut first,
        b"still here\n",
        "the server (first client after the busy reply)",
    );
    leave(&mut first, "the server (first client leaving)");
    leave(&mut second, "the server (second client leaving)");

    // Their places are free again (the server frees a place before it
    // closes the connection, so this is not a race).
    let mut fourth = connect(addr);
    echo_round_trip(
        &mut fourth,
        b"my turn\n",
        "the server (a new client after the first two left)",
    );
    leave(&mut fourth, "the server (the new client leaving)");
}

#[test]
fn idle_timeout_disconnects_a_silent_client() {
    let (mut server, addr) = start_server(&["--idle-timeout", "1"]);
    let mut silent = connect(addr);
    let started = Instant::now();
    // The read waits at most SOCKET_WAIT (5 s); the server should close
    // after 1 s.
    let received = read_to_end_of_stream(&mut silent, "the server (to a client that never speaks)");
    let waited = started.elapsed();
    assert_wire("the server (to a client that never speaks)", &received, b"");
    assert!(
        waited >= Duration::from_millis(900),
        "the server closed a silent client after {waited:?}, before its 1 s idle time-out"
    );
    let silent_addr = silent.local_addr().expect("reading the client's address");
    let line = server.line_containing(&format!("client {silent_addr} disconnected"));
    assert_eq!(
        line,
        format!("client {silent_addr} disconnected (0 bytes echoed): sent nothing for 1s")
    );
}

#[test]
fn a_client_that_stops_reading_is_disconnected_after_the_idle_time_out() {
    let (mut server, addr) = start_server(&["--idle-timeout", "1"]);
    let greedy = connect(addr);
    let greedy_addr = greedy.local_addr().expect("reading the client's address");
    // Send and send, never read: the echoes fill our receive buffer, then
    // the server's send buffer, and the server's write waits. After 1 s of
    // that, it gives up on us. (The writes run on a thread of their own:
    // they block too, once the server stops reading; they end when the
    // server closes the connection, or at their own 5 s time-out.)
    let mut writer = greedy.try_clone().expect("cloning the client socket");
    let sending = thread::spawn(move || {
        let chunk = [b'x'; 64 * 1024];
        while writer.write_all(&chunk).is_ok() {}
    });
    let line = server.line_containing(&format!("client {greedy_addr} disconnected"));
    assert!(
        line.starts_with(&format!("client {greedy_addr} disconnected ("))
            && line.ends_with(" bytes echoed): read nothing for 1s"),
        "a client that never reads its echoes should be disconnected for reading nothing \
         for 1 s; the server said: {line:?}"
    );
    sending.join().expect("the writing thread panicked");
}

#[test]
fn a_reset_while_the_server_writes_is_a_reset_not_an_idle_client() {
    let (mut server, addr) = start_server(&[]);
    let mut client = connect(addr);
    let client_addr = client.local_addr().expect("reading the client's address");
    // Send without reading until our own writes stop: then the server's
    // receive buffer is full because the server is stuck writing echoes we
    // do not read. (Our writes give up after 1 s without progress.)
    client
        .set_write_timeout(Some(Duration::from_secs(1)))
        .expect("setting a write time-out");
    let chunk = [b'y'; 64 * 1024];
    while client.write_all(&chunk).is_ok() {}
    // Now reset the connection under the server's blocked write.
    reset_on_close(&client);
    drop(client);
    let line = server.line_containing(&format!("client {client_addr} disconnected"));
    assert!(
        line.ends_with("Connection reset by peer (os error 104)")
            || line.ends_with("Broken pipe (os error 32)"),
        "a reset during the server's write should be logged as that error, not as an idle \
         client: {line:?}"
    );
}

#[test]
fn a_client_that_keeps_talking_is_not_idle() {
    let (_server, addr) = start_server(&["--idle-timeout", "2"]);
    let mut talker = connect(addr);
    // Echoes every 200 ms for longer than the 2 s idle time-out: each one
    // restarts the server's clock, so the connection must survive. The
    // pause is the client's own pace (the thing under test), not a wait
    // for the server; the margin (2 s against 0.2 s) absorbs a slow machine.
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        echo_round_trip(
            &mut talker,
            format!("tick {round}\n").as_bytes(),
            "the server (a client that keeps talking)",
        );
        round += 1;
        thread::sleep(Duration::from_millis(200));
    }
    leave(&mut talker, "the server (the talking client leaving)");
}

#[test]
fn invalid_utf8_and_an_over_long_line_are_echoed_byte_for_byte() {
    let (_server, addr) = start_server(&[]);
    let mut client = connect(addr);
    echo_round_trip(
        &mut client,
        b"\xff\xfe not utf-8 \xc3\x28\n",
        "the server (invalid UTF-8)",
    );

    // 200 KiB without a newline: more than any buffer on either side, so
    // it is written on another thread while this one reads the echo (a
    // client that writes it all before reading would deadlock).
    let big: Vec<u8> = (0..200 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut writer = client.try_clone().expect("cloning the client socket");
    let to_send = big.clone();
    let sending = thread::spawn(move || writer.write_all(&to_send));
    expect_bytes(&mut client, &big, "the server (a 200 KiB line)");
    sending
        .join()
        .expect("the writer thread panicked")
        .expect("sending 200 KiB");
    leave(&mut client, "the server (after the long line)");
}

#[test]
fn a_client_that_leaves_mid_message_gets_its_partial_echo_then_end_of_stream() {
    let (_server, addr) = start_server(&[]);
    let mut client = connect(addr);
    send(&mut client, b"half a li", "the server");
    client
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    let received = read_to_end_of_stream(
        &mut client,
        "the server (half a line, then shutdown(Write))",
    );
    assert_wire(
        "the server (half a line, then shutdown(Write))",
        &received,
        b"half a li",
    );
}

#[test]
fn a_reset_a_hit_and_run_and_garbage_affect_no_one_else() {
    let (mut server, addr) = start_server(&[]);
    let mut steady = connect(addr);
    echo_round_trip(&mut steady, b"before\n", "the server (the steady client)");

    // A client that resets its connection: SO_LINGER with a zero time-out
    // makes close() send RST instead of FIN.
    let mut resetter = connect(addr);
    reset_on_close(&resetter);
    echo_round_trip(
        &mut resetter,
        b"about to reset\n",
        "the server (the client that resets)",
    );
    let resetter_addr = resetter
        .local_addr()
        .expect("reading the resetting client's address");
    drop(resetter);

    // A client that connects and leaves at once.
    drop(connect(addr));

    // A client that sends binary garbage and leaves without reading.
    let mut garbage = connect(addr);
    send(
        &mut garbage,
        &[0, 159, 146, 150, 255, 13, 10, 0],
        "the server (garbage)",
    );
    drop(garbage);

    // The steady client is still served, and so is a new one.
    echo_round_trip(
        &mut steady,
        b"after\n",
        "the server (the steady client after the others misbehaved)",
    );
    let mut newcomer = connect(addr);
    echo_round_trip(
        &mut newcomer,
        b"hello\n",
        "the server (a new client after the others misbehaved)",
    );
    leave(&mut newcomer, "the server (the new client leaving)");
    leave(&mut steady, "the server (the steady client leaving)");
    // The reset was noticed, and logged as that one client's event, with
    // what it had been echoed.
    let line = server.line_containing(&format!("client {resetter_addr} disconnected"));
    assert!(
        line.starts_with(&format!(
            "client {resetter_addr} disconnected (15 bytes echoed): Connection reset"
        )),
        "the reset should be that client's event: {line:?}"
    );
}

#[test]
fn the_start_line_shows_the_limit_and_whether_tcp_nodelay_is_on() {
    let (mut server, _addr) = start_server(&[]);
    assert_eq!(server.next_line(), serving_line(1024, "on"));
    let (mut server, _addr) = start_server(&["--nagle", "--max-connections", "7"]);
    assert_eq!(server.next_line(), serving_line(7, "off"));
}

#[test]
fn address_in_use_exits_1_with_a_hint() {
    let (taken, addr) = fake_server();
    let port = addr.port().to_string();
    let finished = run(&["server", "--port", &port]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert!(
        finished
            .stderr
            .starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "{}",
        finished.describe()
    );
    assert!(
        finished.stderr.contains(
            "hint: another server is still running on that port; stop it, or choose another with --port"
        ),
        "{}",
        finished.describe()
    );
    drop(taken);
}

#[test]
fn an_address_not_on_this_machine_exits_1_with_a_hint() {
    // 192.0.2.0/24 is set aside for documentation: no machine has it.
    let finished = run(&["server", "--host", "192.0.2.1", "--port", "0"]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert_eq!(
        finished.stderr,
        "error: cannot listen on 192.0.2.1:0: Cannot assign requested address (os error 99)\n\
         hint: that address is not on this machine; use --host 127.0.0.1, or one of its own \
         addresses\n",
        "{}",
        finished.describe()
    );
}

#[test]
fn bad_usage_exits_2() {
    let finished = run(&["server", "--max-connections", "0"]);
    assert_eq!(finished.status.code(), Some(2), "{}", finished.describe());
    let finished = run(&["load", "--size", "0"]);
    assert_eq!(finished.status.code(), Some(2), "{}", finished.describe());
}

#[test]
fn lesson_03s_client_works_against_this_server() {
    let (_server, addr) = start_server(&[]);
    let finished = run_client(addr, &["--message", "hello", "--message", "wörld"], b"");
    assert!(finished.status.success(), "{}", finished.describe());
    assert_eq!(
        finished.stdout,
        ["echo: hello", "echo: wörld"],
        "{}",
        finished.describe()
    );
}

#[test]
fn the_client_turned_away_by_a_full_server_says_the_server_is_busy() {
    let (_server, addr) = start_server(&["--max-connections", "1"]);
    let mut first = connect(addr);
    echo_round_trip(
        &mut first,
        b"mine\n",
        "the server (the one client it serves)",
    );
    // Lines shorter and longer than the 16-byte reply: lesson 03's client
    // sees a wrong echo for the first two and an early close for the last,
    // and each time keeps the server's whole answer, up to its "\n".
    for (line, received) in [
        ("x", "\"ERR server busy\\n\" (16 bytes)"),
        ("hello", "\"ERR server busy\\n\" (16 bytes)"),
        (
            "a much longer line than the reply",
            "\"ERR server busy\\n\" (16 bytes)",
        ),
    ] {
        let finished = run_client(addr, &["--message", line], b"");
        assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
        let lines: Vec<&str> = finished.stderr.lines().collect();
        assert!(
            lines.len() == 2
                && lines[0].starts_with(
                    "error: the server is busy: it answered \"ERR server busy\" and closed the \
                     connection: "
                )
                && lines[0].contains(&format!("received {received}"))
                && lines[1]
                    == "hint: it serves at most --max-connections clients at once (its second \
                        line says how many); try again when a client has left, or start it with \
                        a higher --max-connections",
            "a client turned away should say the server is busy, and show what came: {}",
            finished.describe()
        );
    }
}

#[test]
fn a_server_that_closes_without_a_word_is_not_called_busy() {
    // A fake server that reads the line and closes without answering: the
    // client's error is lesson 03's early close, with nothing received, and
    // no busy hint. (It reads first, so that closing sends a FIN, not a
    // reset for unread bytes.)
    let (listener, addr) = fake_server();
    let closing = std::thread::spawn(move || {
        let mut stream = accept(&listener);
        read_exactly(&mut stream, 6, "the client (its line)");
    });
    let finished = run_client(addr, &["--message", "hello"], b"");
    closing.join().expect("the fake server's thread panicked");
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert!(
        finished.stderr.contains("received \"\" (0 bytes)") && !finished.stderr.contains("busy"),
        "nothing came back, so nothing says the server is busy: {}",
        finished.describe()
    );
}

#[test]
fn ipv6_loopback_works_bare_and_in_brackets() {
    for host in ["::1", "[::1]"] {
        let (mut server, addr) = start_server(&["--host", host]);
        assert_eq!(
            addr.ip().to_string(),
            "::1",
            "--host {host}: the server should listen on ::1"
        );
        let port = addr.port().to_string();
        let finished = run(&[
            "client",
            "--host",
            host,
            "--port",
            &port,
            "--message",
            "über",
        ]);
        assert!(
            finished.status.success() && finished.stdout == ["echo: über"],
            "the client with --host {host}: {}",
            finished.describe()
        );
        let finished = run(&[
            "load",
            "--host",
            host,
            "--port",
            &port,
            "--clients",
            "2",
            "--rounds",
            "3",
        ]);
        assert!(
            finished.status.success() && finished.stdout.len() == 1,
            "load with --host {host}: {}",
            finished.describe()
        );
        server.line_containing("client [::1]:");
    }
}

#[test]
fn the_client_without_a_server_exits_1_with_the_command_to_start_one() {
    let port = free_port().to_string();
    let finished = run(&["client", "--port", &port, "--message", "hi"]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert!(
        finished.stderr.contains(&format!(
            "hint: start the server first: cargo run -p lesson-05-threaded -- server --port {port}"
        )),
        "{}",
        finished.describe()
    );
}
