#!/usr/bin/env python3
"""Watch the lessons on the wire: run them on loopback under tcpdump and write
readable, normalised captures for the book.

Run it through capture.sh (it builds the lessons first):

    sudo bash docs/captures/capture.sh            # rewrite docs/captures/*.txt
    sudo bash docs/captures/capture.sh --check    # capture into a scratch folder
                                                  # and check the events the book names

Capturing packets needs root or the CAP_NET_RAW capability, hence `sudo`.

Each scenario starts a lesson's server with `--port 0`, reads its
`listening on` line, starts tcpdump on that one port, runs a client, waits for
the last packet, and turns the raw capture (a pcap file, parsed here, so the
output does not depend on tcpdump's text format) into one line per segment.
What changes from run to run is normalised away: ports become `client` and
`server`, sequence numbers count from each side's first byte (the SYN is 0),
and times are left out. So a capture changes only when what the programs put
on the wire changes.
"""

import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))  # the workspace
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "debug")

# How long anything may take before the script gives up with a message.
STARTUP_LIMIT = 20.0  # a server's `listening on` line, tcpdump's first line
EXCHANGE_LIMIT = 20.0  # a client's whole conversation, a server's exit
QUIET_TIME = 0.5  # no new packet for this long: the conversation is over
# A capture that differs from the committed file is taken again, at most this
# many times in all. On a busy machine kernel timers can add or move a segment
# that says nothing about the programs (a FIN sent twice because the server's
# sync took longer than the retransmission time-out); a change in what the
# programs send shows up in every run, and is written.
TRIES = 10

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class CaptureError(Exception):
    pass


# ---------------------------------------------------------------------------
# Programs: the lessons' servers, tcpdump, and the scripted clients
# ---------------------------------------------------------------------------


def read_line_within(stream, limit, what):
    """The first line of a child's output, or CaptureError after `limit` s."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + limit
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not selector.select(left):
            raise CaptureError(f"{what}: no line within {limit:.0f} s (got {line!r})")
        chunk = os.read(stream.fileno(), 1)
        if not chunk:
            raise CaptureError(f"{what}: its output ended before a line (got {line!r})")
        line += chunk
    return line.decode("utf-8", "replace").rstrip("\n")


def start_server(args):
    """Starts a lesson's server on port 0 and returns (process, port)."""
    command = [os.path.join(BIN, args[0])] + args[1:] + ["--port", "0"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=tempfile.mkdtemp(prefix="capture-server-"))
    try:
        line = read_line_within(process.stdout, STARTUP_LIMIT, " ".join(command))
    except CaptureError:
        stop(process)
        raise
    match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not match:
        stop(process)
        raise CaptureError(f"{' '.join(command)}: expected `listening on 127.0.0.1:PORT`, got {line!r}")
    # Keep reading its output, so a full pipe can never stop it.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    threading.Thread(target=process.stderr.read, daemon=True).start()
    return process, int(match.group(1))


