"""A greeting server with no "\n" after its greeting.

check 01-server: fails stage 2, "sends one line, ending in "\\n"".
Usage: python3 greeting_without_newline.py PORT
"""
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
conn, addr = server.accept()
print("client", addr, "connected")
# MISTAKE: no "\n" at the end, so a client reading a line waits for more.
conn.sendall("Hello, client! I am the server.".encode())
conn.close()
server.close()
