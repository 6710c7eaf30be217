//! `check`'s command line and its care for the program under test: the
//! lists, usage errors (exit status 2), programs that cannot start or
//! never listen, a fixed `--addr`, and a program stopped with everything
//! it started, also on Ctrl-C.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::lesson::{
    assert_fails_at, assert_passes, lesson_program, on_path, python, report, run_check,
};
use common::{Finished, free_port, spawn};
use lesson_06_polyglot_test::check::report::{list, markdown};
use lesson_06_polyglot_test::check::{Target, hints};

/// Runs `check` with `args`, for the runs that end at once.
fn check(args: &[&str]) -> Finished {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    spawn(&all).finish_within(Duration::from_secs(30))
}

#[track_caller]
fn assert_usage_error(args: &[&str], message: &str) {
    let finished = check(args);
    assert!(
        finished.status.code() == Some(2)
            && finished.stdout.is_empty()
            && finished.stderr.contains(message),
        "expected exit status 2 and {message:?} on stderr\n{}",
        finished.describe()
    );
}

#[test]
fn list_shows_every_target() {
    let finished = check(&["--list"]);
    assert!(
        finished.status.success() && report(&finished) == list(None),
        "expected exit status 0 and the list of targets\n{}",
        finished.describe()
    );
    assert!(list(None).starts_with("usage: check TARGET [--addr HOST:PORT] -- COMMAND...\n"));
}

#[test]
fn list_of_a_target_shows_its_stages() {
    let finished = check(&["--list", "05-server"]);
    assert!(
        finished.status.success() && report(&finished) == list(Some(Target::Server05)),
        "expected exit status 0 and the stages of 05-server\n{}",
        finished.describe()
    );
}

#[test]
fn the_books_appendix_lists_the_stages_as_the_code_does() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/src/appendix-check/stages.md");
    let in_the_book = std::fs::read_to_string(&path).expect("reading the appendix");
    assert!(
        in_the_book == markdown(),
        "{} is not what the code says; regenerate it with\n  cargo run -q -p \
         lesson-06-polyglot-test -- check --list --markdown > docs/src/appendix-check/stages.md",
        path.display()
    );
    let finished = check(&["--list", "--markdown"]);
    assert_eq!(report(&finished), markdown());
}

#[test]
fn a_command_without_port_is_a_usage_error() {
    assert_usage_error(
        &["03-server", "--", "python3", "server.py"],
        "the command has no {port}: write {port} where your server takes its port",
    );
    assert_usage_error(
        &["03-client", "--", "python3", "client.py"],
        "write {port} where your client takes the port to connect to",
    );
}

#[test]
fn file_transfer_targets_need_their_placeholders() {
    assert_usage_error(
        &["04-server", "--", "python3", "server.py", "{port}"],
        "04-server needs {dir} in the command",
    );
    assert_usage_error(
        &["04-client", "--", "python3", "client.py", "{port}"],
        "04-client needs {file} in the command",
    );
}

#[test]
fn max_connections_is_only_for_05_server() {
    assert_usage_error(
        &[
            "03-server",
            "--max-connections",
            "3",
            "--",
            "server",
            "{port}",
        ],
        "--max-connections is for 05-server, not 03-server",
    );
}

#[test]
fn a_target_and_a_command_are_needed() {
    assert_usage_error(&[], "required");
    assert_usage_error(&["03-server"], "required");
    assert_usage_error(
        &["06-server", "--", "x", "{port}"],
        "invalid value '06-server'",
    );
}

#[test]
fn a_program_that_cannot_start_fails_the_first_stage() {
    let command = vec![
        "no-such-program-for-check".to_string(),
        "{port}".to_string(),
    ];
    assert_fails_at(Target::Server03, &[], &command, 1, hints::CANNOT_START);
}

