// An echo server in Go that stops for good when one client resets its
// connection.
//
// check 03-server: fails stage 7, "survives a client that resets
// mid-stream".
// Usage: go build -o echo_dies_on_reset echo_dies_on_reset.go
//        ./echo_dies_on_reset PORT
package main

import (
	"io"
	"log"
	"net"
	"os"
)

func main() {
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", os.Args[1]))
	if err != nil {
		log.Fatal(err)
	}
	for {
		conn, err := listener.Accept()
		if err != nil {
			log.Fatal(err)
		}
		buffer := make([]byte, 65536)
		for {
			n, err := conn.Read(buffer)
			if n > 0 {
				if _, err := conn.Write(buffer[:n]); err != nil {
					log.Fatal(err)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				// MISTAKE: one client's error ("connection reset by peer")
				// ends the whole server, and every other client with it.
				log.Fatal(err)
			}
		}
		conn.Close()
	}
}
