//! The command line: errors a user can cause, and `--help`.

mod common;

use std::net::TcpListener;

use common::lesson::run_unprivileged;
use common::run;

#[test]
fn a_port_in_use_fails_with_an_error_and_a_hint() {
    // Keep a listener on a free port, then start the server on that port.
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    let port = taken
        .local_addr()
        .expect("reading the bound address")
        .port()
        .to_string();

    let finished = run(&["--port", &port]);

    let error = format!("error: cannot listen on 127.0.0.1:{port}: ");
    let hint = "hint: another server is still running on that port; stop it, or choose another \
                with --port\n";
    assert!(
        finished.status.code() == Some(1)
            && finished.stdout.is_empty()
            && finished.stderr.starts_with(&error)
            && finished.stderr.ends_with(hint),
        "expected exit status 1, nothing on stdout, and on stderr \"{error}...\" then \
         {hint:?}\n{}",
        finished.describe()
    );
}

#[test]
fn an_address_of_another_machine_fails_with_an_error_and_a_hint() {
    // 192.0.2.1 is reserved for documentation (RFC 5737): no machine has it,
    // so binding it fails with "Cannot assign requested address".
    let finished = run(&["--port", "0", "--host", "192.0.2.1"]);

    let error = "error: cannot listen on 192.0.2.1:0: ";
    let hint = "hint: --host must be an address of this machine, such as 127.0.0.1\n";
    assert!(
        finished.status.code() == Some(1)
            && finished.stdout.is_empty()
            && finished.stderr.starts_with(error)
            && finished.stderr.ends_with(hint),
        "expected exit status 1, nothing on stdout, and on stderr \"{error}...\" then \
         {hint:?}\n{}",
        finished.describe()
    );
}

#[test]
fn a_port_below_1024_without_privileges_fails_with_a_hint() {
    let Some(finished) = run_unprivileged(&["--port", "1"]) else {
        return;
    };

    let error = "error: cannot listen on 127.0.0.1:1: ";
    let hint = "hint: ports below 1024 are reserved for the system; choose one above 1023 with \
                --port\n";
    assert!(
        finished.status.code() == Some(1)
            && finished.stdout.is_empty()
            && finished.stderr.starts_with(error)
            && finished.stderr.ends_with(hint),
        "expected exit status 1, nothing on stdout, and on stderr \"{error}...\" then \
         {hint:?}\n{}",
        finished.describe()
    );
}

#[test]
fn an_ipv6_address_in_an_error_is_written_in_brackets() {
    // `::1:0` could be read as an address ending in `:1:0`; `[::1]:0` cannot.
    // (2001:db8::1 is reserved for documentation: no machine has it.)
    for host in ["2001:db8::1", "[2001:db8::1]"] {
        let finished = run(&["--port", "0", "--host", host]);
        let error = "error: cannot listen on [2001:db8::1]:0: ";
        assert!(
            finished.status.code() == Some(1) && finished.stderr.starts_with(error),
            "with --host {host}: expected exit status 1 and stderr starting {error:?}\n{}",
            finished.describe()
        );
    }
}

#[test]
fn help_names_every_flag() {
    let finished = run(&["--help"]);

    let help = finished.stdout.join("\n");
    let missing: Vec<_> = [
        "--host",
        "--port",
        "--greeting",
        "--timeout",
        "--help",
        "--version",
    ]
    .into_iter()
    .filter(|flag| !help.contains(flag))
    .collect();
    assert!(
        finished.status.success() && missing.is_empty(),
        "--help must exit 0 and name every flag; missing: {missing:?}\n{}",
        finished.describe()
    );
}

#[test]
fn a_greeting_with_a_newline_is_a_usage_error() {
    // The greeting is sent as one line; a "\n" inside would make it two.
    let finished = run(&["--port", "0", "--greeting", "two\nlines"]);

    assert!(
        finished.status.code() == Some(2)
            && finished.stdout.is_empty()
            && finished.stderr.contains("cannot contain \"\\n\""),
        "expected exit status 2 (bad usage) and an error that names the \"\\n\"\n{}",
        finished.describe()
    );
}

#[test]
fn an_unknown_host_fails_with_an_error() {
    let finished = run(&["--port", "0", "--host", "no.such.host.invalid"]);

    assert!(
        finished.status.code() == Some(1)
            && finished.stdout.is_empty()
            && finished
                .stderr
                .starts_with("error: cannot listen on no.such.host.invalid:0: "),
        "expected exit status 1 and an error naming the address\n{}",
        finished.describe()
    );
}
