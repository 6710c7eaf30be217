//! Lesson 05: a thread-per-client echo server that stays up.
//!
//! Lesson 03's server serves one client at a time: while it echoes for one,
//! everyone else waits in the listen queue. This lesson gives every client
//! its own thread, the way the classic Python tutorial does with
//! `threading.Thread(target=handle, args=(conn,)).start()`, and then adds
//! what that tutorial leaves out, because a server that is meant to stay up
//! needs it: a bound on connections (`ERR server busy`), an idle time-out,
//! an explicit listen backlog, a graceful shutdown, a log that can never
//! stop the server, and room for its clients within the open-file limit.
//!
//! The wire protocol is lesson 03's: the client sends bytes (lines, in
//! practice), the server writes back exactly the bytes it read, until the
//! client shuts down its write half; then the server closes the connection.
//! So the `client` subcommand is lesson 03's client, reused.
//!
//! # Layout
//!
//! The modules follow a connection's life, and this is the order to read
//! them in:
//!
//! * [`server`]: the lesson. [`bind`] makes the listening socket with a
//!   chosen backlog; [`run_server`] is the accept loop, one thread per
//!   client, the connection limit, the echo with its time-outs, and the
//!   shutdown at the end. Read it top to bottom.
//! * [`registry`]: the clients being served right now, shared between the
//!   accept loop (which counts them, waits for them and, at the end, closes
//!   them) and the client threads (which leave it when they are done).
//! * [`shutdown`]: [`Shutdown`], the handle that stops a running server, and
//!   how it wakes an `accept` that is blocked waiting for a client.
//! * [`descriptors`]: every connection is a file descriptor. Raising the
//!   open-file limit at start, and a spare descriptor so that a client is
//!   told "busy" even when the limit is reached.
//! * [`log`]: the event log, written by a thread of its own behind a bounded
//!   queue, so that a log nobody reads never holds up serving. It is the same
//!   file as in lessons 03 and 04.
//! * `main.rs`: the command line (`server`, `client`, `load`).
//!
//! Optional on a first reading:
//!
//! * [`load`]: the load tool that the chapter's measurements use. It opens
//!   many connections at once and drives them from a few threads with
//!   `poll(2)`, which is the next step after this lesson, not part of it.
//!
//! # Running the server from code
//!
//! The binary is a thin wrapper around [`bind`] and [`run_server`]; another
//! program (or a test) can do the same and stop the server without a signal:
//!
//! ```no_run
//! use lesson_05_threaded::{bind, run_server, ServerConfig, Shutdown};
//!
//! let listener = bind(("127.0.0.1", 0), 1024)?;
//! println!("listening on {}", listener.local_addr()?);
//! let shutdown = Shutdown::new();
//! let stopper = shutdown.clone();
//! let server = std::thread::spawn(move || {
//!     run_server(listener, &ServerConfig::default(), shutdown, std::io::stdout())
//! });
//! // ... talk to the server ...
//! stopper.trigger();
//! let summary = server.join().expect("the server thread panicked")?;
//! println!("served {} clients", summary.served);
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::sync::{Mutex, MutexGuard, PoisonError};

pub mod descriptors;
pub mod load;
pub mod log;
pub mod registry;
pub mod server;
pub mod shutdown;

pub use server::{
    BUSY_REPLY, CLIENT_STACK_SIZE, DEFAULT_BACKLOG, ServerConfig, Summary, bind, run_server,
};
pub use shutdown::Shutdown;

/// The port this lesson listens on unless told otherwise (7000 + lesson number).
pub const DEFAULT_PORT: u16 = 7005;

/// Locks a mutex even if a thread panicked while holding it: the data we
/// keep behind our locks (a map of sockets, an address) stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
