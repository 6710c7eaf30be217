//! The library called in-process, where the server's own counts can be
//! checked: how many reads a large message takes on the server's side.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use lesson_03_echo_loop::{ECHO_BUFFER_SIZE, EchoCounts, echo_client};

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
    use lesson_03_echo_loop::{ServerOptions, run_server};

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
