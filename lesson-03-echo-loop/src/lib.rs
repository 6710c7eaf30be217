//! Lesson 03: an echo loop.
//!
//! The server accepts clients **one after another** and, for each, sends back
//! exactly the bytes it reads until the client shuts down its write half. The
//! client sends lines, reads their echoes and checks every byte.
//!
//! Two ideas carry this lesson:
//!
//! - **TCP is a byte stream, not a stream of messages.** One `read` may return
//!   half a line, or three lines and a bit of a fourth. The server therefore
//!   never looks for lines at all: it copies bytes through one fixed buffer.
//!   The client, which knows how long each line it sent was, reads back
//!   exactly that many bytes, however many `read` calls that takes.
//! - **An echo client must read while it writes.** If it sent a large input
//!   before reading anything, the echoes would pile up in its own receive
//!   buffer, the server would stop reading because its writes block, and both
//!   programs would wait for each other forever. So [`run_client`] writes on
//!   one thread and reads on another.
//!
//! The server serves one client at a time on purpose: a second client can
//! connect (the kernel completes the handshake and queues it), but it gets no
//! echo until the first one leaves. Lesson 05 fixes that with a thread per
//! client. Meanwhile an idle time-out ([`ServerOptions::idle_timeout`]) stops
//! a silent client from holding the server forever.
//!
//! # Layout
//!
//! - `src/server.rs`: the server. [`run_server`] accepts clients one after
//!   another; [`echo_client`] echoes one client until it leaves.
//! - `src/log.rs`: the server's log writer: a thread behind a bounded queue,
//!   so that a log nobody reads never stops the server.
//! - `src/client.rs`: the client. [`run_client`] sends the lines on one
//!   thread and checks their echoes on another; [`EchoError`] says what went
//!   wrong, with the bytes.
//! - `src/main.rs`: the command line (`server` and `client`), and the
//!   `hint:` lines for the usual errors.
//! - `tests/`: the real programs against each other (`client.rs`), the test
//!   playing the client (`server.rs`) or the server (`errors.rs`), the
//!   library in-process (`library.rs`), and the test toolkit every lesson
//!   shares (`common/`). `benches/round_trip.rs`: the time of one round trip.
//!
//! # Reading order
//!
//! `server.rs` from top to bottom, then `client.rs` from top to bottom, then
//! `main.rs`. The chapter of the book follows the same order.
//!
//! # Optional on a first reading
//!
//! `log.rs` (the chapter explains why it exists), how the server treats a
//! failed `accept`, and in `client.rs` how a long line is printed in pieces
//! (`print_text`) and [`EchoError`]'s `Display`.
//!
//! [`run_server`] and [`run_client`] take an already bound listener or an
//! address, and a writer for their output, so the tests, the benchmark and
//! later lessons can call them in-process; `main.rs` only parses the command
//! line.

mod client;
pub mod log;
mod server;

pub use client::{
    ClientReport, DEFAULT_CLIENT_TIMEOUT, EchoError, EchoErrorKind, KEPT_AFTER_DIFFERENCE,
    PIECE_SIZE, PIECES_IN_FLIGHT, display_address, run_client, unbracketed,
};
pub use server::{
    DEFAULT_IDLE_TIMEOUT, ECHO_BUFFER_SIZE, EchoCounts, ServerOptions, echo_client, run_server,
};

/// The port this lesson listens on unless told otherwise (7000 + lesson number).
pub const DEFAULT_PORT: u16 = 7003;
