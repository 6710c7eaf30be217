//! The clients being served right now.
//!
//! The accept loop and the client threads share this registry. The accept
//! loop counts the clients in it (for `max_connections`), waits for it to
//! empty (the grace period) and, at the end, shuts down whatever is left.
//! Each client thread takes itself out when its client is done.

use std::collections::HashMap;
use std::net::{self, TcpStream};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::lock;

// ANCHOR: registry
/// The connected clients, by id, each with a handle on its socket.
///
/// The handle is an `Arc` of the same `TcpStream` the client's thread
/// reads and writes. `shutdown(Both)` through it wakes that thread, even in
/// the middle of a blocked `read`, with end-of-stream.
#[derive(Default)]
pub struct Clients {
    open: Mutex<HashMap<u64, Arc<TcpStream>>>,
    /// Signalled whenever a client leaves.
    left: Condvar,
}

impl Clients {
    /// How many clients are connected.
    pub fn count(&self) -> usize {
        lock(&self.open).len()
    }

    /// A client has a thread now.
    pub fn insert(&self, id: u64, stream: Arc<TcpStream>) {
        lock(&self.open).insert(id, stream);
    }

    /// A client is done: forget it, and wake whoever waits for clients to
    /// leave.
    pub fn remove(&self, id: u64) {
        lock(&self.open).remove(&id);
        self.left.notify_all();
    }

    /// Waits until every client has left or `grace` has passed; returns
    /// how many are still connected.
    pub fn wait_until_empty(&self, grace: Duration) -> usize {
        // `wait_timeout_while` sleeps until `notify_all` (a client left) and
        // checks the condition again; no polling, and it returns the moment
        // the last client leaves.
        let (open, _timed_out) = self
            .left
            .wait_timeout_while(lock(&self.open), grace, |open| !open.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        open.len()
    }

    /// Shuts down every remaining connection in both directions.
    pub fn close_all(&self) {
        for stream in lock(&self.open).values() {
            // An error means that socket is already closed: nothing to do.
            let _ = stream.shutdown(net::Shutdown::Both);
        }
    }
}
// ANCHOR_END: registry
