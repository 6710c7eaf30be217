//! [`Shutdown`]: the handle that stops a running server.
//!
//! The Ctrl-C handler holds one clone, [`run_server`](crate::run_server)
//! another. Stopping takes two steps that the naive version misses: the
//! accept loop is blocked in `accept`, so it must be woken; and a client
//! thread may be blocked in `read`, which is the registry's job (see
//! [`crate::registry`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::lock;

/// How long [`Shutdown::trigger`] tries to connect to the listener to wake
/// a blocked `accept`.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

// ANCHOR: shutdown
/// A handle that stops a running [`run_server`](crate::run_server); clone
/// it freely.
///
/// `trigger` sets a flag, which the accept loop checks after every
/// `accept`. But `accept` blocks until someone connects, so on an idle
/// server the flag alone would never be seen. `trigger` therefore also
/// connects to the listener itself: that connection makes `accept` return,
/// the loop sees the flag and stops. (The other way out is a non-blocking
/// listener polled every few milliseconds; it costs a wake-up per poll and
/// a delay per accept, and the sockets it accepts must be set back to
/// blocking on some systems.)
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<ShutdownState>,
}

#[derive(Debug, Default)]
struct ShutdownState {
    triggered: AtomicBool,
    /// How to wake the accept loop, while one is running.
    wake: Mutex<Option<Wake>>,
}

/// The listener's address, and a socket made in advance to connect to it.
/// Made in advance because a server that is out of file descriptors must
/// still be able to stop: connecting this socket needs no new descriptor.
#[derive(Debug)]
struct Wake {
    addr: SocketAddr,
    socket: Socket,
}

impl Shutdown {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Asks the server to shut down: stop accepting now, let the connected
    /// clients finish within the grace period. Safe to call from any
    /// thread, any number of times, before or while the server runs.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        if let Some(wake) = &*lock(&self.inner.wake) {
            // The result does not matter: if this connect fails, the
            // listener is already closed, or its queue is full and `accept`
            // is about to return anyway. (A second trigger finds the socket
            // connected already, and fails harmlessly.)
            let _ = wake.socket.connect_timeout(&wake.addr.into(), WAKE_TIMEOUT);
        }
    }

    /// Whether [`trigger`](Shutdown::trigger) has been called.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Called by the accept loop before it starts: from now on, `trigger`
    /// wakes the listener that listens on `listening_on`.
    pub(crate) fn watch(&self, listening_on: SocketAddr) -> io::Result<()> {
        let addr = wake_address(listening_on);
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        *lock(&self.inner.wake) = Some(Wake { addr, socket });
        Ok(())
    }

    /// Called when the accept loop has ended: nothing to wake any more.
    pub(crate) fn unwatch(&self) {
        *lock(&self.inner.wake) = None;
    }
}

/// Where to connect to reach a listener. A listener bound to one address
/// (127.0.0.1, 127.0.0.2, ::1, a LAN address) is reached at that address.
/// One bound to "any address" (0.0.0.0 or ::) listens on all of them, but
/// "any" itself is not a place to connect to everywhere; loopback always
/// works.
fn wake_address(listening_on: SocketAddr) -> SocketAddr {
    let ip = match listening_on.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listening_on.port())
}
// ANCHOR_END: shutdown

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wake_up_goes_to_the_listeners_own_address_or_loopback_for_any() {
        for (listening_on, expected) in [
            ("127.0.0.2:7005", "127.0.0.2:7005"),
            ("[::1]:7005", "[::1]:7005"),
            ("[2001:db8::5]:7005", "[2001:db8::5]:7005"),
            ("192.168.1.20:80", "192.168.1.20:80"),
            ("0.0.0.0:7005", "127.0.0.1:7005"),
            ("[::]:7005", "[::1]:7005"),
        ] {
            let listening_on: SocketAddr = listening_on.parse().expect("a test address");
            assert_eq!(
                wake_address(listening_on).to_string(),
                expected,
                "a listener on {listening_on} should be woken at {expected}"
            );
        }
    }
}
