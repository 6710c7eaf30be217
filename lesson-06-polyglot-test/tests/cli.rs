//! The command line: the `matrix` table, and the Rust ends' errors and hints.
//!
//! These runs never need Java or Go: `matrix` builds only the languages it
//! is asked for.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use assert_cmd::Command;
use lesson_06_polyglot_test::peers::find_on_path;
use lesson_06_polyglot_test::{Language, Outcome, PairResult, render_matrix};
use predicates::prelude::*;

/// Every run of the binary is killed if it takes longer than this.
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn lesson() -> Command {
    let mut command = Command::new(common::binary());
    command.timeout(RUN_LIMIT);
    command
}

#[test]
fn matrix_of_the_rust_ends_prints_exactly_this_table() {
    lesson()
        .args(["matrix", "--servers", "rust", "--clients", "rust"])
        .assert()
        .success()
        .stdout(
            "server \\ client  rust\n\
             rust             ok\n\
             \n\
             1 pair: 1 ok, 0 FAIL, 0 skipped\n",
        );
}

#[test]
fn matrix_of_rust_and_python_is_a_two_by_two_table() {
    if find_on_path("python3").is_none() {
        common::skip("skipped: python3 not found on PATH");
        return;
    }
    lesson()
        .args([
            "matrix",
            "--servers",
            "rust,python",
            "--clients",
            "rust,python",
        ])
        .assert()
        .success()
        .stdout(
            "server \\ client  rust     python\n\
             rust             ok       ok\n\
             python           ok       ok\n\
             \n\
             4 pairs: 4 ok, 0 FAIL, 0 skipped\n",
        );
}

#[test]
fn matrix_rejects_an_unknown_language() {
    lesson()
        .args(["matrix", "--servers", "cobol"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "possible values: rust, python, java, go",
        ));
}

#[test]
fn table_marks_failures_and_skips_and_explains_them() {
    use Language::{Go, Rust};
    let results = [
        PairResult {
            server: Rust,
            client: Rust,
            outcome: Outcome::Ok,
        },
        PairResult {
            server: Rust,
            client: Go,
            outcome: Outcome::Skipped("skipped: go not found on PATH".into()),
        },
        PairResult {
            server: Go,
            client: Rust,
            outcome: Outcome::Failed("go server with rust client: FAIL\n  details".into()),
        },
        PairResult {
            server: Go,
            client: Go,
            outcome: Outcome::Skipped("skipped: go not found on PATH".into()),
        },
    ];
    let table = render_matrix(&[Rust, Go], &[Rust, Go], &results);
    assert_eq!(
        table,
        "server \\ client  rust     go\n\
         rust             ok       skipped\n\
         go               FAIL     skipped\n\
         \n\
         4 pairs: 1 ok, 1 FAIL, 2 skipped\n\
         \n\
         rust server with go client: skipped: go not found on PATH\n\
         \n\
         go server with rust client: FAIL\n  details\n\
         \n\
         go server with go client: skipped: go not found on PATH\n",
    );
}

#[test]
fn rust_client_without_a_server_says_how_to_start_one() {
    // A port nobody listens on: bind one, note it, close it.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("finding a free port")
        .port();
    lesson()
        .args(["rust-client", "--port", &port.to_string()])
        .write_stdin("hello\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("error: cannot connect to 127.0.0.1:{port}")))
        .stderr(predicate::str::contains(format!(
            "hint: start the server first: cargo run -p lesson-06-polyglot-test -- rust-server --port {port}"
        )));
}

#[test]
fn rust_server_on_a_port_in_use_says_so() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding a port to keep busy");
    let port = taken.local_addr().expect("the busy port").port();
    lesson()
        .args(["rust-server", "--port", &port.to_string()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "error: cannot listen on 127.0.0.1:{port}"
        )))
        .stderr(predicate::str::contains(
            "hint: another server is still running on that port",
        ));
}
