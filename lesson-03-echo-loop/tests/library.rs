//! The library called in-process, where what the programs only print can
//! be checked as values: how many reads a large message takes on the
//! server's side, the client's report, and the error it returns.

mod common;

use std::io::{Cursor, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::{accept, escaped, fake_server, read_to_end_of_stream};
use lesson_03_echo_loop::{
    ClientReport, ECHO_BUFFER_SIZE, EchoCounts, EchoError, EchoErrorKind, KEPT_AFTER_DIFFERENCE,
    ServerOptions, echo_client, run_client, run_server,
};

#[test]
fn the_server_reads_one_mebibyte_in_many_pieces() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a listener");
    let addr = listener.local_addr().expect("reading its address");
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accepting the client");
        let mut counts = EchoCounts::default();
        echo_client(&stream, Duration::from_secs(10), &mut counts).expect("echoing");
        counts
    });

    let mut client = TcpStream::connect(addr).expect("connecting");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("setting a read time-out");
    let payload = vec![b'x'; 1024 * 1024];
    let mut writer = client.try_clone().expect("cloning the socket");
    let to_send = payload.clone();
    let sender = thread::spawn(move || {
        // One write_all for the whole megabyte.
        writer.write_all(&to_send).expect("sending 1 MiB");
        writer
            .shutdown(Shutdown::Write)
            .expect("shutting down the write half");
    });
    let mut echo = Vec::new();
    client.read_to_end(&mut echo).expect("reading the echo");
    sender.join().expect("the sending thread panicked");
    let counts = server.join().expect("the server thread panicked");

    assert!(
        echo == payload,
        "the echo differs ({} bytes came back)",
        echo.len()
    );
    assert_eq!(counts.bytes_echoed, 1024 * 1024);
    // One write on the client side, many reads on the server's: at least
    // 1 MiB / 16 KiB = 64, and usually more, because a read returns as soon
    // as some bytes are there, not when the buffer is full.
    let at_least = (1024 * 1024 / ECHO_BUFFER_SIZE) as u64;
    assert!(
        counts.reads >= at_least,
        "the server read 1 MiB in {} reads, fewer than {at_least}: is its buffer bigger than it says?",
        counts.reads
    );
    println!("the server read 1 MiB in {} reads", counts.reads);
}

#[test]
fn run_server_checks_its_options() {
    // max_clients 0: nothing to serve, returns at once without accepting.
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a listener");
    let log = SharedBuffer::default();
    let options = ServerOptions {
        max_clients: Some(0),
        idle_timeout: Duration::from_secs(1),
    };
    run_server(listener, &options, log.clone()).expect("serving no client");
    assert_eq!(log.text(), "", "nothing to log");

    // A zero idle time-out is refused up front: to the system zero would mean
    // "no time-out at all", and `set_read_timeout` rejects it.
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a listener");
    let options = ServerOptions {
        max_clients: Some(1),
        idle_timeout: Duration::ZERO,
    };
    let err = run_server(listener, &options, log).expect_err("a zero time-out");
    assert_eq!(
        err.to_string(),
        "the idle time-out must be longer than zero"
    );
}

#[test]
fn the_client_reports_the_lines_and_bytes_it_checked() {
    // A line of 200 KiB goes out in pieces, and still counts as one line.
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a listener");
    let port = listener.local_addr().expect("reading its address").port();
    let options = ServerOptions {
        max_clients: Some(1),
        idle_timeout: Duration::from_secs(10),
    };
    let server = thread::spawn(move || run_server(listener, &options, std::io::sink()));

    let long_line = "x".repeat(200 * 1024);
    let input = format!("one\n\n{long_line}\nlast");
    let mut out = Vec::new();
    let report = run_client(
        "127.0.0.1",
        port,
        Cursor::new(input.into_bytes()),
        Duration::from_secs(10),
        &mut out,
    )
    .expect("the echo of four lines");
    let served = server.join().expect("the server thread panicked");
    served.expect("serving one client");

    // "one\n" 4, "\n" 1, the long line and its "\n", "last" and the "\n" the
    // client adds to it: 5.
    let expected = ClientReport {
        lines: 4,
        bytes: 4 + 1 + (200 * 1024 + 1) + 5,
    };
    assert_eq!(report, expected, "the client's report");
    assert!(
        out == format!("echo: one\necho: \necho: {long_line}\necho: last\n").as_bytes(),
        "the printed echoes: {}",
        escaped(&out)
    );
}