#[test]
fn a_program_that_exits_at_once_fails_the_first_stage_with_its_error() {
    let command: Vec<String> = ["sh", "-c", "echo 'no port for me' >&2; exit 3", "{port}"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_fails_at(Target::Server01, &[], &command, 1, hints::EXITED_AT_START);
    let finished = run_check(Target::Server01, &[], &command);
    let text = report(&finished);
    assert!(
        text.contains("your program exited (exit status 3) before it accepted a connection")
            && text.contains("      | no port for me\n"),
        "the report should give the exit status and the program's stderr\n{text}"
    );
}

#[test]
fn a_program_that_never_listens_fails_the_first_stage_in_time() {
    let command = vec!["sleep".to_string(), "30".to_string(), "{port}".to_string()];
    let started = Instant::now();
    let options = ["--start-timeout", "1"];
    assert_fails_at(
        Target::Server03,
        &options,
        &command,
        1,
        hints::LISTEN_ON_THE_PORT,
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a program that never listens should fail after --start-timeout, not after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_client_that_never_connects_fails_the_first_stage() {
    let command = vec!["sleep".to_string(), "30".to_string(), "{port}".to_string()];
    let options = ["--start-timeout", "1"];
    assert_fails_at(
        Target::Client03,
        &options,
        &command,
        1,
        hints::CONNECT_TO_THE_PORT,
    );
}

/// A free loopback address, for a program that always uses the same port.
fn fixed_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

#[test]
fn a_greeting_server_on_a_fixed_port_is_started_afresh_for_every_stage() {
    // It serves one client and exits, and sets no SO_REUSEADDR: each stage
    // binds the same port again, which works only because check leaves no
    // connection of it in TIME_WAIT.
    let addr = fixed_addr();
    let port = addr.port().to_string();
    if let Some(command) = python("greeting_server.py", &[&port]) {
        let options = ["--addr", &addr.to_string()];
        assert_passes(Target::Server01, &options, &command);
    }
}

#[test]
fn a_client_with_a_fixed_port_is_checked_on_that_port() {
    // Lesson 02's client given the port itself, as a tutorial client has
    // it written in its code: check listens there instead of on {port}.
    let addr = fixed_addr();
    let port = addr.port().to_string();
    let command = lesson_program_on(Target::Client02, &port);
    assert_passes(Target::Client02, &["--addr", &addr.to_string()], &command);
}

/// `BIN lesson TARGET --port PORT`, with the port written out.
fn lesson_program_on(target: Target, port: &str) -> Vec<String> {
    lesson_program(target, &[])
        .into_iter()
        .map(|arg| {
            if arg == "{port}" {
                port.to_string()
            } else {
                arg
            }
        })
        .collect()
}

#[test]
fn a_fixed_port_already_taken_fails_the_first_stage() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding a port to keep busy");
    let addr = taken.local_addr().expect("the busy address");
    let command = vec!["sleep".to_string(), "30".to_string()];
    let options = ["--addr", &addr.to_string()];
    assert_fails_at(
        Target::Server01,
        &options,
        &command,
        1,
        hints::ALREADY_RUNNING,
    );
}

#[test]
fn a_server_started_through_a_shell_is_stopped_with_the_shell() {
    // `sh` runs python as a second process, as `go run` and `cargo run` do.
    // Were only `sh` stopped, python would still hold the port, and the
    // next stage would find it taken.
    if !on_path("python3") {
        return;
    }
    let addr = fixed_addr();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("student-programs/echo_one_at_a_time.py");
    let command: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        format!(
            "python3 {} {}; echo python ended",
            script.display(),
            addr.port()
        ),
    ];
    assert_passes(Target::Server03, &["--addr", &addr.to_string()], &command);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
        "nothing should listen on {addr} once check has ended"
    );
}

#[test]
fn ctrl_c_stops_the_program_too() {
    let addr = fixed_addr();
    let port = addr.port().to_string();
    let Some(command) = python("greeting_never_closes.py", &[&port]) else {
        return;
    };
    let mut args = vec!["check", "01-server", "--addr"];
    let addr_text = addr.to_string();
    args.push(&addr_text);
    args.push("--");
    args.extend(command.iter().map(String::as_str));
    let mut running = spawn(&args);
    // Stage 4 waits (5 s) on a server that never closes: interrupt it there.
    running.line_containing("3. greets with exactly");
    running.signal("INT");
    let finished = running.finish();
    assert_eq!(
        finished.status.code(),
        Some(130),
        "check should exit 130 on Ctrl-C\n{}",
        finished.describe()
    );
    // A program that check was starting at the moment of the Ctrl-C takes a
    // moment to listen: watch the port for a while, not only once.
    let watch_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < watch_until {
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
            "the program check was running should be stopped on Ctrl-C, but {addr} accepts \
             (a program started just as Ctrl-C came was left running?)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
