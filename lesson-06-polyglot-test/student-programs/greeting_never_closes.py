"""A greeting server that keeps the connection open after its greeting.

check 01-server: fails stage 4, "closes the connection after the greeting".
Usage: python3 greeting_never_closes.py PORT
"""
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
conn, addr = server.accept()
conn.sendall("Hello, client! I am the server.\n".encode())
# MISTAKE: it waits for the client instead of closing, and the client
# waits for the end of the stream: each waits for the other.
conn.recv(1024)
conn.close()
