"""Lesson 02's client, which never shuts down its write half.

check 02-client: fails stage 6, "shuts down its write half after its reply".
Usage: python3 client_never_shuts_down.py PORT
"""
import socket
import sys

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
greeting = sock.makefile("rb").readline()
print("server says:", greeting.decode().rstrip("\n"))
sock.sendall(b"Hello, server!\n")
# MISTAKE: no sock.shutdown(socket.SHUT_WR): the server never reads the end
# of our stream, and we both wait.
while sock.recv(1024):
    pass
sock.close()
