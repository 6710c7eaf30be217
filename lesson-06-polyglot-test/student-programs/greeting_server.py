"""The tutorial's greeting server, done right: one line, then close.

check 01-server: passes every stage. It serves one client and exits, and
does not set SO_REUSEADDR, as the tutorials' servers do not; check starts
it afresh for each stage, on the same port with --addr.
Usage: python3 greeting_server.py PORT
"""
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
conn, addr = server.accept()
print("client", addr, "connected")
conn.sendall("Hello, client! I am the server.\n".encode())
conn.close()
server.close()
