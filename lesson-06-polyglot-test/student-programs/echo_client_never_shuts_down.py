"""Lesson 03's echo client, which never shuts down its write half.

check 03-client: fails stage 4, "shuts down its write half after its last
line".
Usage: python3 echo_client_never_shuts_down.py PORT < lines
"""
import socket
import sys

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
replies = sock.makefile("rb")
for line in sys.stdin.buffer:
    sock.sendall(line)
    echo = replies.readline()
    if echo != line:
        sys.exit("error: sent %r, got %r" % (line[:80], echo[:80]))
    print("echo:", echo.decode().rstrip("\n"))
# MISTAKE: no sock.shutdown(socket.SHUT_WR). The server waits for more
# lines, we wait for its close: nobody moves.
replies.read()
