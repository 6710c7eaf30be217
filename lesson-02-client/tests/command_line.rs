//! The command line: errors a user can cause, and `--help`.

mod common;

use std::net::TcpListener;

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
