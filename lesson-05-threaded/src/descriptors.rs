//! Every connection costs a file descriptor, and a process may only hold so
//! many: its open-file limit, `ulimit -n`, often 1024. A thread-per-client
//! server that reaches it can no longer `accept`: the call fails with EMFILE
//! ("Too many open files"), and a new client waits in the kernel's queue
//! without a word.
//!
//! Two defences, one at start and one while serving:
//!
//! * [`raise_open_file_limit`]: the limit has two values, a soft one (in
//!   force) and a hard one (how far the process itself may raise the soft
//!   one). Shells start programs with a soft limit of 1024 for the sake of
//!   old programs that use `select`, which cannot handle descriptors past
//!   1023. We never use `select`, so we raise the soft limit to the hard one,
//!   as Go's runtime does for every Go program. `main` then caps
//!   `--max-connections` at what fits ([`clients_that_fit`]) and says so.
//! * [`Spare`]: one descriptor kept in reserve. When `accept` still fails
//!   with EMFILE (the limit was lowered while we run, or something we did
//!   not count holds descriptors), closing the spare makes room for exactly
//!   one connection: accept the waiting client, tell it that the server is
//!   busy, close it, and open the spare again. (libev and libuv do the same.)

use std::fs::File;
use std::io;

use rustix::io::Errno;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors the server keeps for itself, besides one per client:
/// standard input, output and error, the listener, the two ends of the
/// Ctrl-C handler's pipe, the spare, both ends of the wake-up connection at
/// shutdown, a client being turned away, and a margin.
pub const RESERVED_DESCRIPTORS: u64 = 16;

// ANCHOR: raise_open_file_limit
/// Raises this process's soft limit on open files to its hard limit, and
/// returns the soft limit in force afterwards (`None`: unlimited).
///
/// If the system refuses, the limit stays as it was: the server still
/// runs, with less room.
pub fn raise_open_file_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    match (limit.current, limit.maximum) {
        (Some(soft), Some(hard)) if soft < hard => {
            let raised = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => Some(hard),
                Err(_) => Some(soft),
            }
        }
        _ => limit.current,
    }
}

/// How many clients at once fit in `open_files` descriptors (`None`:
/// unlimited): one descriptor each, after the server's own.
pub fn clients_that_fit(open_files: Option<u64>) -> usize {
    match open_files {
        Some(limit) => {
            usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX)
        }
        None => usize::MAX,
    }
}
// ANCHOR_END: raise_open_file_limit

// ANCHOR: spare
/// One file descriptor held in reserve, for the moment the others run out.
/// Any descriptor will do: `/dev/null`, opened for reading, costs nothing.
pub struct Spare {
    file: Option<File>,
}

impl Spare {
    /// Opens the spare.
    pub fn open() -> Self {
        Spare {
            file: File::open("/dev/null").ok(),
        }
    }

    /// Closes the spare, so that the next descriptor this process asks for
    /// can be had. Returns `false` if there was no spare to close.
    pub fn release(&mut self) -> bool {
        let spare = self.file.take();
        let had_one = spare.is_some();
        drop(spare);
        had_one
    }

    /// Opens the spare again (after [`release`](Spare::release)) if it is
    /// not open. Returns whether it is open now: `false` means this process
    /// has no descriptor left.
    pub fn take_back(&mut self) -> bool {
        if self.file.is_none() {
            *self = Spare::open();
        }
        self.file.is_some()
    }
}

/// Whether `err` says "no descriptor left": EMFILE (this process is at its
/// limit) or ENFILE (the whole system is).
pub fn is_out_of_descriptors(err: &io::Error) -> bool {
    matches!(Errno::from_io_error(err), Some(Errno::MFILE | Errno::NFILE))
}
// ANCHOR_END: spare

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_takes_one_descriptor_after_the_servers_own() {
        assert_eq!(clients_that_fit(Some(1024)), 1024 - 16);
        assert_eq!(clients_that_fit(Some(17)), 1);
        assert_eq!(clients_that_fit(Some(16)), 0);
        assert_eq!(clients_that_fit(Some(3)), 0);
        assert_eq!(clients_that_fit(None), usize::MAX);
    }

    #[test]
    fn out_of_descriptors_means_emfile_or_enfile_only() {
        let emfile = io::Error::from_raw_os_error(Errno::MFILE.raw_os_error());
        let enfile = io::Error::from_raw_os_error(Errno::NFILE.raw_os_error());
        let reset = io::Error::from_raw_os_error(Errno::CONNRESET.raw_os_error());
        assert!(is_out_of_descriptors(&emfile), "{emfile}");
        assert!(is_out_of_descriptors(&enfile), "{enfile}");
        assert!(!is_out_of_descriptors(&reset), "{reset}");
        assert!(!is_out_of_descriptors(&io::Error::other("no OS error")));
    }

    #[test]
    fn the_spare_is_released_once_and_taken_back() {
        let mut spare = Spare::open();
        assert!(spare.release(), "a fresh spare should be open");
        assert!(!spare.release(), "a released spare has nothing to release");
        spare.take_back();
        assert!(
            spare.release(),
            "the spare should be open again after take_back"
        );
    }
}
