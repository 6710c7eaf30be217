//! The server's life outside a single upload: how it starts, how it ends,
//! what it does when nobody reads its log or it runs out of descriptors,
//! how it cleans up after a crash, and how it closes each connection.

mod common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::lesson::{
    Scratch, assert_refused, line_starting_with, names, snapshot, start_in, start_upload, upload,
};
use common::{
    Running, connect, describe_io_error, escaped, fake_server, read_line, run, send,
    start_server_with_unread_stdout,
};

/// Starts an upload and sends half of its body, so that the server holds a
/// temporary file.
fn half_upload(addr: SocketAddr, name: &str) -> TcpStream {
    let mut stream = start_upload(addr, name, 1000);
    send(&mut stream, &[b'h'; 500], "the server");
    stream
}

/// The temporary files in `dir`.
fn temporary_files(dir: &std::path::Path) -> Vec<String> {
    names(&snapshot(dir))
        .into_iter()
        .filter(|name| name.starts_with(".upload-") && name.ends_with(".part"))
        .collect()
}

#[test]
fn a_server_whose_log_nobody_reads_keeps_serving() {
    // Each client costs two log lines (about 90 bytes), so a pipe of 64 KiB
    // that nobody reads is full after about 700 clients. A server that
    // wrote its log from the serving code would stop there. 3,000 refused
    // headers take about a second in a debug build.
    let scratch = Scratch::new();
    let dir = scratch.dir.to_str().expect("UTF-8 path");
    let (_server, addr) = start_server_with_unread_stdout(&["--dir", dir]);
    let started = Instant::now();
    for client in 0..3000 {
        let mut stream = connect(addr);
        send(&mut stream, b"x\n", "the server");
        let mut reply = Vec::new();
        if let Err(err) = stream.read_to_end(&mut reply) {
            panic!(
                "client {client} of 3000: the server sent {}, then {} \
                 (hint: is the server blocked writing a log line nobody reads?)",
                escaped(&reply),
                describe_io_error(&err)
            );
        }
        assert_eq!(
            String::from_utf8_lossy(&reply),
            "ERR bad-header expected \"SEND <size> <name>\", got \"x\"\n",
            "client {client} of 3000"
        );
    }
    // And a real upload still works.
    assert_eq!(upload(addr, "after.txt", b"still here"), "OK 10\n");
    eprintln!("3,000 clients with an unread log: {:?}", started.elapsed());
}

#[cfg(target_os = "linux")]
#[test]
fn accept_errors_are_retried_after_a_pause_not_in_a_spin() {
    // Run out of descriptors: lower the server's limit to the descriptors it
    // already has open, so every `accept` fails with EMFILE (Linux checks
    // for a free descriptor before it even waits for a client). The limit is
    // changed on the server process only (prlimit --pid), after it started:
    // set before the start, it would stop the start itself, which needs one
    // descriptor more than serving does.
    let scratch = Scratch::new();
    let (server, addr) = start_in(&scratch.dir, &[]);
    let pid = server.pid().to_string();
    let open: Vec<u32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("listing the server's descriptors")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let lowest_free = (0..).find(|fd| !open.contains(fd)).expect("a free number");
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).expect("reading the limits");
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .expect("the soft limit of open files")
        .to_string();
    prlimit(&pid, &format!("{lowest_free}:"));
    // The `accept` the server is waiting in took its descriptor before the
    // limit changed: one client gets through, every later `accept` fails.
    assert_refused(
        addr,
        b"x\n",
        "ERR bad-header expected \"SEND <size> <name>\", got \"x\"\n",
    );

    // The server still accepts in a loop; watch it for 2 s.
    std::thread::sleep(Duration::from_secs(2));
    let stderr = server.stderr_so_far();
    let errors = stderr
        .lines()
        .filter(|line| line.contains("Too many open files"))
        .count();
    let expected = "error: cannot accept a client: Too many open files (os error 24)";
    assert!(
        (3..=60).contains(&errors),
        "in 2 s without free descriptors the server should log a few accept errors (one per \
         100 ms pause), it logged {errors} of them (hint: without a pause after EMFILE the loop \
         spins and logs thousands); stderr began:\n{}",
        stderr.lines().take(5).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(stderr.lines().next(), Some(expected), "the error line");

    // Give the descriptors back: the server serves again.
    prlimit(&pid, &format!("{soft}:"));
    assert_eq!(upload(addr, "back.txt", b"back"), "OK 4\n");
    drop(server);
}

/// Sets the soft limit of open files of process `pid` to `soft`.
#[cfg(target_os = "linux")]
fn prlimit(pid: &str, soft: &str) {
    let status = std::process::Command::new("prlimit")
        .args(["--pid", pid, &format!("--nofile={soft}")])
        .status()
        .expect("running prlimit (util-linux)");
    assert!(
        status.success(),
        "prlimit --pid {pid} --nofile={soft} failed"
    );
}

