"""The echo server with its read loop fixed, but for one client only.

check 03-server: fails stage 6, "serves a second client after the first
leaves".
Usage: python3 echo_one_client.py PORT
"""
import socket
import sys

# ANCHOR: serve
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
# MISTAKE: accept is called once; after that client, the program ends.
conn, addr = server.accept()
print("client", addr, "connected")
while True:
    data = conn.recv(1024)
    if not data:  # b"": the client shut down its write half
        break
    conn.sendall(data)
conn.close()
server.close()
# ANCHOR_END: serve
