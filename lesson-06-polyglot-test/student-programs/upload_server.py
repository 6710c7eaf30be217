"""Lesson 04's protocol in Python: a complete server, but for two choices
that other programs of this folder get wrong on purpose. With no option it
passes every stage of check 04-server.

  --trust-names   joins any name to the folder: fails stage 5, "refuses
                  names that could escape its folder, with ERR bad-name".
  --no-temp-file  writes straight into the file's own name: fails stage 9,
                  "a short body leaves nothing behind, and is refused with
                  ERR short".
  --decode-body   decodes each piece of the body as UTF-8 and saves the
                  text: fails stage 4, "saves 1 MiB of every byte value
                  exactly".

Usage: python3 upload_server.py PORT DIR [--trust-names] [--no-temp-file]
                                         [--decode-body]
"""
import os
import socket
import sys

MAX_LINE = 4096
port, folder = int(sys.argv[1]), sys.argv[2]
trust_names = "--trust-names" in sys.argv
no_temp_file = "--no-temp-file" in sys.argv
decode_body = "--decode-body" in sys.argv


def read_line(reader):
    """One line of at most MAX_LINE bytes, without its "\\n"; None if too long."""
    line = reader.readline(MAX_LINE)
    if not line.endswith(b"\n"):
        return None
    return line[:-1]


def bad_name(name):
    return (name in ("", ".", "..") or "/" in name or "\\" in name
            or any(ord(c) < 32 or ord(c) == 127 for c in name) or len(name.encode()) > 255)


def handle(conn):
    reader = conn.makefile("rb")
    line = read_line(reader)
    if line is None:
        return "ERR bad-header no newline in the first 4096 bytes"
    parts = line.split(b" ", 2)
    if len(parts) != 3 or parts[0] != b"SEND" or not parts[1].isdigit():
        return "ERR bad-header expected SEND <size> <name>"
    size, name = int(parts[1]), parts[2].decode("utf-8", "replace")
    if size >= 2 ** 64:
        return "ERR bad-header the size does not fit in 64 bits"
    if not trust_names and bad_name(name):
        return "ERR bad-name %r is not a plain file name" % name
    target = os.path.join(folder, name)
    if os.path.lexists(target):
        return "ERR exists %s already exists" % name
    # MISTAKE with --no-temp-file: a cut-off body stays under the real name.
    part = target if no_temp_file else os.path.join(folder, ".%s.part" % name)
    conn.sendall(b"READY\n")
    received = 0
    try:
        with open(part, "wb") as file:
            while received < size:
                data = reader.read1(min(65536, size - received))
                if not data:
                    break
                # MISTAKE with --decode-body: the body is bytes, not text;
                # every byte that is not UTF-8 becomes U+FFFD on the way.
                file.write(data.decode("utf-8", "replace").encode() if decode_body else data)
                received += len(data)
        if received < size:
            if not no_temp_file:
                os.remove(part)
            return "ERR short expected %d bytes, got %d" % (size, received)
        if not no_temp_file:
            os.rename(part, target)
    except OSError as err:
        if not no_temp_file and os.path.exists(part):
            os.remove(part)
        return "ERR io %s" % err
    return "OK %d" % size


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen()
while True:
    conn, addr = server.accept()
    with conn:
        conn.settimeout(10)
        try:
            answer = handle(conn)
            conn.sendall((answer + "\n").encode())
            print(addr, answer, flush=True)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):  # let the client read the answer
                pass
        except OSError as err:
            print(addr, "failed:", err, flush=True)
