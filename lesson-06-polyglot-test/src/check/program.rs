//! The learner's program: started from a command line, watched, and stopped
//! together with everything it started.
//!
//! A program under test may be anything: `python3 server.py 7000`, `java
//! Server.java 7000`, `go run ./server 7000`, `cargo run -- 7000`, a shell
//! script. The last three start a *second* process that does the real work,
//! so stopping only the process we spawned would leave the real server
//! running and holding its port. Each program is therefore started in a
//! process group of its own, and stopping it signals the whole group.
//!
//! Its stdout and stderr are read on helper threads as they come (so a
//! chatty program never blocks on a full pipe), kept up to a limit, and
//! shown to the student when a stage fails.

use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

/// How much of each of stdout and stderr is kept. A program that prints
/// more still runs; the rest is read and dropped.
const KEEP: usize = 1024 * 1024;

/// How long a program may take to exit after SIGTERM before it gets SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(1);

/// How long to wait for the pipes to close once the program is gone.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// The process groups of the programs running now, so that a Ctrl-C on
/// `check` itself can stop them too (see [`stop_all_now`]).
static RUNNING: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

fn running() -> MutexGuard<'static, Vec<Pid>> {
    // A poisoned lock only means a thread panicked while holding it; the
    // list inside is still right.
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Kills every program `check` has started and not yet stopped, with
/// everything they started. For the Ctrl-C handler: the programs run in
/// process groups of their own, so the terminal's Ctrl-C does not reach them.
pub fn stop_all_now() {
    let mut list = running();
    for group in list.drain(..) {
        let _ = kill_process_group(group, Signal::KILL);
    }
    // The caller exits next. Keep the list locked until then: a stage
    // starting its program at this moment waits in `Program::start` for the
    // lock, and so never starts a program nobody would stop.
    std::mem::forget(list);
}

/// One stream of the program's output, as it arrives.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    /// Bytes read but not kept, past [`KEEP`].
    dropped: usize,
}

/// Reads `pipe` to its end on a helper thread into `into`; the returned
/// channel closes when the pipe does.
fn capture(mut pipe: impl Read + Send + 'static, into: Arc<Mutex<Captured>>) -> Receiver<()> {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        // An error (rare on a pipe) just ends the output early.
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let mut captured = into.lock().unwrap_or_else(PoisonError::into_inner);
            let room = KEEP.saturating_sub(captured.bytes.len()).min(n);
            captured.bytes.extend_from_slice(&chunk[..room]);
            captured.dropped += n - room;
        }
        drop(done);
    });
    finished
}

/// What a stopped program left behind.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// The command line, as run.
    pub command_line: String,
    /// How it ended by itself, or `None` if it was still running and was stopped.
    pub exited: Option<ExitStatus>,
    /// Its standard output (at most 1 MiB).
    pub stdout: Vec<u8>,
    /// Its standard error (at most 1 MiB).
    pub stderr: Vec<u8>,
}

/// A program started by `check`. Dropping it stops it (see [`Program::stop`]).
pub struct Program {
    child: Child,
    group: Pid,
    command_line: String,
    stdout: Arc<Mutex<Captured>>,
    stderr: Arc<Mutex<Captured>>,
    pipes_closed: Vec<Receiver<()>>,
    /// How it exited, once we have seen it exit by itself.
    exited: Option<ExitStatus>,
    stopped: bool,
}

