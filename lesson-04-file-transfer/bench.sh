#!/usr/bin/env bash
# Lesson 04's speed and memory benchmark: one command, from anywhere.
#
#     bash lesson-04-file-transfer/bench.sh            # 3 runs of 1 GiB
#     RUNS=9 SIZE_MIB=1024 bash lesson-04-file-transfer/bench.sh
#     bash lesson-04-file-transfer/bench.sh --tutorial # also a 1024-byte-write client
#
# Each run, on a tmpfs (/dev/shm where it exists, so no disk is measured):
#   0. before each timed step, writes and deletes a scratch file
#      as large as the test file (see settle_memory below);
#   1. times `cp` of the file: the ceiling, one kernel copy and no network;
#   2. sends the same file with this lesson's client to its server on
#      127.0.0.1, into a --dir on the same tmpfs, once with `--copy zero-copy`
#      on both sides (sendfile and splice) and once with `--copy loop` on
#      both sides (1 MiB read/write loops), and times the client;
#   3. checks each received file with `cmp`;
#   4. prints MB/s of each, its ratio to this run's cp, and the peak RSS and
#      CPU seconds of the server and the client (and of cp), as
#      /usr/bin/time reports them; at the end, the median ratio of each path.
# The files are removed after every run, and on any failure or Ctrl-C.
set -euo pipefail

runs=${RUNS:-3}
size_mib=${SIZE_MIB:-1024}
tutorial=0
for arg in "$@"; do
    case "$arg" in
        --tutorial) tutorial=1 ;;
        *) echo "usage: bash bench.sh [--tutorial]   (env: RUNS, SIZE_MIB)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
echo "== building release binaries"
cargo build --release -p lesson-04-file-transfer
target_dir=${CARGO_TARGET_DIR:-target}
bin="$target_dir/release/lesson-04-file-transfer"