def start_tcpdump(port, pcap):
    interface = os.environ.get("CAPTURE_INTERFACE", "lo0" if sys.platform == "darwin" else "lo")
    command = ["tcpdump", "-i", interface, "-n", "-s", "0", "-U", "--immediate-mode",
               "-w", pcap]
    if os.geteuid() == 0:
        command += ["-Z", "root"]  # or it drops to a user who may not write `pcap`
    command += ["tcp", "port", str(port)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # tcpdump says "listening on lo, ..." once it captures; not before.
    try:
        line = read_line_within(process.stderr, STARTUP_LIMIT, "tcpdump")
    except CaptureError:
        stop(process)
        raise
    if "listening on" not in line:
        stop(process)
        raise CaptureError(f"tcpdump did not start: {line}\n"
                           "hint: capturing needs root or CAP_NET_RAW; run it with sudo")
    threading.Thread(target=process.stderr.read, daemon=True).start()
    return process


def stop(process, sig=signal.SIGTERM):
    """Stops a child (if it still runs) and reaps it."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_exit(process, what):
    try:
        process.wait(timeout=EXCHANGE_LIMIT)
    except subprocess.TimeoutExpired:
        raise CaptureError(f"{what} did not exit within {EXCHANGE_LIMIT:.0f} s")


def wait_until_quiet(pcap):
    """Waits until the capture file has not grown for QUIET_TIME seconds."""
    deadline = time.monotonic() + EXCHANGE_LIMIT
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = os.path.getsize(pcap) if os.path.exists(pcap) else 0
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= QUIET_TIME:
            return
        time.sleep(0.05)


def wait_for_segment(pcap, wanted, what):
    """Waits until the capture holds a segment for which `wanted` is true."""
    deadline = time.monotonic() + EXCHANGE_LIMIT
    while time.monotonic() < deadline:
        for segment in read_pcap(pcap):
            if wanted(segment):
                return segment
        time.sleep(0.02)
    raise CaptureError(f"waited {EXCHANGE_LIMIT:.0f} s for {what}")


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=EXCHANGE_LIMIT)


def read_to_end(conn):
    received = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return received
        received += chunk


# ---------------------------------------------------------------------------
# Reading a pcap file
# ---------------------------------------------------------------------------


def read_pcap(path):
    """Yields (src_port, dst_port, flags, seq, ack, window, payload) for every
    IPv4 TCP segment in a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise CaptureError(f"{path} is not a pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    offset = 24
    while offset + 16 <= len(data):
        _sec, _frac, caplen, _length = struct.unpack(endian + "IIII", data[offset:offset + 16])
        if offset + 16 + caplen > len(data):
            break  # tcpdump is still writing this one
        frame = data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen
        if linktype == 1:  # Ethernet (Linux lo)
            ethertype, ip = struct.unpack("!H", frame[12:14])[0], frame[14:]
        elif linktype in (0, 108):  # BSD loopback (macOS lo0): a 4-byte family
            ethertype, ip = 0x0800, frame[4:]
        elif linktype == 113:  # Linux "cooked" capture (-i any)
            ethertype, ip = struct.unpack("!H", frame[14:16])[0], frame[16:]
        elif linktype == 276:  # Linux cooked v2
            ethertype, ip = struct.unpack("!H", frame[0:2])[0], frame[20:]
        elif linktype in (12, 101):  # raw IP
            ethertype, ip = 0x0800, frame
        else:
            raise CaptureError(f"{path}: link type {linktype} is not supported")
        if ethertype != 0x0800 or len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ip_header = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ip_header:total]
        src, dst, seq, ack, offset_flags, window = struct.unpack("!HHIIHH", tcp[:16])
        tcp_header = (offset_flags >> 12) * 4
        yield src, dst, offset_flags & 0x3F, seq, ack, window, tcp[tcp_header:]


# ---------------------------------------------------------------------------
# One readable line per segment
# ---------------------------------------------------------------------------


def flag_names(flags):
    names = [name for bit, name in ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"),
                                    (PSH, "PSH"), (ACK, "ACK")) if flags & bit]
    return " ".join(names) if names else "(none)"


def shown(payload, width=36):
    """A payload as an escaped string, shortened to about `width` characters."""
    text = payload.decode("utf-8", "backslashreplace")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
                  .replace("\r", "\\r").replace("\t", "\\t")
    if len(escaped) > width:
        return '"' + escaped[:width - 3] + '"...'
    return '"' + escaped + '"'


def normalise(segments, server_port):
    """Segments as dicts, ports replaced by roles and sequence numbers made
    relative to each side's SYN."""
    isn = {}
    rows = []
    for src, dst, flags, seq, ack, _window, payload in segments:
        side = "server" if src == server_port else "client"
        other = "client" if side == "server" else "server"
        if flags & SYN:
            isn[side] = seq
        if side not in isn:
            raise CaptureError("the capture starts in the middle of a connection")
        rows.append({
            "from": side,
            "to": other,
            "flags": flags,
            "seq": (seq - isn[side]) % 2**32,
            "ack": (ack - isn[other]) % 2**32 if flags & ACK and other in isn else None,
            "len": len(payload),
            "data": payload,
        })
    return rows


