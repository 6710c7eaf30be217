//! The library, used in-process the way another crate (lesson 06) uses it:
//! bind with a backlog, run the server on a thread, stop it from code.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{WAIT, connect, echo, leave};
use lesson_05_threaded::{ServerConfig, Shutdown, Summary, bind, run_server};

/// Runs the server on a thread; its result arrives through the channel.
fn start(
    config: ServerConfig,
    shutdown: Shutdown,
) -> (
    std::net::SocketAddr,
    mpsc::Receiver<anyhow::Result<Summary>>,
) {
    let listener = bind("127.0.0.1:0", 16).expect("binding with a backlog of 16");
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
    echo(
        &mut client,
        b"in-process\n",
        "a client of the in-process server",
    );
    leave(&mut client, "the client leaving");
    let mut second = connect(addr);
    echo(&mut second, b"still here\n", "a second client");

    shutdown.trigger();
    // The second client is still connected: it may finish within the grace.
    echo(
        &mut second,
        b"finishing\n",
        "the second client after trigger()",
    );
    leave(&mut second, "the second client leaving");

    let summary = result
        .recv_timeout(WAIT)
        .expect("run_server should return after trigger() and the clients left")
        .expect("run_server failed");
    assert_eq!(
        summary,
        Summary {
            served: 2,
            turned_away: 0
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
    assert_eq!(summary.served, 0);
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
    echo(&mut silent, b"hi\n", "a client that then goes quiet");
    shutdown.trigger();
    let summary = result
        .recv_timeout(WAIT)
        .expect("run_server should return once the grace period is over")
        .expect("run_server failed");
    assert_eq!(summary.served, 1);
    leave(&mut silent, "the silent client, closed by the server");
}

#[test]
fn bind_reports_address_in_use() {
    let taken = bind("127.0.0.1:0", 8).expect("binding a first listener");
    let addr = taken.local_addr().expect("reading its address");
    let err = bind(addr, 8).expect_err("binding the same address again should fail");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
}
