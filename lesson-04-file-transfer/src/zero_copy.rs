//! Optional on a first reading: the Linux fast path for the body.
//!
//! The loops in `client.rs` and `server.rs` copy every byte twice on each
//! side: from the kernel into the program's buffer, and from the buffer back
//! into the kernel. On Linux the kernel can move the bytes itself:
//! `sendfile(2)` from the file to the socket on the client, and `splice(2)`
//! from the socket through a pipe into the file on the server. The bytes
//! never enter either program, which saves one copy of each byte and most of
//! the CPU time (the chapter's benchmark has the figures).
//!
//! Both paths are chosen with `--copy loop|zero-copy` on each side; the
//! default is `zero-copy` on Linux and `loop` elsewhere, and on other systems
//! `zero-copy` runs the loop. The tests run both.
//!
//! Why not `std::io::copy`, which uses these calls itself? It uses `splice`
//! only when one side is a pipe, and `sendfile` not from a file to a socket:
//! pages wait in a socket's queue by reference, so a file changed right
//! after `copy` returned could still change the bytes being sent. For this
//! client that is no new risk: a file changed during an upload is sent mixed
//! either way (and the client checks that its size held, see `client.rs`).

/// How the body is copied between the file and the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CopyMode {
    /// A `read`/`write` loop through one 1 MiB buffer (what the chapter
    /// teaches first).
    Loop,
    /// `sendfile` (client) and `splice` (server) on Linux; elsewhere the
    /// same as `loop`.
    ZeroCopy,
}

impl CopyMode {
    /// `zero-copy` where it exists (Linux), `loop` elsewhere.
    pub fn platform_default() -> CopyMode {
        if cfg!(any(target_os = "linux", target_os = "android")) {
            CopyMode::ZeroCopy
        } else {
            CopyMode::Loop
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use linux::{receive_body, send_body};

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub use crate::{client::send_body, server::receive_body};

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use std::fs::File;
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    use rustix::io::Errno;
    use rustix::pipe::{SpliceFlags, fcntl_setpipe_size, splice};

    use crate::deadline::Deadline;
    use crate::progress::Progress;
    use crate::protocol::{BODY_BUFFER, Refusal};
    use crate::server::{body_ended, body_failed, write_failed};

    /// How much one `sendfile` call is asked to move: large enough that the
    /// calls cost nothing, small enough that a progress bar moves smoothly.
    const SENDFILE_CHUNK: u64 = 8 * 1024 * 1024;

    // ANCHOR: sendfile
    /// The client's body with `sendfile(2)`: the kernel hands the file's pages
    /// to the socket without copying them into this process. Sends `count`
    /// bytes from the file's current position and returns how many went
    /// (fewer only if the file ended first).
    pub fn send_body(
        file: &mut File,
        stream: &TcpStream,
        count: u64,
        progress: &Progress,
    ) -> io::Result<u64> {
        let mut sent: u64 = 0;
        while sent < count {
            let chunk = (count - sent).min(SENDFILE_CHUNK) as usize;
            // `None`: read from the file's current position, and advance it.
            let n = match rustix::fs::sendfile(stream, &*file, None, chunk) {
                Ok(0) => break, // end of file: it shrank
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(errno) => return Err(errno.into()),
            };
            sent += n as u64;
            progress.set(sent);
        }
        Ok(sent)
    }
    // ANCHOR_END: sendfile

    // ANCHOR: splice
    /// The server's body with `splice(2)`: the kernel moves the bytes from the
    /// socket into a pipe (by handing over its buffers, not copying them) and
    /// from the pipe into the file. `splice` always has a pipe on one side.
    /// The pipe is enlarged to [`BODY_BUFFER`] and emptied after every fill,
    /// so at most that much is in flight, like the loop's buffer.
    ///
    /// Same contract as `server::receive_body`: exactly `size` bytes, counted
    /// in `received`, end of stream before that is `short`.
    pub fn receive_body(
        reader: &mut BufReader<Deadline<'_>>,
        file: &mut File,
        size: u64,
        received: &mut u64,
    ) -> Result<(), Refusal> {
        // The catch of reading the socket directly: the header was read
        // through the BufReader, which read ahead. Bytes the client sent
        // right after the header (without waiting for READY) are in its
        // buffer now, no longer in the socket, and `splice` from the socket
        // would skip them. So they go into the file first. The loop never
        // needs this: its reads go through the same BufReader.
        let early = reader.buffer();
        let early = &early[..early.len().min(size as usize)];
        file.write_all(early).map_err(write_failed)?;
        let early_len = early.len();
        reader.consume(early_len);
        *received += early_len as u64;

        let (mut pipe_reader, pipe_writer) = io::pipe().map_err(write_failed)?;
        // Best effort: a smaller pipe (64 KiB by default) only means more rounds.
        let _ = fcntl_setpipe_size(&pipe_writer, BODY_BUFFER);
        let deadline = reader.get_ref();
        while *received < size {
            let due = (size - *received).min(BODY_BUFFER as u64) as usize;
            // Socket -> pipe. Waits (up to the idle limit or the deadline,
            // which `arm` sets) only while no bytes are there.
            let waited = deadline.arm().and_then(|()| {
                splice(
                    deadline.stream(),
                    None,
                    &pipe_writer,
                    None,
                    due,
                    SpliceFlags::MOVE,
                )
                .map_err(io::Error::from)
            });
            let n = match waited {
                Ok(0) => return Err(body_ended(size, *received)),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(body_failed(deadline, size, *received, &err)),
            };
            // Pipe -> file: std's io::copy uses splice when one side is a pipe
            // (and falls back to read and write if the file system refuses).
            let moved =
                io::copy(&mut (&mut pipe_reader).take(n as u64), file).map_err(write_failed)?;
            if moved != n as u64 {
                let err = io::Error::other("the pipe returned fewer bytes than it was given");
                return Err(write_failed(err));
            }
            *received += n as u64;
        }
        Ok(())
    }
    // ANCHOR_END: splice
}