#[cfg(unix)]
#[test]
fn each_signal_exits_with_128_plus_its_number() {
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let scratch = Scratch::new();
        let (server, _addr) = start_in(&scratch.dir, &[]);
        server.signal(signal);
        let finished = server.finish();
        assert_eq!(
            finished.status.code(),
            Some(code),
            "SIG{signal} should end the server with exit status {code}\n{}",
            finished.describe()
        );
    }
}

#[cfg(unix)]
#[test]
fn a_temporary_file_left_by_kill_9_is_removed_at_the_next_start() {
    let scratch = Scratch::new();
    let (killed, addr) = start_in(&scratch.dir, &[]);
    let _stream = half_upload(addr, "big.bin");
    // SIGKILL cannot be caught: nothing removes the temporary file.
    killed.signal("KILL");
    let finished = killed.finish();
    assert_eq!(finished.status.code(), None, "killed by a signal");
    let left = temporary_files(&scratch.dir);
    assert_eq!(
        left.len(),
        1,
        "kill -9 should leave one temporary file, found {left:?}"
    );

    let (mut next, _) = start_in(&scratch.dir, &[]);
    assert_eq!(
        next.next_line(),
        format!("removed {}, left by a server that was killed", left[0])
    );
    assert!(
        snapshot(&scratch.dir).is_empty(),
        "the leftover must be gone, found {:?}",
        names(&snapshot(&scratch.dir))
    );
}

#[test]
fn a_live_servers_temporary_file_is_never_removed() {
    let scratch = Scratch::new();
    let (_first, first_addr) = start_in(&scratch.dir, &[]);
    let mut stream = half_upload(first_addr, "slow.bin");
    let held = temporary_files(&scratch.dir);
    assert_eq!(held.len(), 1, "the first server's temporary file: {held:?}");

    // A second server on the same folder starts while the upload runs.
    let (mut second, second_addr) = start_in(&scratch.dir, &[]);
    assert_eq!(upload(second_addr, "other.txt", b"other"), "OK 5\n");
    let next = line_starting_with(&mut second, "received ");
    assert!(
        next.starts_with("received other.txt"),
        "the second server logged {next:?}"
    );
    assert_eq!(
        temporary_files(&scratch.dir),
        held,
        "the second server must not remove a temporary file the first one holds"
    );
    // The first upload completes.
    send(&mut stream, &[b'h'; 500], "the server");
    stream
        .shutdown(Shutdown::Write)
        .expect("shutting down the write half");
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream, "the server")),
        "OK 1000\n"
    );
}

#[test]
fn a_failed_start_reports_the_port_in_use_and_leaves_nothing_behind() {
    let scratch = Scratch::new();
    let (_taken, addr) = fake_server();
    let port = addr.port().to_string();
    let new_dir = scratch.root.path().join("new");
    let new_dir_text = new_dir.to_str().expect("UTF-8 path");
    let finished = run(&["server", "--port", &port, "--dir", new_dir_text]);
    assert_eq!(finished.status.code(), Some(1), "{}", finished.describe());
    assert_eq!(
        finished.stderr,
        format!(
            "error: cannot listen on 127.0.0.1:{port}: Address already in use (os error 98)\n\
             hint: another server is still running on that port; stop it, or choose another \
             with --port\n"
        )
    );
    assert!(
        !new_dir.exists(),
        "a server that could not listen must not create --dir {new_dir_text}"
    );
}

#[test]
fn a_vanished_dir_is_an_io_error_not_a_spin() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    fs::remove_dir(&scratch.dir).expect("removing --dir behind the server's back");
    assert_refused(
        addr,
        b"SEND 3 a.txt\n",
        "ERR io creating a temporary file: No such file or directory (os error 2)\n",
    );
    line_starting_with(&mut server, "refused a.txt: io ");
    // The folder is back: so is the server.
    fs::create_dir(&scratch.dir).expect("making --dir again");
    assert_eq!(upload(addr, "a.txt", b"abc"), "OK 3\n");
}

#[test]
fn leftover_temporary_names_do_not_break_uploads() {
    // Files named like this server's own next temporary files (its pid, the
    // next numbers): creating a temporary file must skip them, not fail and
    // not overwrite them.
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    let pid = server.pid();
    for n in 0..5 {
        let name = format!(".upload-{pid}-{n}.part");
        fs::write(scratch.dir.join(name), b"not the server's").expect("writing a leftover");
    }
    let before = snapshot(&scratch.dir);
    assert_eq!(upload(addr, "fine.txt", b"fine"), "OK 4\n");
    line_starting_with(&mut server, "received fine.txt: 4 bytes in ");
    let mut expected = before;
    expected.insert("fine.txt".into(), Some(b"fine".to_vec()));
    assert!(
        snapshot(&scratch.dir) == expected,
        "only fine.txt may be added, and the leftovers left as they were; found {:?}",
        names(&snapshot(&scratch.dir))
    );
}

