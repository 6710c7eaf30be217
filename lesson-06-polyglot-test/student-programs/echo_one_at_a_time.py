"""A correct lesson 03 echo server: clients one after another.

check 03-server: passes every stage.
check 05-server: fails stage 8, "a client that connects and never speaks
does not delay another client's echo": it serves one client at a time.
Usage: python3 echo_one_at_a_time.py PORT
"""
import socket
import sys

# ANCHOR: serve
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
while True:
    conn, addr = server.accept()
    print("client", addr, "connected", flush=True)
    with conn:
        try:
            while True:
                data = conn.recv(65536)
                if not data:  # b"": the client shut down its write half
                    break
                conn.sendall(data)
        except OSError as err:  # a reset: that client's problem, not ours
            print("client", addr, "failed:", err, file=sys.stderr)
# ANCHOR_END: serve
