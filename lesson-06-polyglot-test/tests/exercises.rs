//! The chapter's exercises that ask for a change to the program, each
//! checked by a test that runs the real programs. They are ignored by
//! default: the lesson as it stands does not do what they ask, so each
//! fails until its exercise is done. Run one with
//!
//! ```sh
//! cargo test -p lesson-06-polyglot-test --test exercises -- --ignored exercise_5
//! ```
//!
//! A failure message starts with what the exercise asks and goes on with
//! what is still missing. The solutions are in `solutions/`, one patch per
//! exercise; each is one way to do it among several. The exercises that
//! are experiments or questions (1 to 4, and 6) have their answers in
//! `solutions/answers.md`.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;

use common::lesson::{
    available, lesson_program, peers, python, report, run_check, student_programs,
};
use common::{BIN, accept, connect, escaped, fake_server, run, send};
use lesson_06_polyglot_test::check::Target;
use lesson_06_polyglot_test::check::report::stage_line;
use lesson_06_polyglot_test::process::{ServerProcess, run_to_end};
use lesson_06_polyglot_test::{
    CLIENT_LIMIT, Language, Outcome, SERVER_START_LIMIT, run_pair, sample_lines,
};

// ---------------------------------------------------------------------------
// Exercise 5: a fifth language
// ---------------------------------------------------------------------------

/// The fifth language, as `matrix --servers` spells it. The test checks a
/// C peer (gcc is on every machine the lesson is tested on); a peer in
/// another language passes it too once its name is written here.
const FIFTH: &str = "c";

/// The fifth language, looked up by name the way the command line does.
fn fifth_language() -> Language {
    let known: Vec<&str> = Language::ALL
        .iter()
        .map(|language| language.name())
        .collect();
    let Ok(fifth) = <Language as clap::ValueEnum>::from_str(FIFTH, false) else {
        panic!(
            "exercise 5 asks for a fifth language in the matrix, with an echo server and an \
             echo client in peers/{FIFTH}/; `matrix --servers {FIFTH}` does not know it yet: \
             the languages are {} (hint: a variant of `Language`, its name in \
             `Language::name`, and its command lines in `Peers::command_line`)",
            known.join(", ")
        );
    };
    assert!(
        Language::ALL.contains(&fifth),
        "exercise 5: `{FIFTH}` is a language now, but the default matrix runs only {}: add it \
         to `Language::ALL`, so that `cargo run -p lesson-06-polyglot-test` has a {FIFTH} row \
         and column",
        known.join(", ")
    );
    fifth
}

