//! What only lesson 02's tests need, beside the shared toolkit in `mod.rs`.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use super::{describe_io_error, escaped};

/// Lesson 02's binary has two subcommands; the tests start `server`.
pub const SERVER_COMMAND: &[&str] = &["server"];

/// What the server says when `--greeting` is not given.
pub const DEFAULT_GREETING: &str = "Hello, client! I am the server.";

/// What the client answers when `--message` is not given.
pub const DEFAULT_MESSAGE: &str = "Hello, server!";

/// Reads until `who` ends its stream (a read returns 0 bytes) and returns
/// what arrived on the way; if the stream does not end, fails with the
/// bytes that did arrive and `hint`, which names the step `who` left out.
#[track_caller]
pub fn read_to_end_of_stream_or_hint(stream: &mut TcpStream, who: &str, hint: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "waiting for end of stream from {who}: it sent {}, then {}\nhint: {hint}",
                escaped(&received),
                describe_io_error(&err)
            ),
        }
    }
}

/// Writes `bytes`; a peer that already hung up is fine here (the test then
/// checks what the program printed about it).
#[track_caller]
pub fn write_ignoring_hang_up(stream: &mut TcpStream, bytes: &[u8]) {
    match stream.write_all(bytes) {
        Ok(()) => {}
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) => {}
        Err(err) => panic!(
            "writing {} failed: {}",
            escaped(bytes),
            describe_io_error(&err)
        ),
    }
}

/// Whether this machine has IPv6 loopback (`::1`). A machine without IPv6
/// cannot run the IPv6 tests; they say so and skip the part that needs it.
pub fn ipv6_loopback_available() -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(err) => {
            println!("skipped: this machine cannot bind ::1 (IPv6 loopback): {err}");
            false
        }
    }
}
