"""Lesson 02's server, reading the client's reply with one recv.

check 02-server: fails stage 6, "reads the whole reply when it arrives in
two pieces".
Usage: python3 reply_single_recv.py PORT
"""
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
conn, addr = server.accept()
conn.sendall(b"Hello, client! I am the server.\n")
# MISTAKE: one recv returns what has arrived so far, maybe half the line.
reply = conn.recv(1024)
print("client says:", reply.decode().rstrip("\n"))
conn.close()
