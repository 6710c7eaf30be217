"""An echo server that decodes every recv as UTF-8 text.

check 03-server: fails stage 3, "echoes a line that arrives one byte at a
time", when a character arrives in two reads.
Usage: python3 echo_decodes_each_read.py PORT
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
            data = conn.recv(1024)
            if not data:
                break
            # MISTAKE: "é" is two bytes; if a read ends between them, decode
            # raises UnicodeDecodeError and the program stops.
            text = data.decode("utf-8")
            conn.sendall(text.encode("utf-8"))
