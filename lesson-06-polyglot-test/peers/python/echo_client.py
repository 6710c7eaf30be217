#!/usr/bin/env python3
"""Echo client for lesson 06, standard library only.

Usage: python3 echo_client.py PORT < lines.txt

For each line of standard input it sends the line (ending in "\\n") to the
echo server on 127.0.0.1:PORT, reads until it has the whole echo of that
line, checks it is byte for byte what was sent, and prints it as
"echo: LINE", as lesson 03's client does. It exits 1 on the first mismatch
or if the server closes early, saying what was sent and what came back.
"""

import socket
import sys

TIMEOUT_SECS = 10


def fail(message):
    print("error: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


def main():
    if len(sys.argv) != 2:
        print("usage: python3 echo_client.py PORT < lines", file=sys.stderr)
        return 2
    try:
        port = int(sys.argv[1])
    except ValueError:
        print("error: port must be a number, got %r" % sys.argv[1], file=sys.stderr)
        return 2

    # ANCHOR: connect
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECS)
    except OSError as err:
        fail("cannot connect to 127.0.0.1:%d: %s" % (port, err))
    # makefile gives a buffered reader with readline(): TCP has no message
    # boundaries, so one recv() may return half a line or two lines.
    replies = conn.makefile("rb")
    # ANCHOR_END: connect

    # ANCHOR: exchange
    with conn, replies:
        for line in sys.stdin.buffer:  # bytes, so nothing is decoded or re-encoded
            if not line.endswith(b"\n"):
                line += b"\n"  # the last line of a file may lack its newline
            conn.sendall(line)
            echo = replies.readline()  # reads until b"\n" or end of stream
            if echo != line:
                what = "the server closed the connection" if not echo else "got %r" % echo[:200]
                fail("sent %r (%d bytes), %s (%d bytes)"
                     % (line[:200], len(line), what, len(echo)))
            # Printed like lesson 03's client does: "echo: " and the line.
            sys.stdout.buffer.write(b"echo: " + echo)
            sys.stdout.flush()
        # Nothing more to send: shut down our write half, so the server's
        # recv() returns b"" and it closes. Then expect end of stream, not data.
        conn.shutdown(socket.SHUT_WR)
        extra = replies.read()
        if extra:
            fail("after the last line the server sent %r more bytes: %r"
                 % (len(extra), extra[:200]))
    # ANCHOR_END: exchange
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except socket.timeout:  # a read or write waited longer than TIMEOUT_SECS
        fail("nothing arrived from the server for %d seconds" % TIMEOUT_SECS)
    except OSError as err:  # a reset in the middle of the exchange
        fail(str(err))
