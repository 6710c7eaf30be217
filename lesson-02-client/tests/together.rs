//! Both ends together: the real server and the real client, as a student
//! runs them in two terminals; and the client against lesson 01's server.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::lesson::{DEFAULT_GREETING, DEFAULT_MESSAGE};
use common::{Finished, WAIT, start_client, start_server};

/// The programs' own time-outs in these tests, shorter than the tests'
/// wait for them to exit, so a program stuck waiting for the other reports
/// it itself, naming the bytes it got. The client gives up first: a server
/// that forgets its "\n" or its flush is then reported by the client, which
/// names the bytes it got, and the server reads that the client left.
const CLIENT_TIMEOUT: &str = "3";
const SERVER_TIMEOUT: &str = "6";

/// Runs the server and then the client against it, and waits for both.
fn run_both(server_args: &[&str], client_args: &[&str]) -> (Finished, Finished) {
    let mut server_args = server_args.to_vec();
    server_args.extend(["--timeout", SERVER_TIMEOUT]);
    let mut client_args = client_args.to_vec();
    client_args.extend(["--timeout", CLIENT_TIMEOUT]);

    let (server, addr) = start_server(&server_args);
    let client = start_client(addr, &client_args, b"").finish();
    (server.finish(), client)
}

/// Checks both outputs: the client printed the greeting, the server
/// printed that a client connected and what it said; both exited 0.
fn assert_conversation(server: &Finished, client: &Finished, greeting: &str, reply: &str) {
    let heard = format!("server says: {greeting}");
    let said = format!("client says: {reply}");
    let client_ok =
        client.status.success() && client.stderr.is_empty() && client.stdout == [heard.as_str()];
    let server_ok = server.status.success()
        && server.stderr.is_empty()
        && server.stdout.len() == 3
        && server.stdout[0].starts_with("listening on 127.0.0.1:")
        && server.stdout[1].starts_with("client 127.0.0.1:")
        && server.stdout[1].ends_with(" connected")
        && server.stdout[2] == said;
    assert!(
        client_ok && server_ok,
        "expected both to exit 0, the client printing {heard:?}, the server printing \
         \"listening on ADDR\", \"client ADDR connected\" and {said:?}\n\n--- client ---\n{}\n--- server ---\n{}",
        client.describe(),
        server.describe()
    );
}

#[test]
fn the_client_reads_the_greeting_and_the_server_reads_the_reply() {
    let (server, client) = run_both(&[], &[]);

    assert_conversation(&server, &client, DEFAULT_GREETING, DEFAULT_MESSAGE);
}

#[test]
fn utf8_text_crosses_both_ways_intact() {
    let greeting = "你好,客户端,我是服务器";
    let message = "Grüße, Server! ✓";

    let (server, client) = run_both(&["--greeting", greeting], &["--message", message]);

    assert_conversation(&server, &client, greeting, message);
}

#[test]
fn the_client_talks_sensibly_to_lesson_01s_server() {
    // Lesson 01's server greets and closes at once, without reading. Run it
    // in-process from its library, on a free port.
    let listener =
        lesson_01_hello_server::listen("127.0.0.1", 0).expect("binding lesson 01's server");
    let addr = listener.local_addr().expect("reading the bound address");
    let (done, lesson_01) = mpsc::channel();
    thread::spawn(move || {
        let served = lesson_01_hello_server::greet_one_client(
            &listener,
            lesson_01_hello_server::DEFAULT_GREETING,
            Duration::from_secs(5),
            &mut Vec::new(),
        );
        let _ = done.send(served.map(|_| ()).map_err(|err| format!("{err:#}")));
    });

    let client = start_client(addr, &[], b"").finish();

    // The client gets the greeting and exits 0 either way. Our message
    // reaches a socket that is already closed, so the server's system
    // answers with a reset; the client says so if the reset arrives before
    // it finishes, which on loopback it nearly always does. If the server's
    // FIN is read first, the client cannot tell the message was lost: TCP
    // gives no receipt without an answer from the other program.
    let greeted = format!("server says: {DEFAULT_GREETING}");
    let lost = "the server had closed the connection; it did not read our message";
    let ok = client.status.success()
        && client.stderr.is_empty()
        && (client.stdout == [greeted.as_str()] || client.stdout == [greeted.as_str(), lost]);
    assert!(
        ok,
        "against lesson 01's server the client should exit 0 after printing {greeted:?}, \
         maybe followed by {lost:?}\n{}",
        client.describe()
    );
    let served = lesson_01
        .recv_timeout(WAIT)
        .expect("lesson 01's server should be done once the client is");
    assert_eq!(served, Ok(()), "lesson 01's server should not fail");
}
