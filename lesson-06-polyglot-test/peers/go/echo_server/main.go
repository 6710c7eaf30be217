// Command echo_server is lesson 06's echo server in Go: one goroutine per
// client, standard library only.
//
// Usage: echo_server PORT (PORT 0 lets the system choose one).
//
// It speaks lesson 03's protocol: whatever bytes a client sends come back
// unchanged, in order, until the client shuts down its write half; then the
// server closes that connection. The first line on stdout is
// "listening on HOST:PORT", so a test can read the real port.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// idleTimeout drops a client that says nothing for this long.
const idleTimeout = 30 * time.Second

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: echo_server PORT")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: port must be a number, got %q\n", os.Args[1])
		os.Exit(2)
	}

	// ANCHOR: listen
	// net.Listen is socket + bind + listen in one call.
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
	defer listener.Close()
	// os.Stdout is not buffered in Go: the line is in the pipe when Println returns.
	fmt.Println("listening on", listener.Addr())
	// ANCHOR_END: listen

	// ANCHOR: accept
	for {
		conn, err := listener.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: accept: %v\n", err)
			continue
		}
		fmt.Printf("client %v connected\n", conn.RemoteAddr())
		go serveClient(conn)
	}
	// ANCHOR_END: accept
}

// ANCHOR: serve_client
// serveClient echoes everything one client sends, until it shuts down its
// write half.
func serveClient(conn net.Conn) {
	defer conn.Close() // runs however this function returns
	name := conn.RemoteAddr().String()
	buffer := make([]byte, 64*1024)
	for {
		conn.SetReadDeadline(time.Now().Add(idleTimeout))
		n, err := conn.Read(buffer) // any amount up to the buffer
		if n > 0 {
			// Write returns an error if it could not write all n bytes.
			if _, werr := conn.Write(buffer[:n]); werr != nil {
				fmt.Fprintf(os.Stderr, "error: client %s: %v\n", name, werr)
				break
			}
		}
		if err == io.EOF { // the client shut down its write half
			break
		}
		if err != nil { // a reset, or the idle time-out
			fmt.Fprintf(os.Stderr, "error: client %s: %v\n", name, err)
			break
		}
	}
	fmt.Printf("client %s disconnected\n", name)
}

// ANCHOR_END: serve_client