#[test]
#[ignore = "exercise 5: a fifth language"]
fn exercise_5_a_fifth_language_talks_to_every_peer_of_the_matrix() {
    let fifth = fifth_language();
    if !available(fifth) {
        return;
    }

    // Its server against every client, and its client against every server.
    let lines = sample_lines();
    let mut failures = Vec::new();
    for other in Language::ALL {
        let mut pairs = vec![(fifth, other)];
        if other != fifth {
            pairs.push((other, fifth));
        }
        for (server, client) in pairs {
            match run_pair(peers(), server, client, &lines) {
                Outcome::Ok => {}
                Outcome::Skipped(why) => common::lesson::skip(&why),
                Outcome::Failed(report) => failures.push(report),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "exercise 5: every pair with the {fifth} peers should pass, as the sixteen others do; \
         {} did not:\n\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The server, against a client that leaves at once, then one whose
    // last bytes have no newline.
    let mut command = peers().server_command(fifth).expect("the server command");
    let server =
        ServerProcess::start(&mut command, SERVER_START_LIMIT).expect("starting the server");
    drop(connect(server.address));
    let sent = "no newline at the end: é€🦀".as_bytes();
    let mut stream = connect(server.address);
    send(&mut stream, sent, "the server");
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    let mut received = Vec::new();
    let result = stream.read_to_end(&mut received);
    let output = server.stop();
    assert!(
        result.is_ok() && received == sent,
        "exercise 5: the {fifth} server should keep serving after a client that left at once, \
         echo bytes that end without a newline, and close at the end of the stream\n  \
         sent     {}\n  received {} ({result:?})\n  its log: {:?}\n  its stderr: {:?}\n  \
         hint: echo what each read returns, and close when a read returns 0",
        escaped(sent),
        escaped(&received),
        output.stdout_lines,
        String::from_utf8_lossy(&output.stderr),
    );

    // The client, against a server that answers in upper case.
    let (listener, addr) = fake_server();
    thread::spawn(move || {
        let mut stream = accept(&listener);
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.last() != Some(&b'\n') && stream.read(&mut byte)? == 1 {
            line.push(byte[0]);
        }
        stream.write_all(&line.to_ascii_uppercase())?;
        // Wait for the client to hang up, so it surely reads the reply.
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest)?;
        Ok::<(), std::io::Error>(())
    });
    let mut command = peers()
        .client_command(fifth, addr.port())
        .expect("the client command");
    let finished =
        run_to_end(&mut command, b"hello\n".to_vec(), CLIENT_LIMIT).expect("running the client");
    let stderr = String::from_utf8_lossy(&finished.stderr);
    assert!(
        finished
            .status
            .is_some_and(|status| status.code() == Some(1))
            && stderr.contains("HELLO"),
        "exercise 5: the {fifth} client should check each echo: sent \"hello\\n\", it got \
         \"HELLO\\n\" back, so it should exit 1 and say what came back (\"HELLO\") on stderr\n  \
         status: {:?}\n  stdout: {:?}\n  stderr: {stderr:?}",
        finished.status,
        String::from_utf8_lossy(&finished.stdout),
    );
}

// ---------------------------------------------------------------------------
// Exercise 7: a stage of your own
// ---------------------------------------------------------------------------

/// The stage the exercise asks for, by the name the chapter gives it.
const NOT_UTF8_STAGE: &str = "echoes bytes that are not UTF-8, unchanged";

/// The student program that fails it, in `student-programs/`.
const NOT_UTF8_PROGRAM: &str = "echo_replaces_invalid_utf8.py";

#[test]
#[ignore = "exercise 7: a stage of your own"]
fn exercise_7_a_stage_of_your_own_catches_a_server_that_decodes_its_bytes() {
    // `check --list` shows the stage in both echo server targets.
    for target in [Target::Server03, Target::Server05] {
        let listed = run(&["check", "--list", target.name()]);
        // The stage lines: "8. echoes ...".
        let stage_lines: Vec<&String> = listed
            .stdout
            .iter()
            .filter(|line| {
                line.split_once(". ")
                    .is_some_and(|(number, _)| number.parse::<usize>().is_ok())
            })
            .collect();
        let shown = stage_lines.iter().any(|line| {
            line.split_once(". ")
                .is_some_and(|(_, name)| name == NOT_UTF8_STAGE)
        });
        assert!(
            shown,
            "exercise 7 asks for a stage \"{NOT_UTF8_STAGE}\" in 03-server and 05-server; \
             `check --list {target}` does not show it yet, only:\n{}",
            stage_lines
                .iter()
                .map(|line| format!("  {line}\n"))
                .collect::<String>()
        );
    }

    let target = Target::Server03;
    let stages = target.stages();
    let number = stages
        .iter()
        .position(|stage| stage.name == NOT_UTF8_STAGE)
        .map(|index| index + 1)
        .expect("the stage is listed, so it is in the target's stages");

    // The student program passes every stage before it and fails it.
    let Some(command) = python(NOT_UTF8_PROGRAM, &["{port}"]) else {
        return;
    };
    let path = student_programs().join(NOT_UTF8_PROGRAM);
    assert!(
        path.is_file(),
        "exercise 7 also asks for a student program that fails the new stage: {} does not \
         exist (hint: a Python echo server that reads whole lines and sends back \
         line.decode(\"utf-8\", errors=\"replace\").encode())",
        path.display()
    );
    let finished = run_check(target, &[], &command);
    let printed = report(&finished);
    let mut expected = String::new();
    for (index, stage) in stages.iter().enumerate().take(number) {
        let status = if index + 1 < number { "pass" } else { "FAIL" };
        expected += &stage_line(status, index + 1, stage.name);
    }
    assert!(
        finished.status.code() == Some(1)
            && printed.contains(&expected)
            && printed.contains(&format!("stage {number} failed: {NOT_UTF8_STAGE}")),
        "exercise 7: `check {target}` should pass {NOT_UTF8_PROGRAM} through stage {} and \
         fail stage {number}, \"{NOT_UTF8_STAGE}\", exiting 1; expected these lines:\n{expected}\
         it printed:\n{}",
        number - 1,
        finished.describe()
    );

    // And a server that echoes bytes as they are passes it.
    let correct = lesson_program(target, &[]);
    let finished = run_check(target, &[], &correct);
    assert!(
        finished.status.code() == Some(0),
        "exercise 7: lesson 03's own server echoes any bytes, so it should pass every stage of \
         {target}, the new one included; `{BIN} lesson 03-server` did not:\n{}",
        finished.describe()
    );
}