base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/lesson-04-bench.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Peak RSS in KiB of a command, as /usr/bin/time -f %M reports it (the
# kernel's VmHWM at exit). Bash's `time` builtin cannot measure memory.
if [ ! -x /usr/bin/time ]; then
    echo "error: /usr/bin/time is missing; install it (Debian, Ubuntu: apt-get install time)" >&2
    exit 1
fi
timed() { # timed OUT_FILE COMMAND...: writes "peak-RSS-KiB user-s sys-s"
    local out=$1; shift
    /usr/bin/time -f "%M %U %S" -o "$out" "$@"
}
rss() { tail -n1 "$1" | cut -d' ' -f1; }
cpu() { tail -n1 "$1" | awk '{ printf "%.2f", $2 + $3 }'; }
now_ns() { date +%s%N; }
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.0f", b / 1e6 / (ns / 1e9) }'; }

# settle_memory: write and delete a scratch file as large as the test file,
# so that the timed step after it gets memory that was freed a moment ago.
# Without it, the timed steps start from different states on a virtual
# machine that hands freed memory back to its host (Linux's free page
# reporting, with virtio-balloon): memory freed more than about 2 s earlier
# has gone back to the host, and the first write to each of its pages is
# slow. Whichever step came first after a pause paid for that, so one of
# them was measured on slow memory and another on fast memory. On a
# machine without that feature this step only costs time.
settle_memory() {
    head -c "$((size_mib * 1024 * 1024))" /dev/zero >"$work/scratch.bin"
    rm -f "$work/scratch.bin"
}

echo "== making a ${size_mib} MiB file of random bytes in $work"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/source.bin"
bytes=$(stat -c %s "$work/source.bin")

# A client the way the tutorial writes it, but speaking this protocol:
# read 1024 bytes, send them, repeat.
tutorial_client() { # tutorial_client PORT FILE
    python3 - "$1" "$2" <<'PY'
import os, socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
s.sendall(f"SEND {os.path.getsize(path)} tutorial.bin\n".encode())
assert f.readline() == b"READY\n"
with open(path, "rb") as src:
    while chunk := src.read(1024):
        s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
print(f.readline().decode().strip())
PY
}

# Starts the server for one client (with the --copy given, if any); sets
# server_pid and port.
start_server() {
    mkfifo "$work/server.out"
    timed "$work/server.time" "$bin" server --port 0 --dir "$work/received" \
        --max-clients 1 "$@" >"$work/server.out" &
    server_pid=$!
    exec 3<"$work/server.out"
    local first
    read -r -t 10 -u 3 first
    port=${first##*:}
}
stop_server() { # prints the server's remaining lines
    cat <&3 | sed 's/^/    server: /'
    exec 3<&-
    wait "$server_pid"
    server_pid=""
    rm -f "$work/server.out"
}

median() { # median of the arguments
    printf '%s\n' "$@" | sort -n \
        | awk '{ r[NR] = $1 } END { printf "%.2f", NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
}

# One transfer of the test file with --copy $1 on both sides, after cp
# (cp_mbps must be set). Prints its lines and appends its ratio to the array
# named $2.
transfer() { # transfer COPY RATIOS_ARRAY
    local copy=$1
    local -n into=$2
    start_server --copy "$copy"
    settle_memory
    start=$(now_ns)
    timed "$work/client.time" "$bin" client "$work/source.bin" --name copy.bin --port "$port" \
        --copy "$copy" | sed 's/^/    client: /'
    send_ns=$(($(now_ns) - start))
    stop_server
    cmp "$work/source.bin" "$work/received/copy.bin"
    rm -f "$work/received/copy.bin"
    leftovers=$(ls -A "$work/received")
    [ -z "$leftovers" ] || { echo "left in --dir: $leftovers" >&2; exit 1; }
    send_mbps=$(mbps "$bytes" "$send_ns")
    ratio=$(awk -v a="$send_mbps" -v b="$cp_mbps" 'BEGIN { printf "%.2f", a / b }')
    into+=("$ratio")
    printf '    %-9s %6s MB/s = %s x cp, checked with cmp\n' "$copy:" "$send_mbps" "$ratio"
    printf '    peak RSS: server %s KiB, client %s KiB\n' \
        "$(rss "$work/server.time")" "$(rss "$work/client.time")"
    # CPU time (user + system) is far less disturbed by other programs than
    # wall time: it shows what each side costs, and on an idle machine with
    # two cores the transfer can at best take max(server, client).
    printf '    CPU s:    server %s, client %s\n' \
        "$(cpu "$work/server.time")" "$(cpu "$work/client.time")"
}

zero_copy_ratios=()
loop_ratios=()
echo "== $runs runs of $bytes bytes, on $(nproc) cores"
for run in $(seq 1 "$runs"); do
    echo "-- run $run; load: $(cut -d' ' -f1-3 /proc/loadavg)"

    settle_memory
    start=$(now_ns)
    timed "$work/cp.time" cp "$work/source.bin" "$work/cp.bin"
    cp_ns=$(($(now_ns) - start))
    rm -f "$work/cp.bin"
    cp_mbps=$(mbps "$bytes" "$cp_ns")
    printf '    cp:       %6s MB/s (%s CPU s, peak RSS %s KiB)\n' "$cp_mbps" \
        "$(cpu "$work/cp.time")" "$(rss "$work/cp.time")"

    transfer zero-copy zero_copy_ratios
    transfer loop loop_ratios

    if [ "$tutorial" = 1 ]; then
        start_server --copy zero-copy
        settle_memory
        start=$(now_ns)
        tutorial_client "$port" "$work/source.bin" | sed 's/^/    tutorial client: /'
        tut_ns=$(($(now_ns) - start))
        stop_server
        cmp "$work/source.bin" "$work/received/tutorial.bin"
        rm -f "$work/received/tutorial.bin"
        tut_mbps=$(mbps "$bytes" "$tut_ns")
        printf '    1024-byte writes (Python): %6s MB/s = %s x cp\n' "$tut_mbps" \
            "$(awk -v a="$tut_mbps" -v b="$cp_mbps" 'BEGIN { printf "%.2f", a / b }')"
    fi
done
echo "== zero-copy / cp, run by run: ${zero_copy_ratios[*]}; median $(median "${zero_copy_ratios[@]}")"
echo "== loop / cp, run by run:      ${loop_ratios[*]}; median $(median "${loop_ratios[@]}")"
echo "== done; load: $(cut -d' ' -f1-3 /proc/loadavg)"