def render(title, rows):
    lines = [f"# {title}",
             " #  from    to      flags         seq    ack    len  data"]
    for n, row in enumerate(rows, start=1):
        ack = "" if row["ack"] is None else str(row["ack"])
        data = shown(row["data"]) if row["len"] else ""
        lines.append(f"{n:>2}  {row['from']:<6}  {row['to']:<6}  {flag_names(row['flags']):<12}"
                     f"  {row['seq']:>5}  {ack:>5}  {row['len']:>5}  {data}".rstrip())
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The scenarios
# ---------------------------------------------------------------------------


def lesson_01_greeting(port, _pcap):
    """A client that only reads, as `nc -d` does: connect, read to the end,
    close."""
    with connect(port) as conn:
        got = read_to_end(conn)
    if not got.endswith(b"\n"):
        raise CaptureError(f"lesson 01 sent {got!r}, not a line")


def lesson_03_client(message):
    """Lesson 03's own client, sending `message` as one line, while a first
    client keeps the one-at-a-time server busy.

    Lesson 03's client sends its line and shuts down its write half at once;
    how that FIN and the server's echo cross on the wire would depend on
    which program the scheduler runs first. So the script makes the order
    certain: the client's line and FIN are sent (and acknowledged by the
    server's kernel) while the server is still serving another client, and
    only then is the server freed to accept it. Only this client's segments
    are shown."""
    def run(port, pcap):
        with connect(port) as first:
            client = subprocess.Popen(
                [os.path.join(BIN, "lesson-03-echo-loop"), "client", "--port", str(port),
                 "--message", message],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                first_port = first.getsockname()[1]
                fin = wait_for_segment(
                    pcap, lambda s: s[0] not in (port, first_port) and s[2] & FIN,
                    "lesson 03's client to shut down its write half")
                # The server's kernel acknowledges that FIN on its own (after
                # its delayed-ACK time), long before the server program reads it.
                wait_for_segment(
                    pcap, lambda s: s[0] == port and s[1] == fin[0] and s[4] == (fin[3] + 1) % 2**32,
                    "the server's kernel to acknowledge the client's FIN")
                first.shutdown(socket.SHUT_WR)  # the first client is done: the server moves on
                read_to_end(first)
                _out, err = client.communicate(timeout=EXCHANGE_LIMIT)
            finally:
                stop(client)
            if client.returncode != 0:
                raise CaptureError(f"lesson 03's client failed: {err.decode()}")
            return lambda src, dst: first_port not in (src, dst)
    return run


def lesson_04_client(content, name):
    """Lesson 04's own client, uploading `content` as `name`."""
    def run(port, _pcap):
        folder = tempfile.mkdtemp(prefix="capture-upload-")
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(content)
        result = subprocess.run(
            [os.path.join(BIN, "lesson-04-file-transfer"), "client", path, "--port", str(port)],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=EXCHANGE_LIMIT)
        shutil.rmtree(folder, ignore_errors=True)
        if result.returncode != 0:
            raise CaptureError(f"lesson 04's client failed: {result.stderr.decode()}")
    return run


# A client in a hurry: it sends the header and the whole body at once,
# without waiting for READY. 8000 bytes of body: more than the server's first
# read takes (its line reader holds 4096 bytes), so some of it is still unread
# in the server's socket when the server refuses.
HURRIED_BODY = 8000


def hurried_upload(port, _pcap):
    with connect(port) as conn:
        conn.sendall(b"SEND %d big.bin\n" % HURRIED_BODY + b"x" * HURRIED_BODY)
        try:
            read_to_end(conn)
        except ConnectionResetError:
            pass  # the server that does not drain: the reset is the point


def server_that_does_not_drain():
    """A server that refuses every upload as lesson 04 does, but closes right
    after its ERR line: it does not read what the client still sends. Returns
    (thread, port)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(EXCHANGE_LIMIT)
                conn.recv(4096)  # the header (and the start of the body)
                conn.sendall(b"ERR too-large 8000 bytes is more than the limit of 10 bytes\n")
            # Closed with bytes unread: the kernel sends RST, not FIN.
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread, port


class Scenario:
    def __init__(self, file, title, server, client, expect, forbid=()):
        self.file = file
        self.title = title
        self.server = server  # a lesson's command line, or a function
        self.client = client
        self.expect = expect  # events that must appear, in this order
        self.forbid = forbid  # events that must not appear at all


# An event is (from, flags that must all be set, text the data must contain),
# and, where the book names a segment's size, that size as a fourth item.
SCENARIOS = [
    Scenario(
        "lesson-01-greeting.txt",
        "lesson 01: a client connects, the server greets it and closes",
        ["lesson-01-hello-server"],
        lesson_01_greeting,
        expect=[("client", "SYN", None), ("server", "SYN ACK", None), ("client", "ACK", None),
                ("server", "PSH", "Hello, client!"), ("server", "FIN", None),
                ("client", "FIN", None), ("server", "ACK", None)],
        forbid=[("client", "RST", None), ("server", "RST", None)],
    ),
    Scenario(
        "lesson-03-half-close.txt",
        "lesson 03: the client sends a line and shuts down its write half; the echo follows",
        ["lesson-03-echo-loop", "server", "--max-clients", "2"],
        lesson_03_client("hello"),
        expect=[("client", "PSH", "hello\n"), ("client", "FIN", None),
                ("server", "PSH", "hello\n"), ("server", "FIN", None)],
        forbid=[("client", "RST", None), ("server", "RST", None)],
    ),
    Scenario(
        "lesson-03-one-segment-two-reads.txt",
        "lesson 03: a 20001-byte line leaves in one segment; the server reads it in two",
        ["lesson-03-echo-loop", "server", "--max-clients", "2"],
        lesson_03_client("x" * 20000),
        # The chapter names each size: one segment in, one per server read out.
        expect=[("client", "PSH", "xxxx", 20001), ("server", "ACK", None), ("client", "FIN", None),
                ("server", "PSH", "xxxx", 16384), ("server", "PSH", "xxxx", 3617),
                ("server", "FIN", None)],
        forbid=[("client", "RST", None), ("server", "RST", None)],
    ),
    Scenario(
        "lesson-04-upload.txt",
        "lesson 04: the client uploads a 22-byte file",
        ["lesson-04-file-transfer", "server", "--max-clients", "1"],
        lesson_04_client(b"hello from the client\n", "hello.txt"),
        expect=[("client", "PSH", "SEND 22 hello.txt\n"), ("server", "PSH", "READY\n"),
                ("client", "PSH", "hello from the client\n"), ("client", "FIN", None),
                ("server", "PSH", "OK 22\n"), ("server", "FIN", None)],
        forbid=[("client", "RST", None), ("server", "RST", None)],
    ),
    Scenario(
        "lesson-04-refusal-drained.txt",
        "lesson 04: a client sends header and body at once; the server refuses, then drains",
        ["lesson-04-file-transfer", "server", "--max-clients", "1", "--max-size", "10"],
        hurried_upload,
        expect=[("client", "PSH", "SEND 8000 big.bin\n"), ("server", "PSH", "ERR too-large"),
                ("server", "FIN", None), ("client", "FIN", None)],
        forbid=[("client", "RST", None), ("server", "RST", None)],
    ),
    Scenario(
        "lesson-04-refusal-not-drained.txt",
        "the same client against a server that refuses and closes without draining",
        server_that_does_not_drain,
        hurried_upload,
        expect=[("client", "PSH", "SEND 8000 big.bin\n"), ("server", "PSH", "ERR too-large"),
                ("server", "RST", None)],
        forbid=[("server", "FIN", None)],
    ),
]


def run_scenario(scenario, scratch):
    if callable(scenario.server):
        server, port = scenario.server()
        process = None
    else:
        process, port = start_server(scenario.server)
        server = None
    pcap = os.path.join(scratch, scenario.file + ".pcap")
    tcpdump = None
    shown_only = None
    try:
        tcpdump = start_tcpdump(port, pcap)
        shown_only = scenario.client(port, pcap)
        if process is not None:
            wait_for_exit(process, scenario.server[0])
        else:
            server.join(EXCHANGE_LIMIT)
        wait_until_quiet(pcap)
    finally:
        if tcpdump is not None:
            stop(tcpdump, signal.SIGINT)
        if process is not None:
            stop(process)
    segments = read_pcap(pcap)
    if shown_only is not None:
        segments = [s for s in segments if shown_only(s[0], s[1])]
    return normalise(segments, port)


def matches(row, event):
    side, flags, text = event[:3]
    if len(event) > 3 and row["len"] != event[3]:
        return False
    wanted = 0
    for name in flags.split():
        wanted |= {"SYN": SYN, "FIN": FIN, "RST": RST, "PSH": PSH, "ACK": ACK}[name]
    if row["from"] != side or row["flags"] & wanted != wanted:
        return False
    return text is None or text.encode() in row["data"]


def describe(event):
    side, flags, text = event[:3]
    size = f" of {event[3]} bytes" if len(event) > 3 else ""
    return f"{flags}{size} from the {side}" + (f" carrying {text!r}" if text else "")


def check(scenario, rows):
    """The events the book names, in order; a list of problems."""
    problems = []
    position = 0
    for event in scenario.expect:
        while position < len(rows) and not matches(rows[position], event):
            position += 1
        if position == len(rows):
            problems.append(f"{scenario.file}: no {describe(event)} (in this order)")
            break
        position += 1
    for event in scenario.forbid:
        if any(matches(row, event) for row in rows):
            problems.append(f"{scenario.file}: a {describe(event)}, which the book says never comes")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="capture into a scratch folder and check the events the book names")
    parser.add_argument("--out", default=HERE, help="where to write the captures")
    parser.add_argument("only", nargs="*", help="file names of the scenarios to run (default: all)")
    args = parser.parse_args()

    if shutil.which("tcpdump") is None:
        sys.exit("error: tcpdump not found\nhint: install it (Debian, Ubuntu: sudo apt-get install tcpdump)")
    scratch = tempfile.mkdtemp(prefix="capture-")
    os.chmod(scratch, 0o755)
    out = scratch if args.check else args.out
    problems = []
    try:
        for scenario in SCENARIOS:
            if args.only and scenario.file not in args.only:
                continue
            committed = os.path.join(HERE, scenario.file)
            before = None
            if os.path.exists(committed):
                with open(committed, encoding="utf-8") as f:
                    before = f.read()
            for tries in range(1, TRIES + 1):
                rows = run_scenario(scenario, scratch)
                if before is None or render(scenario.title, rows) == before:
                    break
            with open(os.path.join(out, scenario.file), "w", encoding="utf-8") as f:
                f.write(render(scenario.title, rows))
            found = check(scenario, rows)
            problems += found
            note = f" (the same as the committed file on run {tries} of {TRIES})" if tries > 1 else ""
            if before is not None and render(scenario.title, rows) != before:
                note = f" (differs from the committed file in all {TRIES} runs"
                note += ": rerun capture.sh to update it)" if args.check else "; rewritten)"
            print(f"{'FAIL' if found else 'ok  '}  {scenario.file}: {len(rows)} segments{note}")
    except CaptureError as err:
        problems.append(str(err))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
