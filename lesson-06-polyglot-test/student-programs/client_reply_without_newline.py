"""Lesson 02's client, answering without a "\n" (the tutorial's shape).

check 02-client: fails stage 2, "answers the greeting with one line,
ending in "\\n"".
Usage: python3 client_reply_without_newline.py PORT
"""
import socket
import sys

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
greeting = sock.makefile("rb").readline()
print("server says:", greeting.decode().rstrip("\n"))
# MISTAKE: no "\n", so the server cannot tell that the line is complete.
sock.sendall("Hello, server!".encode())
sock.close()