impl Program {
    /// Starts `argv` in a process group of its own, with `input` on its
    /// stdin (then closed) or an empty stdin.
    ///
    /// `PYTHONUNBUFFERED=1` makes a Python program write each `print` at
    /// once; otherwise Python keeps up to 8 KiB of its output in a buffer
    /// when stdout is a pipe, and a student's messages would be missing
    /// from the report of a program that is stopped.
    pub fn start(argv: &[String], input: Option<Vec<u8>>) -> io::Result<Program> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the command is empty"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // 0: a new group whose id is the child's own process id.
            .process_group(0);
        // Spawn and list it under one lock: a Ctrl-C handled between the
        // two would find the list without this program and leave it running.
        let mut list = running();
        let mut child = command.spawn()?;
        let group = Pid::from_child(&child);
        list.push(group);
        drop(list);

        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // On its own thread: a client busy talking to us is not reading
            // its stdin, and a pipe holds only 64 KiB. Dropping the pipe at
            // the end is the program's end of input.
            thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let stdout = Arc::new(Mutex::new(Captured::default()));
        let stderr = Arc::new(Mutex::new(Captured::default()));
        let mut pipes_closed = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            pipes_closed.push(capture(pipe, Arc::clone(&stdout)));
        }
        if let Some(pipe) = child.stderr.take() {
            pipes_closed.push(capture(pipe, Arc::clone(&stderr)));
        }
        Ok(Program {
            child,
            group,
            command_line: shell_words(argv),
            stdout,
            stderr,
            pipes_closed,
            exited: None,
            stopped: false,
        })
    }

    /// The command line, as run.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// How the program exited, if it has. Waits only, once it has exited,
    /// for its last output to be read (bounded), so that what it printed
    /// is complete from then on.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
            if self.exited.is_some() {
                self.drain_pipes(DRAIN_LIMIT);
            }
        }
        self.exited
    }

    /// Waits at most `limit` for the program to exit by itself.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Its standard output so far.
    pub fn stdout(&self) -> Vec<u8> {
        let captured = self.stdout.lock().unwrap_or_else(PoisonError::into_inner);
        captured.bytes.clone()
    }

    /// Waits at most `limit` until its standard output contains `text`, or
    /// it has exited and closed its output. Returns whether it does.
    pub fn wait_for_output(&mut self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let printed = String::from_utf8_lossy(&self.stdout()).contains(text);
            if printed {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            if self.exited().is_some() {
                // Its output is complete now (see `exited`).
                return String::from_utf8_lossy(&self.stdout()).contains(text);
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the program and everything it started: SIGTERM to its process
    /// group, SIGKILL if it is still there a second later. Then
    /// returns what it printed. Every wait here is bounded.
    pub fn stop(&mut self) -> Stopped {
        let exited_by_itself = self.exited();
        if !self.stopped {
            self.stopped = true;
            if exited_by_itself.is_none() {
                let _ = kill_process_group(self.group, Signal::TERM);
                if self.wait_for_exit(TERM_GRACE).is_none() {
                    let _ = self.child.kill();
                }
            }
            // Whatever the program started may outlive it: the group goes too.
            // (An error only means nothing is left in the group.)
            let _ = kill_process_group(self.group, Signal::KILL);
            let _ = self.child.wait();
            running().retain(|group| *group != self.group);
            self.drain_pipes(DRAIN_LIMIT);
        }
        let take = |captured: &Arc<Mutex<Captured>>| {
            let captured = captured.lock().unwrap_or_else(PoisonError::into_inner);
            let mut bytes = captured.bytes.clone();
            if captured.dropped > 0 {
                bytes.extend_from_slice(
                    format!("\n... ({} more bytes not kept)\n", captured.dropped).as_bytes(),
                );
            }
            bytes
        };
        Stopped {
            command_line: self.command_line.clone(),
            exited: exited_by_itself,
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
        }
    }

    /// Waits, at most `limit` in all, for stdout and stderr to reach their
    /// end (every process holding them has exited).
    fn drain_pipes(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for closed in &self.pipes_closed {
            let left = deadline.saturating_duration_since(Instant::now());
            // Disconnected means closed; a time-out means a process that
            // escaped the group still holds the pipe: stop waiting for it.
            let _ = closed.recv_timeout(left);
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The command line as a student would type it: arguments with spaces or
/// quotes are quoted.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_./=:,+@%{}".contains(c) || !c.is_ascii());
            if plain {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(argv: &[&str]) -> String {
        shell_words(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn a_command_line_is_shown_as_a_student_would_type_it() {
        assert_eq!(
            words(&["python3", "my server.py", "{port}"]),
            "python3 'my server.py' {port}"
        );
        assert_eq!(words(&["sh", "-c", "it's"]), r"sh -c 'it'\''s'");
        assert_eq!(words(&["go", "run", "./server", ""]), "go run ./server ''");
    }

    #[test]
    fn a_program_is_stopped_with_what_it_started() {
        // `sh` starts `sleep` as a second process, as `go run` does.
        let argv: Vec<String> = ["sh", "-c", "echo started; sleep 30; echo never"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut program = Program::start(&argv, None).expect("starting sh");
        assert!(program.wait_for_output("started", Duration::from_secs(10)));
        let started = Instant::now();
        let stopped = program.stop();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stopping took {:?}",
            started.elapsed()
        );
        assert_eq!(stopped.exited, None, "it was still running when stopped");
        assert_eq!(stopped.stdout, b"started\n");
    }

    #[test]
    fn a_program_that_exits_by_itself_says_how() {
        let argv: Vec<String> = ["sh", "-c", "echo out; echo err >&2; exit 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut program = Program::start(&argv, None).expect("starting sh");
        let status = program
            .wait_for_exit(Duration::from_secs(10))
            .expect("sh exits at once");
        assert_eq!(status.code(), Some(3));
        let stopped = program.stop();
        assert_eq!(stopped.exited.and_then(|s| s.code()), Some(3));
        assert_eq!(stopped.stdout, b"out\n");
        assert_eq!(stopped.stderr, b"err\n");
    }

    #[test]
    fn output_past_what_is_kept_is_counted_not_lost_silently() {
        // 1000 bytes more than KEEP on stdout.
        let script = format!("head -c {} /dev/zero", KEEP + 1000);
        let argv: Vec<String> = ["sh", "-c", &script]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut program = Program::start(&argv, None).expect("starting sh");
        assert!(program.wait_for_exit(Duration::from_secs(10)).is_some());
        let stdout = program.stop().stdout;
        let note = b"\n... (1000 more bytes not kept)\n";
        assert!(
            stdout.len() == KEEP + note.len() && stdout.ends_with(note),
            "a program that printed {} bytes should show the first {KEEP} and then {:?}; \
             its stdout holds {} bytes and ends with {:?}",
            KEEP + 1000,
            String::from_utf8_lossy(note),
            stdout.len(),
            String::from_utf8_lossy(&stdout[stdout.len().saturating_sub(40)..])
        );
    }

    #[test]
    fn a_stopped_program_leaves_the_list_that_ctrl_c_stops() {
        let argv: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
        let mut program = Program::start(&argv, None).expect("starting sleep");
        let group = program.group;
        assert!(
            running().contains(&group),
            "a running program's process group must be on the list Ctrl-C stops"
        );
        program.stop();
        assert!(
            !running().contains(&group),
            "a stopped program's process group must leave the list Ctrl-C stops, or a \
             Ctrl-C later signals a group whose number may be someone else's by then"
        );
    }

    #[test]
    fn input_reaches_the_program_and_then_ends() {
        let argv: Vec<String> = ["cat"].iter().map(|s| s.to_string()).collect();
        let mut program = Program::start(&argv, Some(b"a line\n".to_vec())).expect("cat");
        assert!(program.wait_for_exit(Duration::from_secs(10)).is_some());
        assert_eq!(program.stop().stdout, b"a line\n");
    }
}
