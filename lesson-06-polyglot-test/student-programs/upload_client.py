"""Lesson 04's client in Python, with three mistakes to choose from. With no
option it passes every stage of check 04-client.

  --no-wait    sends the body right after the header, without waiting for
               READY (and then waits for it, its write half still open):
               fails stage 3, "waits for READY before it sends the body".
  --no-ok      does not wait for "OK <size>": fails stage 7, "reports a
               server that closes without OK".
  --text-mode  opens the file as text (open(path) without "rb") and sends
               it encoded again as UTF-8: bytes that are not UTF-8 come out
               as "\ufffd", so fails stage 4, "sends exactly the file's
               bytes after READY".

Usage: python3 upload_client.py PORT FILE [--no-wait] [--no-ok] [--text-mode]
"""
import os
import socket
import sys

port, path = int(sys.argv[1]), sys.argv[2]
no_wait = "--no-wait" in sys.argv
no_ok = "--no-ok" in sys.argv
text_mode = "--text-mode" in sys.argv

size = os.path.getsize(path)
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
replies = sock.makefile("rb")
sock.sendall(("SEND %d %s\n" % (size, os.path.basename(path))).encode())
if not no_wait:
    answer = replies.readline()
    if answer != b"READY\n":
        sys.exit("error: the server refused: %s" % answer.decode(errors="replace").strip())
# MISTAKE with --no-wait: the body goes before the server has said READY.
if text_mode:
    # MISTAKE with --text-mode: a file is bytes; read as text, every byte
    # that is not UTF-8 is replaced, and what is sent is not the file.
    with open(path, encoding="utf-8", errors="replace") as file:
        sock.sendall(file.read().encode())
else:
    with open(path, "rb") as file:
        while True:
            chunk = file.read(65536)
            if not chunk:
                break
            sock.sendall(chunk)
if no_wait:
    replies.readline()  # the READY we did not wait for
sock.shutdown(socket.SHUT_WR)
if no_ok:
    # MISTAKE with --no-ok: the upload is called a success without the
    # server's confirmation.
    print("sent", path)
    sys.exit(0)
answer = replies.readline()
if answer != ("OK %d\n" % size).encode():
    sys.exit("error: no confirmation from the server: %r" % answer)
print("sent", path)
