//! Running the peers as child processes, with every wait bounded.
//!
//! The matrix starts dozens of programs written in four languages, and any
//! of them may hang: a client waiting for an echo that never ends in `\n`, a
//! server that never closes. So nothing here waits without a limit, and a
//! child is killed and reaped when the value that owns it is dropped, whether
//! the pair passed or failed.
//!
//! Each child's output is read on a helper thread and handed over through a
//! channel: `recv_timeout` on that channel is how we wait "at most N seconds"
//! for a line, with no sleeping and no polling.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long to wait for a killed child's last output to drain.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Owns a child process and kills and reaps it when dropped, so no test and
/// no early return can leave a peer running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Both fail harmlessly if the child has already exited and been reaped.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `pipe` to its end on a helper thread; the whole output arrives on
/// the returned channel when the child closes the pipe (normally: exits).
fn read_to_end_in_background(mut pipe: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // An error (rare on a pipe) just ends the output early.
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send(bytes);
    });
    receiver
}

/// What a program run to its end left behind.
#[derive(Debug)]
pub struct Finished {
    /// How it exited; `None` if it ran past its time limit and was killed.
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

// ANCHOR: run_to_end
/// Runs `command` with `input` on its stdin and collects its output, killing
/// it if it has not finished within `limit`.
///
/// Fails only if the program cannot be started at all.
pub fn run_to_end(command: &mut Command, input: Vec<u8>, limit: Duration) -> io::Result<Finished> {
    let deadline = Instant::now() + limit;
    let child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut child = KillOnDrop(child);

    // Feed stdin on its own thread: a client that is busy talking to the
    // server is not reading its stdin, and a pipe holds only 64 KiB.
    // Dropping the pipe at the end is the client's end of input.
    let mut stdin = child
        .0
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("stdin not piped"))?;
    thread::spawn(move || stdin.write_all(&input));
    let stdout = child
        .0
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("stdout not piped"))?;
    let stdout = read_to_end_in_background(stdout);
    let stderr = child
        .0
        .stderr
        .take()
        .ok_or_else(|| io::Error::other("stderr not piped"))?;
    let stderr = read_to_end_in_background(stderr);

    // Both pipes close when the program exits.
    let stdout_in_time = stdout.recv_timeout(remaining(deadline)).ok();
    let stderr_in_time = stderr.recv_timeout(remaining(deadline)).ok();
    let status = if stdout_in_time.is_some() && stderr_in_time.is_some() {
        // Its output is closed, so it has exited or is exiting: this is short.
        Some(child.0.wait()?)
    } else {
        // Too slow: kill it. Its pipes close, and what it wrote so far arrives.
        let _ = child.0.kill();
        let _ = child.0.wait();
        None
    };
    let late = |output: Receiver<Vec<u8>>| output.recv_timeout(DRAIN_LIMIT).unwrap_or_default();
    Ok(Finished {
        status,
        stdout: stdout_in_time.unwrap_or_else(|| late(stdout)),
        stderr: stderr_in_time.unwrap_or_else(|| late(stderr)),
    })
}
// ANCHOR_END: run_to_end

/// The time left until `deadline` (zero once it has passed).
fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// A server peer that is running: its address, and its output so far.
/// Dropping it kills and reaps the process.
pub struct ServerProcess {
    child: KillOnDrop,
    /// The address from its `listening on ADDR` line.
    pub address: SocketAddr,
    /// Its stdout lines after the first one, as they come.
    stdout_lines: Receiver<String>,
    /// Its whole stderr, once the process has ended.
    stderr: Receiver<Vec<u8>>,
}

/// What a stopped server wrote.
#[derive(Debug, Default)]
pub struct ServerOutput {
    /// Its event lines (`client ... connected`) after `listening on`.
    pub stdout_lines: Vec<String>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

impl ServerProcess {
    // ANCHOR: start_server
    /// Starts a server and waits, at most `limit`, for its first stdout line,
    /// which must be `listening on ADDR`. That line is the only way we learn
    /// the port a server given port 0 got, and it means the socket is
    /// already listening: no sleeping, no retrying to connect.
    pub fn start(command: &mut Command, limit: Duration) -> anyhow::Result<ServerProcess> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start the server")?;
        let mut child = KillOnDrop(child);
        let stdout = child.0.stdout.take().context("stdout not piped")?;
        let stderr = child.0.stderr.take().context("stderr not piped")?;
        let stderr = read_to_end_in_background(stderr);

        // Every stdout line goes through the channel, as it comes.
        let (sender, stdout_lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });

        let first_line = match stdout_lines.recv_timeout(limit) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                bail!("the server printed nothing within {}s", limit.as_secs())
            }
            Err(RecvTimeoutError::Disconnected) => {
                // It exited (or closed stdout) without a word: say why if it did.
                let _ = child.0.kill();
                let status = child.0.wait().context("cannot reap the server")?;
                let why = stderr.recv_timeout(DRAIN_LIMIT).unwrap_or_default();
                bail!(
                    "the server ended before printing `listening on` ({status}); its stderr: {}",
                    String::from_utf8_lossy(&why).trim_end()
                )
            }
        };
        let address = first_line
            .strip_prefix("listening on ")
            .and_then(|address| address.trim_end().parse().ok())
            .with_context(|| {
                format!("the server's first line should be `listening on ADDR`, not {first_line:?}")
            })?;
        Ok(ServerProcess {
            child,
            address,
            stdout_lines,
            stderr,
        })
    }
    // ANCHOR_END: start_server

    /// Kills the server and returns what it wrote.
    pub fn stop(mut self) -> ServerOutput {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        let mut output = ServerOutput::default();
        // The reader thread ends when the pipe closes, which ends the channel.
        while let Ok(line) = self.stdout_lines.recv_timeout(DRAIN_LIMIT) {
            output.stdout_lines.push(line);
        }
        output.stderr = self.stderr.recv_timeout(DRAIN_LIMIT).unwrap_or_default();
        output
    }
}