#[test]
fn a_wrong_echo_is_an_echo_error_with_the_line_and_both_sides_bytes() {
    // The test plays a server that echoes the first line, then answers the
    // second with a line of its own and closes, as a busy server might.
    let (listener, addr) = fake_server();
    let client = thread::spawn(move || {
        let mut out = Vec::new();
        let result = run_client(
            "127.0.0.1",
            addr.port(),
            Cursor::new(&b"hi\nhello\n"[..]),
            Duration::from_secs(5),
            &mut out,
        );
        (result, out)
    });
    let mut server = accept(&listener);
    let received = read_to_end_of_stream(&mut server, "the client");
    assert_eq!(received, b"hi\nhello\n", "what the client sent");
    server
        .write_all(b"hi\nERR server busy\n")
        .expect("answering");
    drop(server);
    let (result, out) = client.join().expect("the client thread panicked");

    let error = result.expect_err("the second echo was wrong");
    let Some(echo_error) = error.downcast_ref::<EchoError>() else {
        panic!("run_client should return an EchoError, it returned {error:#}");
    };
    assert!(
        matches!(echo_error.kind, EchoErrorKind::Differs)
            && echo_error.line == 2
            && echo_error.offset == 0
            && echo_error.sent == b"hello\n"
            && echo_error.received == b"ERR server busy\n",
        "expected the EchoError of line 2, offset 0, sent \"hello\\n\", received \
         \"ERR server busy\\n\"; got {echo_error:?}"
    );
    assert_eq!(out, b"echo: hi\n", "only the first echo was printed");
}

#[test]
fn a_long_line_cut_short_by_an_error_still_ends_its_printed_line() {
    // The first piece of a 100 000-byte line comes back right and is
    // printed; the second differs. The printed part must end with "\n", or
    // the error on stderr would continue the `echo:` line in a terminal.
    let (listener, addr) = fake_server();
    let mut input = vec![b'a'; 100_000];
    input.push(b'\n');
    let to_send = input.clone();
    let client = thread::spawn(move || {
        let mut out = Vec::new();
        let result = run_client(
            "127.0.0.1",
            addr.port(),
            Cursor::new(to_send),
            Duration::from_secs(5),
            &mut out,
        );
        (result, out)
    });
    let mut server = accept(&listener);
    let received = read_to_end_of_stream(&mut server, "the client");
    assert!(received == input, "the client sent {}", escaped(&received));
    let mut echo = input.clone();
    echo[70_000] = b'b';
    server.write_all(&echo).expect("sending a wrong echo");
    drop(server);
    let (result, out) = client.join().expect("the client thread panicked");

    assert!(result.is_err(), "the echo differs at byte 70000");
    let expected = format!("echo: {}\n", "a".repeat(64 * 1024));
    assert!(
        out == expected.as_bytes(),
        "expected the first piece's echo, ended with \"\\n\"; printed {}",
        escaped(&out)
    );
}

/// Runs the client in-process on `input` against a server played by the
/// test, which reads everything and then sends `answer` and closes.
/// Returns what the client returned and what it printed.
fn client_against(input: &'static [u8], answer: &[u8]) -> (anyhow::Result<ClientReport>, Vec<u8>) {
    let (listener, addr) = fake_server();
    let client = thread::spawn(move || {
        let mut out = Vec::new();
        let result = run_client(
            "127.0.0.1",
            addr.port(),
            Cursor::new(input),
            Duration::from_secs(5),
            &mut out,
        );
        (result, out)
    });
    let mut server = accept(&listener);
    read_to_end_of_stream(&mut server, "the client");
    server.write_all(answer).expect("answering");
    drop(server);
    client.join().expect("the client thread panicked")
}

#[test]
fn bytes_after_the_last_echo_are_an_echo_error_after_the_last_line() {
    let (result, out) = client_against(b"hi\n", b"hi\nsurprise\n");
    let error = result.expect_err("more than the echo came back");
    let Some(echo_error) = error.downcast_ref::<EchoError>() else {
        panic!("run_client should return an EchoError, it returned {error:#}");
    };
    assert!(
        matches!(echo_error.kind, EchoErrorKind::SentMore)
            && echo_error.line == 2
            && echo_error.sent.is_empty()
            && echo_error.received == b"surprise\n",
        "expected SentMore after line 1 (line 2), received \"surprise\\n\"; got {echo_error:?}"
    );
    assert_eq!(out, b"echo: hi\n");
}

#[test]
fn a_wrong_answer_without_a_newline_is_kept_up_to_a_bound() {
    // 1000 bytes and no "\n": the error keeps what answered the line and
    // KEPT_AFTER_DIFFERENCE bytes more, not everything the server sends.
    let (result, _) = client_against(b"hi\n", &[b'E'; 1000]);
    let error = result.expect_err("the echo was wrong");
    let Some(echo_error) = error.downcast_ref::<EchoError>() else {
        panic!("run_client should return an EchoError, it returned {error:#}");
    };
    assert!(
        matches!(echo_error.kind, EchoErrorKind::Differs)
            && echo_error.received == vec![b'E'; 3 + KEPT_AFTER_DIFFERENCE],
        "expected {} bytes of \"E\"; got {echo_error:?}",
        3 + KEPT_AFTER_DIFFERENCE
    );
}

/// A log output the test can read back while the server's log writer owns
/// a clone of it.
#[derive(Clone, Default)]
struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn text(&self) -> String {
        let bytes = self.0.lock().expect("the buffer's lock");
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("the buffer's lock")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
