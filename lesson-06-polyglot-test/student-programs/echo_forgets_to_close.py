"""An echo server that never closes a client's connection.

check 03-server: fails stage 5, "closes after the client shuts down its
write half, with every byte echoed".
Usage: python3 echo_forgets_to_close.py PORT
"""
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
while True:
    # MISTAKE: no conn.close() (and no `with conn:`). The variable keeps the
    # socket open while the next accept waits, so the client never reads
    # the end of the stream.
    conn, addr = server.accept()
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)
