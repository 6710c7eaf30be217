//! The library, used in-process the way another crate (lesson 06) uses it:
//! bind with a backlog, run the server on a thread, stop it from code.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{WAIT, connect, echo_round_trip, leave};
use lesson_05_threaded::{ServerConfig, Shutdown, Summary, bind, run_server};

/// Runs the server on a thread; its result arrives through the channel.
fn start(
    config: ServerConfig,
    shutdown: Shutdown,
) -> (
    std::net::SocketAddr,
    mpsc::Receiver<anyhow::Result<Summary>>,
) {
    let listener = bind(("127.0.0.1", 0), 16).expect("binding with a backlog of 16");
    let addr = listener.local_addr().expect("reading the bound address");
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(run_server(listener, &config, shutdown, std::io::sink()));
    });
    (addr, result)
}

#[test]
fn trigger_stops_a_server_running_in_process() {
    let shutdown = Shutdown::new();
    let (addr, result) = start(ServerConfig::default(), shutdown.clone());
    let mut client = connect(addr);
    echo_round_trip(&mut client, b"in-process\n", "the in-process server");
    leave(&mut client, "the in-process server (the client leaving)");
    let mut second = connect(addr);
    echo_round_trip(
        &mut second,
        b"still here\n",
        "the in-process server (a second client)",
    );

    shutdown.trigger();
    // The second client is still connected: it may finish within the grace.
    echo_round_trip(
        &mut second,
        b"finishing\n",
        "the in-process server (the second client after trigger())",
    );
    leave(
        &mut second,
        "the in-process server (the second client leaving)",
    );

    let summary = result
        .recv_timeout(WAIT)
        .expect("run_server should return after trigger() and the clients left")
        .expect("run_server failed");
    assert_eq!(
        summary,
        Summary {
            served: 2,
            turned_away: 0,
            // "in-process\n", "still here\n", "finishing\n"
            bytes_echoed: 11 + 11 + 10,
        }
    );
}

#[test]
fn trigger_before_the_server_starts_returns_at_once() {
    let shutdown = Shutdown::new();
    shutdown.trigger();
    let (_addr, result) = start(ServerConfig::default(), shutdown);
    let summary = result
        .recv_timeout(WAIT)
        .expect("run_server should return at once")
        .expect("run_server failed");
    assert_eq!(summary, Summary::default());
}

#[test]
fn after_the_grace_period_a_silent_client_is_disconnected() {
    let shutdown = Shutdown::new();
    let config = ServerConfig {
        grace: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let (addr, result) = start(config, shutdown.clone());
    let mut silent = connect(addr);
    echo_round_trip(
        &mut silent,
        b"hi\n",
        "the in-process server (a client that then goes quiet)",
    );
    shutdown.trigger();
    let summary = result
        .recv_timeout(WAIT)
        .expect("run_server should return once the grace period is over")
        .expect("run_server failed");
    assert_eq!(
        summary,
        Summary {
            served: 1,
            turned_away: 0,
            bytes_echoed: 3
        }
    );
    leave(
        &mut silent,
        "the in-process server (the silent client, closed by the server)",
    );
}

#[test]
fn bind_reports_address_in_use() {
    let taken = bind(("127.0.0.1", 0), 8).expect("binding a first listener");
    let addr = taken.local_addr().expect("reading its address");
    let err = bind(addr, 8).expect_err("binding the same address again should fail");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
}

#[test]
fn a_zero_idle_timeout_is_refused_before_serving() {
    let config = ServerConfig {
        idle_timeout: Duration::ZERO,
        ..ServerConfig::default()
    };
    let (_addr, result) = start(config, Shutdown::new());
    let err = result
        .recv_timeout(WAIT)
        .expect("run_server should return at once")
        .expect_err("an idle time-out of zero should be refused");
    assert_eq!(
        err.to_string(),
        "the idle time-out must be longer than zero"
    );
}
