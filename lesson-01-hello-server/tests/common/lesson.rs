//! What only lesson 01's tests need, beside the shared toolkit in `mod.rs`.

use std::process::{Command, Stdio};

use super::{BIN, Finished, spawn_command};

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

/// Runs the binary with `args` as a user without privileges, for whom a
/// port below 1024 is refused: directly when the tests do not run as root,
/// through `setpriv` as user `nobody` (65534) when they do. Returns `None`,
/// saying why, where that cannot be arranged.
#[track_caller]
pub fn run_unprivileged(args: &[&str]) -> Option<Finished> {
    let lowest_free_port = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    if lowest_free_port.is_some_and(|port| port <= 1) {
        println!("skipped: on this machine every user may bind any port");
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(2) == Some("0"));
    let mut command = if root {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        setpriv
    } else {
        Command::new(BIN)
    };
    command.args(args);
    let finished = spawn_command(command, Stdio::null()).finish();
    if finished.stderr.starts_with("setpriv:") {
        println!(
            "skipped: setpriv cannot run the binary as nobody: {}",
            finished.stderr
        );
        return None;
    }
    Some(finished)
}
