#!/usr/bin/env python3
"""Echo server for lesson 06: one thread per client, standard library only.

Usage: python3 echo_server.py PORT    (PORT 0 lets the system choose one)

It speaks lesson 03's protocol: whatever bytes a client sends come back
unchanged, in order, until the client shuts down its write half; then the
server closes that connection. The first line on stdout is
"listening on HOST:PORT", flushed, so a test can read the real port.
"""

import socket
import sys
import threading

# A client that says nothing for this long is dropped, so a silent client
# cannot hold a thread forever.
IDLE_TIMEOUT_SECS = 30


def log(message):
    # Several threads print; flush at once so a reader of the pipe sees the
    # line now, not when Python's buffer happens to fill.
    print(message, flush=True)


# ANCHOR: serve_client
def serve_client(conn, peer):
    """Echo everything one client sends, until it shuts down its write half."""
    name = "%s:%d" % peer
    with conn:  # closes the socket however this function ends
        conn.settimeout(IDLE_TIMEOUT_SECS)
        try:
            while True:
                chunk = conn.recv(65536)  # any amount up to 64 KiB; b"" means end of stream
                if not chunk:
                    break
                # send() may take only part of the chunk; sendall() loops until
                # every byte is written.
                conn.sendall(chunk)
        except OSError as err:  # a reset, or the idle time-out
            print("error: client %s: %s" % (name, err), file=sys.stderr, flush=True)
    log("client %s disconnected" % name)
# ANCHOR_END: serve_client


def main():
    if len(sys.argv) != 2:
        print("usage: python3 echo_server.py PORT", file=sys.stderr)
        return 2
    try:
        port = int(sys.argv[1])
    except ValueError:
        print("error: port must be a number, got %r" % sys.argv[1], file=sys.stderr)
        return 2

    # ANCHOR: listen
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.bind(("127.0.0.1", port))
    except OSError as err:
        print("error: cannot listen on 127.0.0.1:%d: %s" % (port, err), file=sys.stderr)
        return 1
    server.listen()
    host, real_port = server.getsockname()  # the real port, even when we asked for 0
    log("listening on %s:%d" % (host, real_port))
    # ANCHOR_END: listen

    # ANCHOR: accept
    with server:
        while True:
            conn, peer = server.accept()
            log("client %s:%d connected" % peer)
            # daemon: the process can exit without waiting for client threads.
            threading.Thread(target=serve_client, args=(conn, peer), daemon=True).start()
    # ANCHOR_END: accept


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
