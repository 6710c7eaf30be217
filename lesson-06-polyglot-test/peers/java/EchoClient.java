import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Echo client for lesson 06, JDK only.
 *
 * <p>Usage: {@code java EchoClient PORT < lines.txt}
 *
 * <p>For each line of standard input it sends the line (ending in "\n") to the
 * echo server on 127.0.0.1:PORT, reads until it has the whole echo of that
 * line, checks it is byte for byte what was sent, and prints it as
 * {@code echo: LINE}, as lesson 03's client does. It exits 1 on the first
 * mismatch or if the server closes early, saying what was sent and what came
 * back.
 */
public final class EchoClient {
    private static final int TIMEOUT_MILLIS = 10_000;
    private static final byte[] ECHO_PREFIX = "echo: ".getBytes(StandardCharsets.UTF_8);

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: java EchoClient PORT < lines");
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
        try {
            run(port);
        } catch (IOException e) { // refused, time-out or reset
            fail(e.toString());
        }
    }

    private static void run(int port) throws IOException {
        // ANCHOR: connect
        try (Socket socket = new Socket()) {
            try {
                socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), TIMEOUT_MILLIS);
            } catch (IOException e) { // refused, or no answer within the time-out
                fail("cannot connect to 127.0.0.1:" + port + ": " + e.getMessage());
            }
            socket.setSoTimeout(TIMEOUT_MILLIS); // bounds every read
            OutputStream toServer = socket.getOutputStream();
            // Buffered, because readLine below asks for one byte at a time.
            InputStream fromServer = new BufferedInputStream(socket.getInputStream());
            InputStream stdin = new BufferedInputStream(System.in);
            // ANCHOR_END: connect

            // ANCHOR: exchange
            byte[] line;
            while ((line = readLine(stdin)) != null) {
                if (line[line.length - 1] != '\n') { // the last line of a file may lack its newline
                    line = Arrays.copyOf(line, line.length + 1);
                    line[line.length - 1] = '\n';
                }
                toServer.write(line);
                toServer.flush();
                byte[] echo = readLine(fromServer); // TCP has no message boundaries: read up to '\n'
                if (echo == null || !Arrays.equals(echo, line)) {
                    String got = echo == null ? "the server closed the connection" : "got " + show(echo);
                    fail("sent " + show(line) + " (" + line.length + " bytes), " + got
                            + " (" + (echo == null ? 0 : echo.length) + " bytes)");
                }
                // Printed like lesson 03's client does: "echo: " and the line.
                System.out.write(ECHO_PREFIX);
                System.out.write(echo);
                System.out.flush();
            }
            // Nothing more to send: shut down our write half, so the server's
            // read returns -1 and it closes. Then expect end of stream, not data.
            socket.shutdownOutput();
            byte[] extra = fromServer.readAllBytes();
            if (extra.length > 0) {
                fail("after the last line the server sent " + extra.length + " more bytes: " + show(extra));
            }
            // ANCHOR_END: exchange
        }
    }

    // ANCHOR: read_line
    /**
     * Reads bytes up to and including the next '\n'. Returns what it has if the
     * stream ends first, or null if it ends before any byte.
     */
    private static byte[] readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) != -1) {
            line.write(b);
            if (b == '\n') {
                break;
            }
        }
        return line.size() == 0 ? null : line.toByteArray();
    }
    // ANCHOR_END: read_line

    /** The first 200 bytes, as text with the newline made visible. */
    private static String show(byte[] bytes) {
        int n = Math.min(bytes.length, 200);
        String text = new String(bytes, 0, n, StandardCharsets.UTF_8).replace("\n", "\\n");
        return "\"" + text + "\"" + (bytes.length > n ? "..." : "");
    }

    private static void fail(String message) {
        System.out.flush();
        System.err.println("error: " + message);
        System.exit(1);
    }
}
