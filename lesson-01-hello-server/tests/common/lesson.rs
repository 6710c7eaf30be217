//! What only lesson 01's tests need, beside the shared toolkit in `mod.rs`.

/// Lesson 01 is only a server: its binary takes no subcommand.
pub const SERVER_COMMAND: &[&str] = &[];

/// The greeting the server sends when `--greeting` is not given.
pub const DEFAULT_GREETING: &str = "Hello, client! I am the server.";
