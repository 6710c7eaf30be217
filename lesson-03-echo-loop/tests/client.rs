//! The real client binary against the real server binary: what a student
//! runs in two terminals, checked byte for byte.

mod common;

use std::time::Duration;

use common::lesson::ipv6_loopback_available;
use common::{escaped, spawn_with_input, start_client, start_server};

/// How long a client may take: 48 MiB through a debug build on a busy
/// machine takes seconds, not the toolkit's usual ten.
const CLIENT_WAIT: Duration = Duration::from_secs(60);

/// Runs the client with `stdin` and `args` against a fresh one-client
/// server, asserts both succeed, and returns the client's stdout lines and
/// the server's `disconnected` line.
fn echo_through_client(stdin: &[u8], args: &[&str]) -> (Vec<String>, String) {
    let (mut server, addr) = start_server(&["--max-clients", "1"]);
    let client = start_client(addr, args, stdin).finish_within(CLIENT_WAIT);
    assert!(
        client.status.success(),
        "the client failed ({}) with arguments {args:?} and input {}\nstderr:\n{}",
        client.status,
        escaped(stdin),
        client.stderr
    );
    let connected = server.next_line();
    assert!(
        connected.starts_with("client 127.0.0.1:") && connected.ends_with(" connected"),
        "unexpected server line {connected:?}"
    );
    let disconnected = server.next_line();
    let finished = server.finish();
    assert!(
        finished.status.success() && finished.stdout.len() == 3,
        "the server should exit 0 after --max-clients 1, with nothing more logged\n{}",
        finished.describe()
    );
    (client.stdout, disconnected)
}

/// Checks the server's `disconnected` line counts `bytes`: every byte the
/// client should have put on the wire, each line's "\n" included.
fn assert_bytes_echoed(disconnected: &str, bytes: u64) {
    let expected_end = format!(" disconnected ({bytes} bytes echoed)");
    let hint = if disconnected.contains(&format!("({bytes} bytes echoed")) {
        // The count is right: the words around it are not.
        "the count is right, but the line does not end the way this test expects: has the \
         server's `disconnected` line changed?"
    } else {
        "does the client send every line with its \"\\n\"?"
    };
    assert!(
        disconnected.ends_with(&expected_end),
        "the server logged {disconnected:?}, expected it to echo {bytes} bytes, and to end the \
         line with {expected_end:?}\nhint: {hint}"
    );
}

#[test]
fn several_lines_come_back_in_order() {
    let (stdout, disconnected) = echo_through_client(
        b"first line\nsecond line\n\nthird, after an empty one\n",
        &[],
    );
    assert_eq!(
        stdout,
        [
            "echo: first line",
            "echo: second line",
            "echo: ",
            "echo: third, after an empty one"
        ],
        "hint: every line sent should come back as `echo: <line>`, in order"
    );
    // 11 + 12 + 1 + 26 bytes, each line counted with its "\n".
    assert_bytes_echoed(&disconnected, 50);
}

#[test]
fn messages_from_the_command_line() {
    let (stdout, disconnected) =
        echo_through_client(b"", &["--message", "hello", "--message", "world"]);
    assert_eq!(stdout, ["echo: hello", "echo: world"]);
    assert_bytes_echoed(&disconnected, 12);
}

#[test]
fn a_last_line_without_newline_gets_one() {
    let (stdout, disconnected) = echo_through_client(b"no newline at the end", &[]);
    assert_eq!(stdout, ["echo: no newline at the end"]);
    // 21 bytes of text plus the "\n" the client adds.
    assert_bytes_echoed(&disconnected, 22);
}

#[test]
fn empty_input_sends_nothing_and_ends_cleanly() {
    // The client shuts down its write half at once; the server reads 0
    // (end of stream), closes, and the client sees 0 too.
    let (stdout, disconnected) = echo_through_client(b"", &[]);
    assert!(stdout.is_empty(), "no input, so no echo lines: {stdout:?}");
    assert_bytes_echoed(&disconnected, 0);
}

