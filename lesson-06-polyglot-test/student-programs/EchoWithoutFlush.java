// An echo server in Java that writes through a PrintWriter and never
// flushes it.
//
// check 03-server: fails stage 2, "echoes one line".
// Usage: java EchoWithoutFlush.java PORT
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

public class EchoWithoutFlush {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        try (ServerSocket server = new ServerSocket(port, 50, InetAddress.getLoopbackAddress())) {
            while (true) {
                try (Socket client = server.accept()) {
                    BufferedReader in = new BufferedReader(
                        new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8));
                    // MISTAKE: a PrintWriter without autoflush keeps what it
                    // is given in a buffer until it is full (8 KiB) or
                    // flushed; nothing here calls out.flush().
                    PrintWriter out = new PrintWriter(client.getOutputStream());
                    String line;
                    while ((line = in.readLine()) != null) {
                        out.print(line + "\n");
                    }
                }
            }
        }
    }
}
