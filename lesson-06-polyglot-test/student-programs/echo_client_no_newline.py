"""Lesson 03's echo client, sending its lines without their "\n".

check 03-client: fails stage 2, "sends the first line of its input,
ending in "\\n"".
Usage: python3 echo_client_no_newline.py PORT < lines
"""
import socket
import sys

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
replies = sock.makefile("rb")
for line in sys.stdin.buffer:
    # MISTAKE: the "\n" is stripped before sending, so the server (and the
    # echo) never says where the line ends.
    sock.sendall(line.rstrip(b"\n"))
    echo = replies.readline()
    print("echo:", echo.decode().rstrip("\n"))
sock.shutdown(socket.SHUT_WR)
replies.read()
