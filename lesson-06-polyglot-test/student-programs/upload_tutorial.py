"""The tutorial's file server: no header, no answer, the bytes until close.

check 04-server: fails stage 2, "answers a good header with READY": it has
no protocol at all, so the header is saved as part of the file.
Usage: python3 upload_tutorial.py PORT DIR
"""
import os
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
while True:
    conn, addr = server.accept()
    # MISTAKE: a fixed name, and no way to tell a whole file from a cut-off
    # one, nor to tell the client that it arrived.
    with conn, open(os.path.join(sys.argv[2], "received.bin"), "wb") as file:
        while True:
            data = conn.recv(1024)
            if not data:
                break
            file.write(data)
