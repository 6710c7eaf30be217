//! The command line: the `matrix` table, and the Rust ends' errors and hints.
//!
//! These runs never need Java or Go: `matrix` builds only the languages it
//! is asked for.

mod common;

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use common::{BIN, Finished, free_port, spawn, spawn_command, spawn_with_input};
use lesson_06_polyglot_test::peers::find_on_path;
use lesson_06_polyglot_test::{Language, Outcome, PairResult, render_matrix};

/// Every run of the binary is killed if it takes longer than this.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Runs the binary with `args` to its end, within [`RUN_LIMIT`].
fn lesson(args: &[&str]) -> Finished {
    spawn(args).finish_within(RUN_LIMIT)
}

/// Asserts exit status 0 and exactly `expected` on stdout.
#[track_caller]
fn assert_prints(finished: &Finished, expected: &str) {
    let printed = format!("{}\n", finished.stdout.join("\n"));
    assert!(
        finished.status.success() && printed == expected,
        "expected exit status 0 and exactly this on stdout:\n{expected}\n{}",
        finished.describe()
    );
}

#[test]
fn matrix_of_the_rust_ends_prints_exactly_this_table() {
    let finished = lesson(&["matrix", "--servers", "rust", "--clients", "rust"]);
    assert_prints(
        &finished,
        "server \\ client  rust\n\
         rust             ok\n\
         \n\
         1 pair: 1 ok, 0 FAIL, 0 skipped\n",
    );
}

#[test]
fn matrix_of_rust_and_python_is_a_two_by_two_table() {
    if find_on_path("python3").is_none() {
        common::lesson::skip("skipped: python3 not found on PATH");
        return;
    }
    let finished = lesson(&[
        "matrix",
        "--servers",
        "rust,python",
        "--clients",
        "rust,python",
    ]);
    assert_prints(
        &finished,
        "server \\ client  rust     python\n\
         rust             ok       ok\n\
         python           ok       ok\n\
         \n\
         4 pairs: 4 ok, 0 FAIL, 0 skipped\n",
    );
}

#[test]
fn a_skipped_pair_fails_the_matrix_only_with_polyglot_require() {
    // An empty PATH: no language but Rust (this binary itself) can run.
    let empty = tempfile::tempdir().expect("creating an empty folder for PATH");
    let run = |require: Option<&str>| {
        let mut command = std::process::Command::new(BIN);
        command
            .args(["matrix", "--servers", "python", "--clients", "rust"])
            .env("PATH", empty.path());
        match require {
            Some(value) => command.env("POLYGLOT_REQUIRE", value),
            None => command.env_remove("POLYGLOT_REQUIRE"),
        };
        spawn_command(command, Stdio::null()).finish_within(RUN_LIMIT)
    };
    for (require, code) in [(None, 0), (Some("0"), 0), (Some("1"), 1)] {
        let finished = run(require);
        assert!(
            finished.status.code() == Some(code)
                && finished.stdout.contains(
                    &"python server with rust client: skipped: python3 not found on PATH"
                        .to_string()
                ),
            "with POLYGLOT_REQUIRE={} and no python3 on PATH, the matrix should skip the pair \
             and exit {code} (hint: only POLYGLOT_REQUIRE=1 turns a skip into a failure)\n{}",
            require.unwrap_or("(unset)"),
            finished.describe()
        );
    }
}

#[test]
fn matrix_rejects_an_unknown_language() {
    let finished = lesson(&["matrix", "--servers", "cobol"]);
    assert!(
        finished.status.code() == Some(2)
            && finished
                .stderr
                .contains("possible values: rust, python, java, go"),
        "expected exit status 2 and the possible values on stderr\n{}",
        finished.describe()
    );
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
    // A port nobody listens on.
    let port = free_port();
    let finished = spawn_with_input(&["rust-client", "--port", &port.to_string()], b"hello\n")
        .finish_within(RUN_LIMIT);
    let error = format!("error: cannot connect to 127.0.0.1:{port}");
    let hint = format!(
        "hint: start the server first: cargo run -p lesson-06-polyglot-test -- rust-server --port {port}"
    );
    assert!(
        finished.status.code() == Some(1)
            && finished.stderr.contains(&error)
            && finished.stderr.contains(&hint),
        "expected exit status 1, {error:?} and {hint:?} on stderr\n{}",
        finished.describe()
    );
}

#[test]
fn rust_server_on_a_port_in_use_says_so() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding a port to keep busy");
    let port = taken.local_addr().expect("the busy port").port();
    let finished = lesson(&["rust-server", "--port", &port.to_string()]);
    let error = format!("error: cannot listen on 127.0.0.1:{port}");
    let hint = "hint: another server is still running on that port";
    assert!(
        finished.status.code() == Some(1)
            && finished.stderr.contains(&error)
            && finished.stderr.contains(hint),
        "expected exit status 1, {error:?} and {hint:?} on stderr\n{}",
        finished.describe()
    );
}
