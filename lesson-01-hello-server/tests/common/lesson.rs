//! What only lesson 01's tests need, beside the shared toolkit in `mod.rs`.

/// Lesson 01 is only a server: its binary takes no subcommand.
pub const SERVER_COMMAND: &[&str] = &[];

/// The greeting the server sends when `--greeting` is not given.
pub const DEFAULT_GREETING: &str = "Hello, client! I am the server.";

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
