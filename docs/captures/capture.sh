#!/usr/bin/env bash
# Watch lessons 01, 03 and 04 on the wire, and write what tcpdump saw into
# the files the book includes (docs/captures/*.txt).
#
#   sudo bash docs/captures/capture.sh           rewrite the captures
#   sudo bash docs/captures/capture.sh --check   capture into a scratch folder and
#                                                check the events the book names
#
# Capturing packets needs root or the CAP_NET_RAW capability, hence sudo;
# everything else (building the lessons) runs as you, before sudo is needed:
#   cargo build -p lesson-01-hello-server -p lesson-03-echo-loop -p lesson-04-file-transfer
#   sudo python3 docs/captures/capture.py
# is the same in two steps. It needs tcpdump (Debian, Ubuntu: apt-get install
# tcpdump) and python3. README.md beside this script walks through the files.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."

if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    # Under sudo, build as the user who ran it, so target/ stays theirs.
    sudo -u "$SUDO_USER" -H bash -lc \
        "cd '$PWD' && cargo build -q -p lesson-01-hello-server -p lesson-03-echo-loop -p lesson-04-file-transfer"
else
    cargo build -q -p lesson-01-hello-server -p lesson-03-echo-loop -p lesson-04-file-transfer
fi
exec python3 "$here/capture.py" "$@"
