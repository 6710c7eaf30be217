// Command echo_client is lesson 06's echo client in Go, standard library only.
//
// Usage: echo_client PORT < lines.txt
//
// For each line of standard input it sends the line (ending in "\n") to the
// echo server on 127.0.0.1:PORT, reads until it has the whole echo of that
// line, checks it is byte for byte what was sent, and prints it as
// "echo: LINE", as lesson 03's client does. It exits 1 on the first mismatch
// or if the server closes early, saying what was sent and what came back.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

const timeout = 10 * time.Second

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}

// show returns the first 200 bytes of b, quoted.
func show(b []byte) string {
	if len(b) > 200 {
		return strconv.Quote(string(b[:200])) + "..."
	}
	return strconv.Quote(string(b))
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: echo_client PORT < lines")
		os.Exit(2)
	}
	address := net.JoinHostPort("127.0.0.1", os.Args[1])

	// ANCHOR: connect
	conn, err := net.DialTimeout("tcp", address, timeout)
	if err != nil {
		fail("%v", err)
	}
	defer conn.Close()
	// A bufio.Reader, because TCP has no message boundaries: one Read may
	// return half a line or two lines. ReadBytes('\n') loops until the newline.
	fromServer := bufio.NewReader(conn)
	// Not bufio.Scanner for stdin: its lines stop at 64 KiB by default.
	stdin := bufio.NewReader(os.Stdin)
	// ANCHOR_END: connect

	// ANCHOR: exchange
	for {
		line, err := stdin.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			fail("reading standard input: %v", err)
		}
		if line[len(line)-1] != '\n' { // the last line of a file may lack its newline
			line = append(line, '\n')
		}
		conn.SetDeadline(time.Now().Add(timeout))
		if _, err := conn.Write(line); err != nil {
			fail("sending %s: %v", show(line), err)
		}
		echo, err := fromServer.ReadBytes('\n')
		if !bytes.Equal(echo, line) {
			fail("sent %s (%d bytes), got %s (%d bytes): %v", show(line), len(line), show(echo), len(echo), err)
		}
		// Printed like lesson 03's client does: "echo: " and the line.
		os.Stdout.Write(append([]byte("echo: "), echo...))
	}
	// Nothing more to send: shut down our write half, so the server's Read
	// returns io.EOF and it closes. Then expect end of stream, not data.
	conn.(*net.TCPConn).CloseWrite()
	extra, err := io.ReadAll(fromServer)
	if err != nil {
		fail("waiting for the server to close: %v", err)
	}
	if len(extra) > 0 {
		fail("after the last line the server sent %d more bytes: %s", len(extra), show(extra))
	}
	// ANCHOR_END: exchange
}
