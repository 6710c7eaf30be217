"""An echo server that writes back one byte fewer than it read.

check 03-server: fails stage 2, "echoes one line".
Usage: python3 echo_all_but_last_byte.py PORT
"""
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
while True:
    conn, addr = server.accept()
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            # MISTAKE: an off-by-one (the same as data.rstrip(b"\n")): the
            # last byte of each read, here the "\n", never goes back.
            conn.sendall(data[:-1])
