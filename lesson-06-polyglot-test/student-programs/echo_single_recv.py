"""The tutorial's first echo server: one recv, one sendall, close.

check 03-server: fails stage 3, "echoes a line that arrives one byte at a
time". The chapter of lesson 06 fixes it one step at a time.
Usage: python3 echo_single_recv.py PORT
"""
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
conn, addr = server.accept()
print("client", addr, "connected")
# MISTAKE: one recv returns whatever has arrived so far (here, maybe one
# byte), not "the message".
data = conn.recv(1024)
conn.sendall(data)
conn.close()
server.close()
