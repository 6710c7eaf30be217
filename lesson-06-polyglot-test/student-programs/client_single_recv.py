"""Lesson 02's client, reading the greeting with one recv.

check 02-client: fails stage 5, "reads the whole greeting when it arrives
in two pieces".
Usage: python3 client_single_recv.py PORT
"""
import socket
import sys

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
# MISTAKE: one recv returns what has arrived so far, maybe half the line.
greeting = sock.recv(1024)
print("server says:", greeting.decode().rstrip("\n"))
sock.sendall(b"Hello, server!\n")
sock.shutdown(socket.SHUT_WR)
while sock.recv(1024):
    pass
sock.close()
