#!/usr/bin/env bash
# Lesson 05's benchmark, in one command, from the top of the repository:
#
#     bash lesson-05-threaded/bench.sh
#
# Release builds on loopback. Every measurement runs RUNS times (default 3)
# and every run is printed, with the machine's load average before each.
# PIN=0 turns off pinning (by default, with taskset and at least 2 CPUs,
# servers run on CPU 0 and the load tool on CPU 1). `load` drives its
# connections with one thread per CPU it may run on (so 1 when pinned, 2 on
# a 2-CPU machine unpinned); THREADS=T passes --threads T instead. After
# each run, server_cpu_s and load_cpu_s are the CPU seconds (user + system)
# the server and the load tool used during it.
#
#   1. lesson 05 against a Python thread-per-client echo server:
#      100 clients x 1000 rounds x 64 B and 1000 clients x 50 rounds x 64 B,
#      the CPU time each server used, and each server's peak RSS (VmHWM)
#      after the 1000-client runs;
#   2. lesson 03 (one client at a time) against lesson 05, with and without
#      a silent client holding a connection open;
#   3. the listen backlog: a burst of 1000 connects against --backlog 128
#      and --backlog 1024, with the kernel's listen-queue counters (nstat);
#   4. TCP_NODELAY: requests written in two pieces, server with and without
#      Nagle's algorithm.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
PIN=${PIN:-1}
THREADS=${THREADS:-}
LOAD_THREADS=()
if [ -n "$THREADS" ]; then LOAD_THREADS=(--threads "$THREADS"); fi
TARGET_DIR=${CARGO_TARGET_DIR:-target}
L05="$TARGET_DIR/release/lesson-05-threaded"
L03="$TARGET_DIR/release/lesson-03-echo-loop"
# Lesson 06's Python peer: `python3 echo_server.py PORT`, one thread per
# client, first line `listening on ADDR`.
PYTHON_SERVER=lesson-06-polyglot-test/peers/python/echo_server.py
if [ ! -f "$PYTHON_SERVER" ]; then
    echo "error: $PYTHON_SERVER not found (lesson 06 ships it)" >&2
    exit 1
fi

# 1000 clients need 1000 sockets in the load tool and 1000 in the server,
# plus a few: raise the soft limit on open files if it is lower.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    ulimit -n 4096 || ulimit -n "$(ulimit -Hn)"
fi

