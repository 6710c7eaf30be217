//! The command line: errors a user can cause, and `--help`.

mod common;

use std::net::TcpListener;

use common::lesson::{listener_that_never_answers, run_unprivileged};
use common::{Finished, free_port, run};

fn assert_exit(finished: &Finished, code: i32, stderr_check: impl Fn(&str) -> bool, what: &str) {
    assert!(
        finished.status.code() == Some(code) && stderr_check(&finished.stderr),
        "expected exit status {code} and {what}\n{}",
        finished.describe()
    );
}

#[test]
fn nothing_listening_is_an_error_with_the_command_that_starts_the_server() {
    let port = free_port().to_string();

    let finished = run(&["client", "--port", &port]);

    let expected = format!(
        "error: cannot connect to 127.0.0.1:{port}: Connection refused (os error 111)\n\
         hint: start the server first: cargo run -p lesson-02-client -- server --port {port}\n"
    );
    assert_exit(
        &finished,
        1,
        |stderr| stderr == expected && finished.stdout.is_empty(),
        &format!("nothing on stdout, and stderr:\n{expected}"),
    );
}

#[test]
fn a_port_in_use_fails_with_an_error_and_a_hint() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    let port = taken
        .local_addr()
        .expect("reading the bound address")
        .port()
        .to_string();

    let finished = run(&["server", "--port", &port]);

    let error = format!("error: cannot listen on 127.0.0.1:{port}: ");
    let hint = "hint: another server is still running on that port; stop it, or choose \
                another with --port\n";
    assert_exit(
        &finished,
        1,
        |stderr| stderr.starts_with(&error) && stderr.ends_with(hint),
        &format!("stderr \"{error}...\" then {hint:?}"),
    );
}

#[test]
fn a_server_that_never_answers_the_connect_is_an_error_with_a_hint() {
    let (_listener, addr, _queued) = listener_that_never_answers();
    let port = addr.port().to_string();

    let finished = run(&["client", "--port", &port, "--timeout", "1"]);

    let error = format!("error: cannot connect to 127.0.0.1:{port}: ");
    let hint = "hint: nothing answered at that address in time; check --host and --port\n";
    assert_exit(
        &finished,
        1,
        |stderr| stderr.starts_with(&error) && stderr.ends_with(hint),
        &format!("stderr \"{error}...\" then {hint:?}"),
    );
}

#[test]
fn an_address_of_another_machine_fails_with_an_error_and_a_hint() {
    // 192.0.2.1 is reserved for documentation (RFC 5737): no machine has it.
    let finished = run(&["server", "--port", "0", "--host", "192.0.2.1"]);

    let error = "error: cannot listen on 192.0.2.1:0: ";
    let hint = "hint: --host must be an address of this machine, such as 127.0.0.1\n";
    assert_exit(
        &finished,
        1,
        |stderr| stderr.starts_with(error) && stderr.ends_with(hint),
        &format!("stderr \"{error}...\" then {hint:?}"),
    );
}

#[test]
fn a_port_below_1024_without_privileges_fails_with_a_hint() {
    let Some(finished) = run_unprivileged(&["server", "--port", "1"]) else {
        return;
    };

    let error = "error: cannot listen on 127.0.0.1:1: ";
    let hint = "hint: ports below 1024 are reserved for the system; choose one above 1023 with \
                --port\n";
    assert_exit(
        &finished,
        1,
        |stderr| stderr.starts_with(error) && stderr.ends_with(hint),
        &format!("stderr \"{error}...\" then {hint:?}"),
    );
}

#[test]
fn an_ipv6_address_in_an_error_is_written_in_brackets() {
    // 2001:db8::1 is reserved for documentation: no machine has it.
    for host in ["2001:db8::1", "[2001:db8::1]"] {
        let finished = run(&["server", "--port", "0", "--host", host]);
        let error = "error: cannot listen on [2001:db8::1]:0: ";
        assert_exit(
            &finished,
            1,
            |stderr| stderr.starts_with(error),
            &format!("with --host {host}, stderr starting {error:?}"),
        );
    }
}

#[test]
fn help_names_every_flag_of_both_ends() {
    for (subcommand, flags) in [
        ("server", ["--host", "--port", "--timeout", "--greeting"]),
        ("client", ["--host", "--port", "--timeout", "--message"]),
    ] {
        let finished = run(&[subcommand, "--help"]);
        let help = finished.stdout.join("\n");
        let missing: Vec<_> = flags.iter().filter(|flag| !help.contains(*flag)).collect();
        assert!(
            finished.status.success() && missing.is_empty(),
            "`{subcommand} --help` must exit 0 and name every flag; missing: {missing:?}\n{}",
            finished.describe()
        );
    }

    let finished = run(&["--help"]);
    let help = finished.stdout.join("\n");
    assert!(
        finished.status.success() && help.contains("server") && help.contains("client"),
        "`--help` must exit 0 and name both subcommands\n{}",
        finished.describe()
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["client", "--message", "two\nlines"],
        &["server", "--greeting", "two\nlines"],
        &["client", "--timeout", "0"],
        &["client", "--port", "70000"],
    ] {
        let finished = run(args);
        assert_exit(
            &finished,
            2,
            |stderr| !stderr.is_empty() && finished.stdout.is_empty(),
            &format!("a usage message on stderr for {args:?}"),
        );
    }
}