#[test]
fn a_one_mebibyte_line_does_not_deadlock() {
    // Far more than the socket buffers hold. A client that wrote the whole
    // line before reading would block forever: the server's echoes fill the
    // client's receive buffer, the server's write blocks, so it stops
    // reading, and the client's write blocks too. This client writes on one
    // thread and reads on another, so the bytes keep flowing.
    let line = "0123456789abcdef".repeat(64 * 1024);
    let mut stdin = line.clone().into_bytes();
    stdin.push(b'\n');
    let (stdout, disconnected) = echo_through_client(&stdin, &[]);
    let expected = format!("echo: {line}");
    assert!(
        stdout == [expected.as_str()],
        "the 1 MiB echo differs: expected one line {}, got {} lines: {}",
        escaped(expected.as_bytes()),
        stdout.len(),
        escaped(stdout.join("\n").as_bytes())
    );
    assert_bytes_echoed(&disconnected, 1048577);
}

#[test]
fn input_larger_than_all_the_socket_buffers_does_not_deadlock() {
    // 1 MiB can still fit in the kernel's buffers on loopback (they grow to
    // several MiB), so a client that wrote everything before reading might
    // get away with it. 48 MiB cannot fit: the send and receive buffers of
    // both sockets together hold far less. Only a client that reads while
    // it writes finishes; one that does not blocks until its time-out.
    let line = "x".repeat(1024 * 1024 - 1);
    let stdin = format!("{line}\n").repeat(48);
    let (stdout, disconnected) = echo_through_client(stdin.as_bytes(), &[]);
    let expected = vec![format!("echo: {line}"); 48];
    assert!(
        stdout == expected,
        "48 lines of 1 MiB did not come back intact: got {} lines, {} bytes of output",
        stdout.len(),
        stdout.iter().map(|line| line.len() + 1).sum::<usize>()
    );
    assert_bytes_echoed(&disconnected, 48 * 1024 * 1024);
}

#[test]
fn long_multibyte_utf8_lines_arrive_intact() {
    // Longer than 64 KiB, made of 3-byte characters: a read boundary will
    // fall inside a character, and the client must still put it together.
    let long_line = "你好,客户端,我是服务器。".repeat(3000);
    assert!(long_line.len() > 64 * 1024);
    let stdin = format!("héllo wörld\n{long_line}\nçà et là\n");
    let (stdout, _) = echo_through_client(stdin.as_bytes(), &[]);
    let expected = [
        "echo: héllo wörld".to_string(),
        format!("echo: {long_line}"),
        "echo: çà et là".to_string(),
    ];
    assert!(
        stdout == expected,
        "multi-byte UTF-8 came back changed: got {}",
        escaped(stdout.join("\n").as_bytes())
    );
}

#[test]
fn invalid_utf8_is_echoed_and_shown_with_replacement_characters() {
    // The server copies bytes and the client compares bytes, so invalid
    // UTF-8 makes the round trip intact; only the printout replaces it.
    let (stdout, disconnected) = echo_through_client(b"\xff\xfe ok\n", &[]);
    assert_eq!(stdout, ["echo: \u{FFFD}\u{FFFD} ok"]);
    assert_bytes_echoed(&disconnected, 6);
}

#[test]
fn many_short_lines_in_one_go() {
    // Thousands of lines sent back to back: TCP joins them into large
    // segments and the server's reads cut them anywhere. Every line must
    // still come back whole and in order.
    let stdin: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    let (stdout, _) = echo_through_client(stdin.as_bytes(), &[]);
    let expected: Vec<String> = (0..5000).map(|i| format!("echo: line {i}")).collect();
    assert!(
        stdout == expected,
        "5000 short lines did not come back in order: got {} lines, first {}",
        stdout.len(),
        escaped(stdout.join("\n").as_bytes())
    );
}

#[test]
fn works_over_ipv6_written_bare_or_in_brackets() {
    if !ipv6_loopback_available() {
        return;
    }
    // The server with one form, the client with the other.
    for (server_host, client_host) in [("::1", "[::1]"), ("[::1]", "::1")] {
        let (mut server, addr) = start_server(&["--host", server_host, "--max-clients", "1"]);
        let port = addr.port().to_string();
        let client = spawn_with_input(
            &["client", "--host", client_host, "--port", &port],
            b"over IPv6\n",
        )
        .finish();
        assert!(
            client.status.success() && client.stdout == ["echo: over IPv6"],
            "server --host {server_host}, client --host {client_host}: expected exit status 0 \
             and one echo\n{}",
            client.describe()
        );
        let connected = server.next_line();
        assert!(
            connected.starts_with("client [::1]:"),
            "the client should have come over IPv6, the server logged {connected:?}"
        );
    }
}