SERVER_CPU=()
LOAD_CPU=()
if [ "$PIN" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=(taskset -c 0)
    LOAD_CPU=(taskset -c 1)
fi

cargo build --release --quiet -p lesson-05-threaded -p lesson-03-echo-loop

WORK=$(mktemp -d)
SERVER_PID=""
SERVER_PORT=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    exec 3>&- 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# start_server NAME COMMAND...: starts a server whose first stdout line is
# `listening on ADDR`; waits (at most 10 s) for that line, sets SERVER_PID
# and SERVER_PORT. Its output goes to a file of its own (never reused, so an
# old server's line cannot be mistaken for the new one's), so it never
# blocks on a pipe.
STARTS=0
start_server() {
    local name=$1
    shift
    STARTS=$((STARTS + 1))
    local out="$WORK/$STARTS-$name.out"
    "${SERVER_CPU[@]}" "$@" >"$out" 2>"$WORK/$STARTS-$name.err" &
    SERVER_PID=$!
    local tries=0 first=""
    while true; do
        first=$(head -n 1 "$out" 2>/dev/null || true)
        case "$first" in
            "listening on "*:[0-9]*) break ;;
        esac
        tries=$((tries + 1))
        if [ "$tries" -gt 200 ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "error: $name did not print 'listening on ADDR' within 10 s" >&2
            cat "$WORK/$STARTS-$name.err" >&2
            exit 1
        fi
        sleep 0.05
    done
    SERVER_PORT=${first##*:}
}

# stop_server: SIGINT, then at most 10 s for it to exit, then SIGKILL.
stop_server() {
    kill -INT "$SERVER_PID" 2>/dev/null || true
    local tries=0
    while kill -0 "$SERVER_PID" 2>/dev/null && [ "$tries" -lt 100 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# CPU time (user + system) the server has used so far, in seconds.
server_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$SERVER_PID/stat"
}

# load LABEL ARGS...: runs `load` RUNS times against the current server.
load() {
    local label=$1
    shift
    local run before after line load_cpu TIMEFORMAT='%U %S'
    for run in $(seq "$RUNS"); do
        before=$(server_cpu)
        # bash's `time` reports the load tool's user and system CPU seconds.
        { time "${LOAD_CPU[@]}" "$L05" load --port "$SERVER_PORT" "${LOAD_THREADS[@]}" "$@" \
            >"$WORK/load.out" 2>"$WORK/load.err"; } 2>"$WORK/load.time" || true
        after=$(server_cpu)
        line=$(cat "$WORK/load.out")
        load_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/load.time")
        printf '%-28s run %s  load avg %s\n    %s server_cpu_s=%s load_cpu_s=%s\n' \
            "$label" "$run" "$(cut -d' ' -f1 /proc/loadavg)" "$line" \
            "$(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.2f", b - a }')" "$load_cpu"
        if [ -s "$WORK/load.err" ]; then sed 's/^/    /' "$WORK/load.err" | head -n 2; fi
    done
}

peak_rss() {
    grep VmHWM "/proc/$SERVER_PID/status" | awk '{ printf "%.1f MiB", $2 / 1024 }'
}

echo "== machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); kernel $(uname -r); $(nproc) CPUs; uptime:$(uptime)"
echo "pinning: server ${SERVER_CPU[*]:-none}, load ${LOAD_CPU[*]:-none}; load threads: ${THREADS:-default}; open files: $(ulimit -n); runs: $RUNS"
echo "python server: $PYTHON_SERVER ($(python3 --version 2>&1))"

echo
echo "== 1. lesson 05 vs a Python thread-per-client server"
for server in lesson-05 python; do
    for shape in "100 1000" "1000 50"; do
        set -- $shape
        if [ "$server" = lesson-05 ]; then
            start_server "$server" "$L05" server --port 0
        else
            start_server "$server" python3 "$PYTHON_SERVER" 0
        fi
        load "$server $1x$2x64B" --clients "$1" --rounds "$2" --size 64
        if [ "$1" = 1000 ]; then echo "    $server peak RSS (VmHWM) after 1000 clients: $(peak_rss)"; fi
        stop_server
    done
done

echo
echo "== 2. lesson 03 (one client at a time) vs lesson 05 (a thread per client)"
for server in lesson-03 lesson-05; do
    if [ "$server" = lesson-03 ]; then
        start_server "$server" "$L03" server --port 0
    else
        start_server "$server" "$L05" server --port 0
    fi
    load "$server 10x200x64B" --clients 10 --rounds 200 --size 64
    load "$server 100x100x64B" --clients 100 --rounds 100 --size 64
    # One client connects and says nothing (like `nc` left open), then the
    # same load runs with a 3 s time-out.
    exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    RUNS=1 load "$server +silent 10x20x64B" --clients 10 --rounds 20 --size 64 --timeout 3
    exec 3>&-
    stop_server
done

echo
echo "== 3. the listen backlog: a burst of 1000 connects"
for backlog in 128 1024; do
    start_server "backlog-$backlog" "$L05" server --port 0 --backlog "$backlog"
    for run in $(seq "$RUNS"); do
        if command -v nstat >/dev/null; then nstat -n; fi
        line=$("${LOAD_CPU[@]}" "$L05" load --port "$SERVER_PORT" "${LOAD_THREADS[@]}" --clients 1000 --rounds 1 --size 64 2>&1) || true
        echo "backlog $backlog run $run: $line"
        if command -v nstat >/dev/null; then
            echo "    $(nstat -z TcpExtListenOverflows TcpExtListenDrops TcpExtTCPReqQFullDoCookies TcpExtSyncookiesSent TcpExtTCPSynRetrans \
                | awk 'NR > 1 { printf "%s=%s ", $1, $2 }')"
        fi
    done
    stop_server
done

echo
echo "== 4. TCP_NODELAY: each 4000-byte request written in two pieces"
for flag in "" --nagle; do
    start_server "nodelay$flag" "$L05" server --port 0 $flag
    load "server ${flag:---nodelay (default)}" --clients 1 --rounds 500 --size 4000 --split
    stop_server
done
