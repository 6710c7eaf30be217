//! Times the single-client round trip of the lesson 03 echo server on loopback.
//!
//! Run it with `cargo bench -p lesson-03-echo-loop` (a release build). It
//! starts `run_server` on 127.0.0.1 port 0 in a thread, connects one client,
//! and times request/echo round trips of a short line: write `hello\n`, read
//! the 6 bytes back, repeat. Each run is timed separately, and it is done
//! with and without TCP_NODELAY on the client socket, so the figures show how
//! much they vary and whether Nagle's algorithm matters here.
//!
//! A plain `main` (`harness = false` in Cargo.toml), so it needs no nightly
//! Rust and no benchmark crate. Set ROUND_TRIPS to change the count per run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lesson_03_echo_loop::{ServerOptions, run_server};

const LINE: &[u8] = b"hello\n";
const RUNS: usize = 5;
const WARM_UP: usize = 1_000;

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench` (and any filter): nothing to parse here.
    let round_trips: usize = match std::env::var("ROUND_TRIPS") {
        Ok(text) => text.parse().context("ROUND_TRIPS must be a whole number")?,
        Err(_) => 20_000,
    };
    println!(
        "lesson 03 echo server, one client on loopback, {round_trips} round trips of {} bytes per run",
        LINE.len()
    );
    for nodelay in [false, true] {
        for run in 1..=RUNS {
            let per_trip = time_one_run(round_trips, nodelay)?;
            println!(
                "nodelay={nodelay:<5} run {run}: {:>6.1} µs per round trip ({:>6.0} round trips/s)",
                per_trip.as_secs_f64() * 1e6,
                1.0 / per_trip.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Starts a server for one client, does `round_trips` timed round trips (after
/// a warm-up), and returns the mean time per round trip.
fn time_one_run(round_trips: usize, nodelay: bool) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the server")?;
    let address = listener.local_addr()?;
    let options = ServerOptions {
        max_clients: Some(1),
        idle_timeout: Duration::from_secs(10),
    };
    let server = thread::spawn(move || run_server(listener, &options, std::io::sink()));

    let mut stream = TcpStream::connect(address).context("cannot connect to the server")?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    stream.set_nodelay(nodelay)?;
    let mut echo = [0u8; LINE.len()];

    for _ in 0..WARM_UP {
        round_trip(&mut stream, &mut echo)?;
    }
    let started = Instant::now();
    for _ in 0..round_trips {
        round_trip(&mut stream, &mut echo)?;
    }
    let elapsed = started.elapsed();

    drop(stream);
    match server.join() {
        Ok(result) => result?,
        Err(_) => bail!("the server thread panicked"),
    }
    Ok(elapsed / u32::try_from(round_trips).context("too many round trips")?)
}

/// One request and its echo: the next line is only sent once this one is back.
fn round_trip(stream: &mut TcpStream, echo: &mut [u8]) -> anyhow::Result<()> {
    stream.write_all(LINE)?;
    stream.read_exact(echo)?;
    if echo != LINE {
        bail!("wrong echo: {:?}", String::from_utf8_lossy(echo));
    }
    Ok(())
}
