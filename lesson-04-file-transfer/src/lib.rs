//! Lesson 04: a file transfer that loses nothing.
//!
//! The tutorial's file transfer opens a connection, sends the raw bytes of a
//! file and closes. The server cannot know the file's name, cannot tell a
//! complete file from one that was cut off, and the client never learns
//! whether the file was saved. This crate keeps the tutorial's shape (one
//! client streams a file, the server saves it, one client at a time) and
//! fixes each of those with a small line-based protocol: a header that names
//! the file and its size, `READY`, exactly that many bytes, and `OK` once the
//! file is complete on disk.
//!
//! # Layout
//!
//! - [`protocol`]: what crosses the wire. The header and the replies, the
//!   rules for names, a line reader that cannot be made to buffer without
//!   end, and [`Refusal`], the one error (`ERR <code> <detail>`).
//! - [`server`]: the socket story of the server. The accept loop, one upload
//!   from header to save, the body loop, and the polite close.
//! - [`deadline`]: a time limit for a whole phase (the header, the body),
//!   not only for each read.
//! - [`atomic_save`]: a temporary file, `sync_all`, a rename that will not
//!   replace a file someone else created, and the clean-up after a crash.
//! - [`client`]: check the file, send the header, wait for `READY`, send the
//!   body, wait for `OK`.
//! - [`log`]: the server's event log, written by a thread of its own so that
//!   a log nobody reads never holds up serving (the same file as in lessons
//!   03 and 05).
//! - [`zero_copy`] (optional): the Linux fast path, `sendfile` and `splice`,
//!   chosen with `--copy zero-copy`.
//! - [`progress`] (optional): the client's progress bar.
//!
//! `main.rs` is the command line: it parses flags, binds, prints the
//! `listening on` line, and turns errors into messages, hints and exit codes.
//!
//! # Reading order
//!
//! `protocol`, then `server` top to bottom (it calls into `deadline` and
//! `atomic_save` at the points where the chapter explains them), then
//! `client`. On a first reading skip `zero_copy` and `progress`: the loops in
//! `server` and `client` do the same job in plain `std`, and the tests run
//! both.

pub mod atomic_save;
pub mod client;
pub mod deadline;
pub mod log;
pub mod progress;
pub mod protocol;
pub mod server;
pub mod zero_copy;

pub use atomic_save::{prepare_dir, remove_unfinished_upload};
pub use client::{ClientOptions, Sent, connect, send_file};
pub use protocol::{
    DEFAULT_PORT, ErrorCode, Header, Line, MAX_LINE, MAX_NAME, Refusal, Reply,
    megabytes_per_second, parse_header, parse_reply, printable, read_line_bounded, validate_name,
};
pub use server::{ServerConfig, serve};
pub use zero_copy::CopyMode;
