import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * Echo server for lesson 06: one thread per client, JDK only.
 *
 * <p>Usage: {@code java EchoServer PORT} (PORT 0 lets the system choose one).
 *
 * <p>It speaks lesson 03's protocol: whatever bytes a client sends come back
 * unchanged, in order, until the client shuts down its write half; then the
 * server closes that connection. The first line on stdout is
 * {@code listening on HOST:PORT}, flushed, so a test can read the real port.
 */
public final class EchoServer {
    /** A client that says nothing for this long is dropped. */
    private static final int IDLE_TIMEOUT_MILLIS = 30_000;

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: java EchoServer PORT");
            System.exit(2);
        }
        int port;
        try {
            port = Integer.parseInt(args[0]);
        } catch (NumberFormatException e) {
            System.err.println("error: port must be a number, got " + args[0]);
            System.exit(2);
            return;
        }

        // ANCHOR: listen
        // new ServerSocket(...) is socket + bind + listen in one call.
        InetAddress loopback = InetAddress.getLoopbackAddress();
        try (ServerSocket server = new ServerSocket(port, 50, loopback)) {
            InetSocketAddress bound = (InetSocketAddress) server.getLocalSocketAddress();
            // System.out is a PrintStream; flush so the reader of the pipe sees the line now.
            System.out.println("listening on " + bound.getAddress().getHostAddress() + ":" + bound.getPort());
            System.out.flush();
            // ANCHOR_END: listen

            // ANCHOR: accept
            while (true) {
                Socket client = server.accept();
                String name = client.getInetAddress().getHostAddress() + ":" + client.getPort();
                System.out.println("client " + name + " connected");
                Thread thread = new Thread(() -> serveClient(client, name));
                thread.setDaemon(true); // the JVM can exit without waiting for client threads
                thread.start();
            }
            // ANCHOR_END: accept
        } catch (IOException e) {
            System.err.println("error: cannot listen on 127.0.0.1:" + port + ": " + e.getMessage());
            System.exit(1);
        }
    }

    // ANCHOR: serve_client
    /** Echoes everything one client sends, until it shuts down its write half. */
    private static void serveClient(Socket client, String name) {
        // try-with-resources closes the socket however this method ends.
        try (client) {
            client.setSoTimeout(IDLE_TIMEOUT_MILLIS);
            InputStream in = client.getInputStream();
            OutputStream out = client.getOutputStream();
            byte[] buffer = new byte[65536];
            while (true) {
                int n = in.read(buffer); // any amount up to the buffer; -1 means end of stream
                if (n == -1) {
                    break;
                }
                out.write(buffer, 0, n); // writes all n bytes (blocks until they are sent)
            }
        } catch (IOException e) { // a reset, or the idle time-out
            System.err.println("error: client " + name + ": " + e.getMessage());
        }
        System.out.println("client " + name + " disconnected");
    }
    // ANCHOR_END: serve_client
}
