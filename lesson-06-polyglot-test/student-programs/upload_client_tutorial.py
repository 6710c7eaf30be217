"""The tutorial's file client: the raw bytes of the file, then close.

check 04-client: fails stage 2, "sends the header "SEND <size>
<name>\\n" for its file".
Usage: python3 upload_client_tutorial.py PORT FILE
"""
import socket
import sys

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
# MISTAKE: no header, so the server cannot know the file's name or size,
# and no answer is read, so the client cannot know it arrived.
with open(sys.argv[2], "rb") as file:
    while True:
        chunk = file.read(1024)
        if not chunk:
            break
        sock.sendall(chunk)
sock.close()