/// Whether `stream` is reset by the other side within a second: a reset
/// leaves an error on the socket (SO_ERROR) even after the end of the
/// stream was read. A server that closed too early resets the connection
/// only when our bytes reach its closed socket, which may be after it
/// logged its line, hence the wait; a clean close never does.
fn was_reset(stream: &TcpStream) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let error = socket2::SockRef::from(stream)
            .take_error()
            .expect("reading SO_ERROR");
        if error.is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Connects, sends a header the server refuses, reads the `ERR` line, then
/// sends `trailing` bytes (as a client that ignores the refusal would) and
/// shuts down. Returns the connection, and whether a write failed.
fn refused_then_keep_sending(
    server: &mut Running,
    addr: SocketAddr,
    trailing: usize,
) -> (TcpStream, bool) {
    let mut stream = connect(addr);
    send(&mut stream, b"x\n", "the server");
    assert_eq!(
        String::from_utf8_lossy(&read_line(&mut stream, "the server")),
        "ERR bad-header expected \"SEND <size> <name>\", got \"x\"\n"
    );
    let mut write_failed = false;
    for piece in vec![b'z'; trailing].chunks(16 * 1024) {
        if let Err(err) = stream.write_all(piece) {
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
                ),
                "writing after the refusal failed with {err}"
            );
            write_failed = true;
            break;
        }
    }
    // Shutting down a connection that was reset fails: that counts too.
    if stream.shutdown(Shutdown::Write).is_err() {
        write_failed = true;
    }
    // The server's next log line comes after it closed this connection, so
    // once it is there the close is done.
    line_starting_with(server, "refused header: ");
    (stream, write_failed)
}

#[test]
fn up_to_64_kib_after_the_final_line_are_swallowed_and_the_close_is_clean() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    let (stream, write_failed) = refused_then_keep_sending(&mut server, addr, 64 * 1024);
    assert!(
        !write_failed && !was_reset(&stream),
        "the server should read the 64 KiB a client sends after ERR and close cleanly; it \
         reset the connection (hint: a close with unread bytes sends a reset, which can destroy \
         the ERR line before the client reads it)"
    );
}

#[test]
fn more_than_64_kib_after_the_final_line_are_not_waited_for() {
    let scratch = Scratch::new();
    let (mut server, addr) = start_in(&scratch.dir, &[]);
    let (stream, write_failed) = refused_then_keep_sending(&mut server, addr, 8 * 1024 * 1024);
    assert!(
        write_failed || was_reset(&stream),
        "after 64 KiB the server should stop swallowing and close (the client then sees a \
         reset); it read all 8 MiB (hint: without a limit, a client that keeps sending holds \
         the server until the drain's deadline)"
    );
}

#[cfg(unix)]
#[test]
fn a_start_that_cannot_write_into_a_new_dir_removes_it() {
    // The start creates --dir, then proves it can write there. If it cannot
    // (here: no descriptor left for the test file, under a low limit set
    // for the server only), the folder it just made must go again. The
    // limit at which binding still works but the test file fails depends on
    // how many descriptors the start holds, so try the small ones.
    // (`--max-clients 0`: a server that does start exits at once.)
    let scratch = Scratch::new();
    let new_dir = scratch.root.path().join("new");
    let new_dir_text = new_dir.to_str().expect("UTF-8 path");
    let mut seen = Vec::new();
    for limit in 3..16 {
        let script = format!("ulimit -n {limit} && exec \"$0\" \"$@\"");
        let output = std::process::Command::new("sh")
            .args([
                "-c",
                &script,
                common::BIN,
                "server",
                "--port",
                "0",
                "--max-clients",
                "0",
                "--dir",
                new_dir_text,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running the server under sh");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if stderr.starts_with("error: cannot write into --dir") {
            assert!(
                !new_dir.exists(),
                "at ulimit -n {limit} the server could not write into --dir and said so, \
                 but left the folder it created: {stderr}"
            );
            return;
        }
        assert!(
            !output.status.success() && !stderr.is_empty(),
            "at ulimit -n {limit} the server should fail to start (stdout {:?})",
            String::from_utf8_lossy(&output.stdout)
        );
        seen.push(format!("ulimit -n {limit}: {}", stderr.trim()));
    }
    panic!(
        "no limit made only the write into --dir fail:\n{}",
        seen.join("\n")
    );
}
