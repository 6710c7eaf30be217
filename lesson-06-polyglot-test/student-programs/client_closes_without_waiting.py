"""Lesson 02's client, which exits as soon as it has answered.

check 02-client: fails stage 7, "waits for the server to close, then
exits 0".
Usage: python3 client_closes_without_waiting.py PORT
"""
import socket
import sys

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
greeting = sock.makefile("rb").readline()
print("server says:", greeting.decode().rstrip("\n"))
sock.sendall(b"Hello, server!\n")
sock.shutdown(socket.SHUT_WR)
# MISTAKE: it closes without reading to the end of the stream, so it never
# learns whether the server read its line.
sock.close()
