"""Lesson 03's echo client, reading each echo with one recv.

check 03-client: fails stage 5, "prints each echo as "echo: LINE" and
exits 0 once the server closes": the 70 000-byte line comes back in
pieces.
Usage: python3 echo_client_single_recv.py PORT < lines
"""
import socket
import sys

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
for line in sys.stdin.buffer:
    sock.sendall(line)
    # MISTAKE: one recv returns what has arrived so far: a long echo comes
    # in several pieces, and the rest is read as the next line's echo.
    echo = sock.recv(1024)
    print("echo:", echo.decode(errors="replace").rstrip("\n"))
sock.shutdown(socket.SHUT_WR)
while sock.recv(65536):
    pass
