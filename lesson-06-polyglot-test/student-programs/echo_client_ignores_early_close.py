"""Lesson 03's echo client, which takes a closed connection for success.

check 03-client: fails stage 6, "reports a server that closes without
echoing".
Usage: python3 echo_client_ignores_early_close.py PORT < lines
"""
import socket
import sys

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
replies = sock.makefile("rb")
for line in sys.stdin.buffer:
    sock.sendall(line)
    echo = replies.readline()
    if not echo:
        # MISTAKE: b"" means the server closed without echoing; this client
        # stops quietly and exits 0, as if everything had come back.
        break
    if echo != line:
        sys.exit("error: sent %r, got %r" % (line[:80], echo[:80]))
    print("echo:", echo.decode().rstrip("\n"))
sock.shutdown(socket.SHUT_WR)
replies.read()
