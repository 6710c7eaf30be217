"""Lesson 05's threaded echo server in Python: a thread per client, at most
MAX clients at once, "ERR server busy" for one more. With no option it
passes every stage of check 05-server. Each option is one classic mistake:

  --ignore-limit   never says busy: fails stage 10, "over its limit, a
                   client is told it is busy rather than left waiting".
  --never-free     counts clients in but never out: fails stage 11,
                   "frees a place when a client leaves".
  --reply-to-latest  every thread writes to the connection accepted last:
                   fails stage 9, "100 clients at once each get only
                   their own bytes".
  --one-too-few    counts the client being accepted as well, so the last
                   place is never given: fails stage 10, where client MAX
                   of MAX is told it is busy.
  --close-silently closes the connection of a client over the limit
                   without a word: fails stage 10 too, where the client
                   cannot tell a full server from a broken one.

Usage: python3 threaded_server.py PORT MAX [--ignore-limit] [--never-free]
                                          [--reply-to-latest] [--one-too-few]
                                          [--close-silently]
"""
import socket
import sys
import threading

port, limit = int(sys.argv[1]), int(sys.argv[2])
ignore_limit = "--ignore-limit" in sys.argv
never_free = "--never-free" in sys.argv
reply_to_latest = "--reply-to-latest" in sys.argv
one_too_few = "--one-too-few" in sys.argv
close_silently = "--close-silently" in sys.argv

lock = threading.Lock()
connected = 0
latest = None  # the connection accepted last (used only by the mistake)


def serve(conn, addr):
    global connected
    try:
        with conn:
            conn.settimeout(30)  # a silent client cannot hold a thread for ever
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                # MISTAKE with --reply-to-latest: `latest` is shared by all
                # threads; each should write to its own `conn`.
                (latest if reply_to_latest else conn).sendall(data)
    except OSError as err:  # a reset or a time-out ends this client only
        print("client", addr, "failed:", err, file=sys.stderr, flush=True)
    finally:
        if not never_free:  # MISTAKE with --never-free: the place is never given back
            with lock:
                connected -= 1


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(128)
while True:
    conn, addr = server.accept()
    with lock:
        # MISTAKE with --one-too-few: `connected + 1` counts the new client
        # twice, so only MAX - 1 clients are ever served at once.
        full = (connected + 1 if one_too_few else connected) >= limit
        if not full:
            connected += 1
    # MISTAKE with --ignore-limit: the client over the limit is served
    # anyway, and waits for a thread like everyone else.
    if full and not ignore_limit:
        # MISTAKE with --close-silently: the client is turned away without
        # being told why.
        if not close_silently:
            conn.sendall(b"ERR server busy\n")
        conn.close()
        continue
    latest = conn
    threading.Thread(target=serve, args=(conn, addr), daemon=True).start()
